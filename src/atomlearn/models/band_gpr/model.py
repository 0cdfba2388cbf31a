"""Band energies of crystals at any k-point: an exact GP over (cell, k-point) pairs.

The direct route to band structures: a band energy is a function of the cell and of the
k-point, so the GP's inputs are both. The cell is described by invariants complete for
cells of one atom order (the Gram matrix of its vectors and every atom's fractional
position relative to the first); the k-point, in fractional coordinates of that cell's
reciprocal basis, by :math:`\\cos 2\\pi k_i` and :math:`\\cos 2\\pi(k_i \\pm k_j)`, which
are periodic in the reciprocal lattice and even under time reversal (E(k) = E(-k)).
One ARD squared-exponential kernel over both (a product of a cell kernel and a k kernel)
and a white noise; all bands share it. Training points are every labelled (cell, k):
``band_energies`` at the cell's ``kpoints`` (info), plus, where a cell has them, the
bands along a path (``path_band_energies`` at ``path_kpoints``), so paths of some cells
teach the k-dependence between mesh points to all.
"""

from __future__ import annotations

import logging
import warnings

import ase
import numpy as np

from ...errors import ConfigError, ConvergenceWarning, DataError
from ...gp.exact import GaussianProcessRegressor
from ...kernels import RBF, ConstantKernel, WhiteKernel
from ...structures.io import where
from ...targets import Dataset, band_energies
from .. import register
from ..base import StructureModel
from ..hypers import check_positive
from .hypers import LAYOUTS, BandGPRHypers

log = logging.getLogger(__name__)

#: Info keys of a cell's k-points (fractional, (n_k, 3)) and of an extra set of bands.
KPOINTS, PATH_KPOINTS, PATH_ENERGIES = "kpoints", "path_kpoints", "path_band_energies"


def cell_invariants(atoms: ase.Atoms) -> np.ndarray:
    """Gram matrix of the cell vectors (6 entries, Å^2) and the fractional positions of
    atoms 1.. relative to atom 0, wrapped to [-1/2, 1/2): unchanged by rotations and
    translations of the cell."""
    cell = atoms.cell.array
    gram = (cell @ cell.T)[np.triu_indices(3)]
    frac = atoms.get_scaled_positions(wrap=False)
    rel = frac[1:] - frac[0]
    return np.concatenate([gram, (rel - np.round(rel)).ravel()])


def kpoint_features(kpoints: np.ndarray) -> np.ndarray:
    """Periodic, time-reversal-even features of fractional k-points, (n_k, 9)."""
    k = 2 * np.pi * np.atleast_2d(kpoints)
    cols = [np.cos(k[:, i]) for i in range(3)]
    for i in range(3):
        for j in range(i + 1, 3):
            cols += [np.cos(k[:, i] + k[:, j]), np.cos(k[:, i] - k[:, j])]
    return np.stack(cols, axis=1)


def cell_kpoints(atoms: ase.Atoms, frame: int, key: str = KPOINTS) -> np.ndarray:
    """The fractional k-points ``(n_k, 3)`` in a cell's info."""
    if key not in atoms.info:
        raise DataError(f"{where(atoms, frame)} has no '{key}' in its info: the fractional "
                        "k-points (n_k x 3) of its band energies.")
    return np.asarray(atoms.info[key], float).reshape(-1, 3)


