"""Band energies of crystals at any k-point, by two routes that share one exact-GP piece.

A band energy is a function of the cell and of the k-point. The cell is described by
invariants complete for cells of one atom order (the Gram matrix of its vectors and every
atom's fractional position relative to the first); the k-point, in fractional coordinates
of that cell's reciprocal basis, by :math:`\\cos 2\\pi k_i` and :math:`\\cos 2\\pi(k_i \\pm
k_j)`, which are periodic in the reciprocal lattice and even under time reversal.

* ``route: hamiltonian`` (default): a GP of each cell's Kohn-Sham Hamiltonian on the
  lattice vectors of its k-mesh (:mod:`.hamiltonian`), diagonalised; band crossings come
  out of the diagonalisation instead of being smoothed over. Between mesh points the core
  Hamiltonian is exact and the rest is interpolated; what that interpolation misses is
  learned from the cells that carry bands along a path, by a GP over (cell, k-point)
  pairs of the residual (zero on the mesh, where the route is exact).
* ``route: direct``: that GP over (cell, k-point) pairs of the band energies themselves,
  trained on every labelled (cell, k): the mesh, plus the paths where cells have them.
"""

from __future__ import annotations

import logging

import ase
import numpy as np

from ...errors import ConfigError, DataError, check_choice
from ...structures import keys as K
from ...structures.io import where
from ...targets import Dataset, TargetSpec, band_energies
from ...targets.operators import electron_count
from .. import register
from ..base import StructureModel
from ..hypers import check_positive
from .exact import ScaledGP
from .hamiltonian import CrystalHamiltonian
from .hypers import LAYOUTS, ROUTES, BandGPRHypers

log = logging.getLogger(__name__)

#: The band edges (valence-band maximum, conduction-band minimum) and the gap.
EDGES = (K.VBM, K.CBM, K.GAP)

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


def pair_inputs(cells: np.ndarray, kpoints: np.ndarray) -> np.ndarray:
    """Features of every (cell, k-point) pair, cell-major."""
    return np.hstack([np.repeat(cells, len(kpoints), axis=0),
                      np.tile(kpoint_features(kpoints), (len(cells), 1))])


def cell_kpoints(atoms: ase.Atoms, frame: int, key: str = KPOINTS) -> np.ndarray:
    """The fractional k-points ``(n_k, 3)`` in a cell's info."""
    if key not in atoms.info:
        raise DataError(f"{where(atoms, frame)} has no '{key}' in its info: the fractional "
                        "k-points (n_k x 3) of its band energies.")
    return np.asarray(atoms.info[key], float).reshape(-1, 3)


def _path(atoms: ase.Atoms, frame: int, n_bands: int):
    """A cell's path k-points and band energies, or None."""
    if PATH_KPOINTS not in atoms.info or PATH_ENERGIES not in atoms.info:
        return None
    k = cell_kpoints(atoms, frame, PATH_KPOINTS)
    e = np.asarray(atoms.info[PATH_ENERGIES], float)
    if e.size != len(k) * n_bands:
        raise DataError(f"{where(atoms, frame)} has {e.size} path band energies for "
                        f"{len(k)} k-points x {n_bands} bands.")
    return k, e.reshape(len(k), n_bands)


def _occupied(structures, n_bands: int) -> int | None:
    """Occupied bands of the training cells (closed shells: info ``n_occ``, or
    ``n_electrons`` / 2), when every cell gives the same count below ``n_bands``."""
    # a pseudopotential's valence count must be given: not all electrons of the atoms
    if not all("n_occ" in a.info or "n_electrons" in a.info for a in structures):
        return None
    counts = {electron_count(a) // 2 for a in structures}
    n = counts.pop() if len(counts) == 1 else None
    return n if n is not None and 0 < n < n_bands else None


def _edges(bands: np.ndarray, n_occupied: int) -> dict[str, np.ndarray]:
    """Valence-band maximum, conduction-band minimum and gap of bands ``(..., n_k,
    n_bands)`` over their k-points."""
    vbm = bands[..., :n_occupied].max(axis=(-1, -2))
    cbm = bands[..., n_occupied:].min(axis=(-1, -2))
    return {K.VBM: vbm, K.CBM: cbm, K.GAP: cbm - vbm}


def _edge_std(bands: np.ndarray, spread: np.ndarray, n_occupied: int) -> dict:
    """The std of the band at each edge, and the gap's with the two independent."""
    rows = np.arange(len(bands))
    out = {}
    for name, part, pick in ((K.VBM, np.s_[..., :n_occupied], np.argmax),
                             (K.CBM, np.s_[..., n_occupied:], np.argmin)):
        values = bands[part].reshape(len(bands), -1)
        out[name] = spread[part].reshape(len(bands), -1)[rows, pick(values, axis=1)]
    out[K.GAP] = np.hypot(out[K.VBM], out[K.CBM])
    return out


def _on_mesh(kpoints: np.ndarray, mesh: np.ndarray) -> bool:
    return kpoints.shape == mesh.shape and np.allclose(kpoints, mesh, atol=1e-10)


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

    @property
    def supported_targets(self):
        """The band energies and, for cells whose electron count the training cells gave,
        the band edges on the model's k-set and the gap between them (eV)."""
        out = super().supported_targets
        if getattr(self, "n_occupied_", None):
            out.update({name: TargetSpec(name, "scalar", unit=self._spec.unit,
                                         extensive=False) for name in EDGES})
        return out

    def _held_out_size(self, n_structures: int) -> int:
        return 0            # the std is the exact GP's, not calibrated on held-out cells

    def check_hypers(self) -> None:
        super().check_hypers()
        h = self.hypers
        for name in ("sigma", "hamiltonian_sigma", "length_scale", "max_points",
                     "std_samples"):
            check_positive(getattr(h, name), f"model.{name}")
        check_choice(h.route, ROUTES, "model.route")
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

    # -- fitting ----------------------------------------------------------------------
    def _fit(self, data: Dataset, held_out):
        structures = data.structures
        self._check_cells(structures)
        self.n_atoms_ = len(structures[0])
        n_k, n_bands = self._spec.shape
        labels = data.labels[self._spec.name]
        self.kpoints_ = cell_kpoints(structures[0], 0)
        for i, a in enumerate(structures):
            if len(cell_kpoints(a, i)) != n_k:
                raise DataError(f"{where(a, i)} has {len(cell_kpoints(a, i))} k-points for "
                                f"{n_k} rows of band energies.")
        self.probe_ = ase.Atoms(structures[0].numbers, structures[0].positions,
                                cell=structures[0].cell, pbc=True)
        self.n_occupied_ = _occupied(structures, n_bands)
        cells = np.array([cell_invariants(a) for a in structures])
        paths = [_path(a, i, n_bands) for i, a in enumerate(structures)]
        if self.hypers.route == "direct":
            self.pairs_ = self._fit_pairs(structures, cells, [
                [(cell_kpoints(a, i), labels[i])] + ([p] if p else [])
                for i, (a, p) in enumerate(zip(structures, paths, strict=True))])
            self.hamiltonian_ = None
            return None
        self._fit_hamiltonian(structures, cells, paths)
        return None

    def _fit_hamiltonian(self, structures, cells, paths) -> None:
        h = self.hypers
        for i, a in enumerate(structures):
            if not _on_mesh(cell_kpoints(a, i), self.kpoints_):
                raise DataError(f"{where(a, i)}: the Hamiltonian route needs every cell's "
                                "k-points to be the first cell's mesh; these differ.")
        ham = CrystalHamiltonian(h.basis, h.pseudo, self.kpoints_)
        n_bands = self._spec.shape[1]
        if ham.n_orbitals(structures[0]) < n_bands:
            raise ConfigError(
                f"The target asks {n_bands} bands; the basis {h.basis!r} gives "
                f"{ham.n_orbitals(structures[0])} orbitals per cell. Ask at most that many.")
        self.hamiltonian_ = ham.fit(structures, cells, h)
        labels = ham.__dict__.pop("training_labels")
        log.info("band_gpr: Hamiltonian GP %s", self.hamiltonian_.gp_.gp.kernel_)
        labelled = [i for i, p in enumerate(paths) if p is not None]
        if not labelled:
            self.pairs_ = None
            return
        # what interpolating the reference Hamiltonian misses along the paths; zero on
        # the mesh, where the route is exact
        sets = [[(self.kpoints_, np.zeros((len(self.kpoints_), n_bands)))]
                for _ in structures]
        for i in labelled:
            a, (k, e) = structures[i], paths[i]
            reference = ham.to_lab(a, labels[i])
            interp = ham.bands(reference[None], ham.off_mesh([a], k))[0][:, :n_bands]
            sets[i].append((k, e - interp))
        self.pairs_ = self._fit_pairs(structures, cells, sets)

    def _fit_pairs(self, structures, cells, sets) -> ScaledGP:
        x, y = [], []
        for i, cell_sets in enumerate(sets):
            for k, e in cell_sets:
                if len(k) != len(e):
                    raise DataError(f"{where(structures[i], i)} has {len(e)} band-energy "
                                    f"rows for {len(k)} k-points.")
                x.append(pair_inputs(cells[i:i + 1], k))
                y.append(e)
        x, y = np.vstack(x), np.vstack(y)
        h = self.hypers
        if len(y) > h.max_points:
            raise ConfigError(
                f"{len(y)} (cell, k-point) training points exceed model.max_points = "
                f"{h.max_points} (an exact GP: memory grows as their square). Use fewer "
                "cells or raise 'model.max_points'.")
        log.info("band_gpr: %d (cell, k-point) points, %d bands", len(y), y.shape[1])
        gp = ScaledGP().fit(x, y, length_scale=h.length_scale,
                            noise=h.sigma**2 / max(float(np.var(y)), 1e-12),
                            restarts=h.restarts, random_state=h.random_state)
        log.info("band_gpr: pair GP %s", gp.gp.kernel_)
        return gp

    # -- prediction -------------------------------------------------------------------
    def predict_bands(self, structures, kpoints=None, *, return_std: bool = False,
                      return_samples: bool = False):
        """Band energies (eV) at fractional ``kpoints`` ``(n_k, 3)`` of every structure
        (default: the model's own k-set), shape ``(n, n_k, n_bands)``, their std and (the
        Hamiltonian route, with ``return_std``) the posterior's calibrated samples ``(n,
        n_samples, n_k, n_bands)``."""
        structures = list(structures)
        self._check_cells(structures)
        kpoints = self.kpoints_ if kpoints is None else np.asarray(kpoints, float)
        if kpoints.ndim != 2 or kpoints.shape[1] != 3:
            raise DataError(f"k-points must be fractional coordinates of shape (n_k, 3); "
                            f"got shape {kpoints.shape}.")
        cells = np.array([cell_invariants(a) for a in structures])
        n_bands = self._spec.shape[1]
        shape = (len(structures), len(kpoints), n_bands)
        pairs = None
        if self.pairs_ is not None and (self.hamiltonian_ is None
                                        or not _on_mesh(kpoints, self.kpoints_)):
            pairs = self.pairs_.predict(pair_inputs(cells, kpoints), return_std=return_std)
        if self.hamiltonian_ is None:
            if not return_std:
                return pairs.reshape(shape)
            return pairs[0].reshape(shape), np.repeat(pairs[1], n_bands).reshape(shape)
        ham = self.hamiltonian_
        off_mesh = None if _on_mesh(kpoints, self.kpoints_) else ham.off_mesh(structures,
                                                                             kpoints)
        H_T, std = ham.lattice(structures, cells, return_std=True)
        bands = ham.bands(H_T, off_mesh)[..., :n_bands]
        if pairs is not None:
            bands = bands + (pairs[0] if return_std else pairs).reshape(shape)
        if not return_std:
            return bands
        samples = ham.band_samples(H_T, std, self.hypers, off_mesh)[..., :n_bands]
        samples = bands[:, None] + ham.std_scale_ * (samples - samples.mean(axis=1,
                                                                           keepdims=True))
        spread = samples.std(axis=1)
        if pairs is not None:
            spread = np.sqrt(spread**2 + np.repeat(pairs[1], n_bands).reshape(shape)**2)
        if return_samples:
            return bands, spread, samples
        return bands, spread

    def _predict(self, structures, names, return_std):
        wanted = [n for n in names if n in EDGES]
        if return_std and wanted and self.hamiltonian_ is not None:
            bands, spread, samples = self.predict_bands(structures, return_std=True,
                                                        return_samples=True)
        elif return_std:
            (bands, spread), samples = self.predict_bands(structures, return_std=True), None
        else:
            bands, spread, samples = self.predict_bands(structures), None, None
        mean, std = {self._spec.name: bands}, {self._spec.name: spread}
        if wanted:
            mean.update(_edges(bands, self.n_occupied_))
        if wanted and return_std:
            if samples is not None:         # the edges of the posterior's samples
                edges = _edges(samples, self.n_occupied_)
                std.update({k: v.std(axis=1) for k, v in edges.items()})
            else:                           # the std of the edge bands, independent
                std.update(_edge_std(bands, spread, self.n_occupied_))
        mean = {n: mean[n] for n in names}
        return (mean, {n: std[n] for n in names}) if return_std else (mean, {})

    def _noise_std(self, name, structures) -> np.ndarray:
        gp = self.pairs_ if self.hamiltonian_ is None else self.hamiltonian_.gp_
        return np.full((len(structures), *self._spec.shape), gp.noise_std)

    def _probe_structure(self) -> ase.Atoms:
        return self.probe_.copy()

    # -- state ------------------------------------------------------------------------
    def _state(self):
        arrays = {"kpoints": self.kpoints_, "probe_numbers": self.probe_.numbers,
                  "probe_positions": self.probe_.positions,
                  "probe_cell": self.probe_.cell.array}
        fitted = {"n_atoms": self.n_atoms_, "n_occupied": self.n_occupied_}
        if self.pairs_ is not None:
            arrays.update(self.pairs_.state(""))
        if self.hamiltonian_ is not None:
            ham_fitted, ham_arrays = self.hamiltonian_.state()
            fitted["hamiltonian"] = ham_fitted
            arrays.update(ham_arrays)
        return fitted, arrays

    def _restore(self, fitted, arrays) -> None:
        if "X_train" in arrays and "y_scale" not in arrays:     # written before routes
            arrays = {**arrays, "y_scale": np.array(fitted["y_scale"])}
            self.hypers.route = "direct"
        self.pairs_ = ScaledGP.restore(arrays, "") if "X_train" in arrays else None
        self.hamiltonian_ = (CrystalHamiltonian.restore(fitted["hamiltonian"], arrays)
                             if "hamiltonian" in fitted else None)
        self.kpoints_, self.n_atoms_ = arrays["kpoints"], int(fitted["n_atoms"])
        self.n_occupied_ = fitted.get("n_occupied")
        self.probe_ = ase.Atoms(arrays["probe_numbers"], arrays["probe_positions"],
                                cell=arrays["probe_cell"], pbc=True)