@register("band_gpr")
class BandGPRModel(StructureModel):
    """Band energies ``(n_kpoints, n_bands)`` of periodic cells of one atom order, at
    their k-points and at any other (:meth:`predict_bands`), with the GP's std.

    Parameters
    ----------
    targets : TargetSpec
        A ``band_energies(n_kpoints, n_bands)`` target (eV).
    keys : KeySpec, optional
    **hypers
        See :class:`~atomlearn.models.band_gpr.hypers.BandGPRHypers`.
    """

    Hypers = BandGPRHypers
    supported_layouts = LAYOUTS["band_gpr"]
    periodic_only = True

    @classmethod
    def default_targets(cls):
        return [band_energies(27, 8)]

    @property
    def _spec(self):
        return self.target_specs[0]

    def _held_out_size(self, n_structures: int) -> int:
        return 0            # the std is the exact GP's, not calibrated on held-out cells

    def check_hypers(self) -> None:
        super().check_hypers()
        h = self.hypers
        for name in ("sigma", "length_scale", "max_points"):
            check_positive(getattr(h, name), f"model.{name}")
        if len(self._spec.shape) != 2:
            raise ConfigError(
                f"Model type 'band_gpr' learns band energies of shape (n_kpoints, n_bands); "
                f"target {self._spec.name!r} has shape {self._spec.shape}.")

    # -- inputs -----------------------------------------------------------------------
    def _check_cells(self, structures) -> None:
        n_atoms = self.n_atoms_ if hasattr(self, "n_atoms_") else len(structures[0])
        for i, a in enumerate(structures):
            if not a.pbc.all() or len(a) != n_atoms:
                raise DataError(
                    f"{where(a, i)}: 'band_gpr' describes periodic cells of one atom order "
                    f"({n_atoms} atoms, pbc in all directions); got {len(a)} atoms, pbc "
                    f"{a.pbc.tolist()}.")

    def _inputs(self, cells: np.ndarray, kpoints: np.ndarray) -> np.ndarray:
        """Standardised features of every (cell, k-point) pair, cell-major."""
        x = np.hstack([np.repeat(cells, len(kpoints), axis=0),
                       np.tile(kpoint_features(kpoints), (len(cells), 1))])
        return (x - self.x_mean_) / self.x_std_

    # -- fitting ----------------------------------------------------------------------
    def _fit(self, data: Dataset, held_out):
        structures = data.structures
        self._check_cells(structures)
        self.n_atoms_ = len(structures[0])
        n_k, n_bands = self._spec.shape
        labels = data.labels[self._spec.name]
        cells, kpts, energies = [], [], []
        for i, a in enumerate(structures):
            sets = [(cell_kpoints(a, i), labels[i])]
            if PATH_KPOINTS in a.info and PATH_ENERGIES in a.info:
                path = cell_kpoints(a, i, PATH_KPOINTS)
                sets.append((path, np.asarray(a.info[PATH_ENERGIES], float).reshape(
                    len(path), n_bands)))
            for k, e in sets:
                if len(k) != len(e):
                    raise DataError(f"{where(a, i)} has {len(e)} band-energy rows for "
                                    f"{len(k)} k-points.")
                cells.append(np.repeat(cell_invariants(a)[None], len(k), axis=0))
                kpts.append(k)
                energies.append(e)
        cells, kpts, y = np.vstack(cells), np.vstack(kpts), np.vstack(energies)
        if len(y) > self.hypers.max_points:
            raise ConfigError(
                f"{len(y)} (cell, k-point) training points exceed model.max_points = "
                f"{self.hypers.max_points} (an exact GP: memory grows as their square). Use "
                "fewer cells or raise 'model.max_points'.")
        x = np.hstack([cells, kpoint_features(kpts)])
        self.x_mean_, self.x_std_ = x.mean(axis=0), x.std(axis=0) + 1e-12
        self.y_mean_ = y.mean(axis=0)
        self.kpoints_ = cell_kpoints(structures[0], 0)
        self.probe_ = ase.Atoms(structures[0].numbers, structures[0].positions,
                                cell=structures[0].cell, pbc=True)
        h = self.hypers
        kernel = (ConstantKernel(1.0, (1e-3, 1e3))
                  * RBF(np.full(x.shape[1], h.length_scale), (1e-2, 1e3))
                  + WhiteKernel(h.sigma**2 / max(float(np.var(y)), 1e-12), (1e-10, 1.0)))
        log.info("band_gpr: %d (cell, k-point) points, %d bands", len(y), n_bands)
        self.gp_ = GaussianProcessRegressor(kernel, normalize_y=False,
                                            n_restarts_optimizer=h.restarts,
                                            random_state=h.random_state)
        self.y_scale_ = float(np.std(y - self.y_mean_)) or 1.0
        with warnings.catch_warnings():
            # DFT bands are noise-free: the noise search ends at its floor (1e-5 of the
            # spread), which is a choice, not a failure to converge
            warnings.filterwarnings("ignore", message=".*noise_level is close to the "
                                    "specified lower bound", category=ConvergenceWarning)
            self.gp_.fit((x - self.x_mean_) / self.x_std_,
                         (y - self.y_mean_) / self.y_scale_)
        log.info("band_gpr: %s", self.gp_.kernel_)
        return None

    # -- prediction -------------------------------------------------------------------
    def predict_bands(self, structures, kpoints=None, *, return_std: bool = False):
        """Band energies (eV) at fractional ``kpoints`` ``(n_k, 3)`` of every structure
        (default: the model's own k-set), shape ``(n, n_k, n_bands)``, and the latent std."""
        structures = list(structures)
        self._check_cells(structures)
        kpoints = self.kpoints_ if kpoints is None else np.asarray(kpoints, float)
        if kpoints.ndim != 2 or kpoints.shape[1] != 3:
            raise DataError(f"k-points must be fractional coordinates of shape (n_k, 3); "
                            f"got shape {kpoints.shape}.")
        cells = np.array([cell_invariants(a) for a in structures])
        x = self._inputs(cells, kpoints)
        shape = (len(structures), len(kpoints), len(self.y_mean_))
        if not return_std:
            return (self.gp_.predict(x) * self.y_scale_ + self.y_mean_).reshape(shape)
        mean, std = self.gp_.predict(x, return_std=True)
        noise = float(self.gp_.kernel_.k2.noise_level)
        latent = np.sqrt(np.maximum(std**2 - noise, 0.0)) * self.y_scale_
        return ((mean * self.y_scale_ + self.y_mean_).reshape(shape),
                np.broadcast_to(latent.reshape(len(x), -1), (len(x), shape[2])).reshape(
                    shape))

    def _predict(self, structures, names, return_std):
        out = self.predict_bands(structures, return_std=return_std)
        name = self._spec.name
        return ({name: out[0]}, {name: out[1]}) if return_std else ({name: out}, {})

    def _noise_std(self, name, structures) -> np.ndarray:
        noise = float(np.sqrt(self.gp_.kernel_.k2.noise_level)) * self.y_scale_
        return np.full((len(structures), *self._spec.shape), noise)

    def _probe_structure(self) -> ase.Atoms:
        return self.probe_.copy()

    # -- state ------------------------------------------------------------------------
    def _state(self):
        gp = self.gp_
        arrays = {"X_train": gp.X_train_, "alpha": gp.alpha_, "L": gp.L_,
                  "theta": gp.kernel_.theta, "x_mean": self.x_mean_, "x_std": self.x_std_,
                  "y_mean": self.y_mean_, "kpoints": self.kpoints_,
                  "probe_numbers": self.probe_.numbers,
                  "probe_positions": self.probe_.positions,
                  "probe_cell": self.probe_.cell.array}
        return {"y_scale": self.y_scale_, "n_atoms": self.n_atoms_}, arrays

    def _restore(self, fitted, arrays) -> None:
        h = self.hypers
        d = arrays["X_train"].shape[1]
        template = (ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.ones(d), (1e-2, 1e3))
                    + WhiteKernel(1e-3, (1e-10, 1.0)))
        gp = GaussianProcessRegressor(template, random_state=h.random_state)
        gp.kernel_ = template.clone_with_theta(arrays["theta"])
        gp.X_train_, gp.alpha_, gp.L_ = arrays["X_train"], arrays["alpha"], arrays["L"]
        n_bands = arrays["y_mean"].shape[0]
        gp._y_train_mean, gp._y_train_std = np.zeros(n_bands), np.ones(n_bands)
        self.gp_ = gp
        self.x_mean_, self.x_std_ = arrays["x_mean"], arrays["x_std"]
        self.y_mean_, self.kpoints_ = arrays["y_mean"], arrays["kpoints"]
        self.y_scale_, self.n_atoms_ = float(fitted["y_scale"]), int(fitted["n_atoms"])
        self.probe_ = ase.Atoms(arrays["probe_numbers"], arrays["probe_positions"],
                                cell=arrays["probe_cell"], pbc=True)
