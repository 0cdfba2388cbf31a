"""Sparse GPR potentials (GAP-style): energies, forces and stress from SOAP environments."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ase
import numpy as np
from scipy.optimize import minimize
from tqdm.auto import tqdm

from ..descriptors import SoapPowerSpectrum
from ..errors import ConfigError, DataError, NotFittedError, check_choice
from ..gp.selection import select_sparse_points
from ..gp.solver import (
    NormalEquations,
    SparseSolution,
    predictive_variance,
    solve_normal_equations,
)
from ..kernels.structure import AtomSumKernel, Environments, SoapKernel, UnitRBFKernel
from ..serialization import write_model_file
from ..structures.io import has_label, where
from ..structures.keys import KeySpec
from ..targets import TargetSpec, energy, read_gradient_labels
from ._base import register

log = logging.getLogger(__name__)

KERNELS = ("soap", "rbf")
HYPERPARAMETERS = ("fixed", "likelihood", "validation")
# at most this much memory (and a quarter of what is available) keeps the spherical
# expansions of the selection pass for the kernel-row pass
_EXPANSION_CACHE = 2**30
#: Search ranges (log) of delta (eV), sigma_E (eV/atom) and sigma_F (eV/Å).
_BOUNDS = [(np.log(1e-3), np.log(1e2)), (np.log(1e-5), np.log(1.0)),
           (np.log(1e-4), np.log(10.0))]


@dataclass
class _Blocks:
    """Normal-equation blocks accumulated with a unit-amplitude kernel (delta = 1)."""

    K_MM: np.ndarray
    energy: NormalEquations   # rows / sqrt(n_atoms): noise sigma_E^2 n_atoms folded out
    forces: NormalEquations
    energy_logdet: float      # sum log n_atoms
    stress: NormalEquations   # 6 components per periodic cell, unit noise
    sigma_stress: float = 1.0  # fixed: not among the optimised hyperparameters

    def merged(self, other: _Blocks) -> _Blocks:
        """Blocks of the union of two disjoint sets of observations."""
        def add(a: NormalEquations, b: NormalEquations) -> NormalEquations:
            return NormalEquations(a.A + b.A, a.b + b.b, a.yy + b.yy,
                                   a.logdet_sigma + b.logdet_sigma, a.n + b.n)
        return _Blocks(self.K_MM, add(self.energy, other.energy),
                       add(self.forces, other.forces), self.energy_logdet + other.energy_logdet,
                       add(self.stress, other.stress), self.sigma_stress)

    def equations(self, delta: float, sigma_e: float, sigma_f: float) -> NormalEquations:
        """Normal equations for amplitude ``delta`` and noises ``sigma_e``, ``sigma_f``."""
        d2, we, wf = delta**2, 1.0 / sigma_e**2, 1.0 / sigma_f**2
        ws = 1.0 / self.sigma_stress**2
        e, f, st = self.energy, self.forces, self.stress
        eq = NormalEquations(A=d2 * d2 * (we * e.A + wf * f.A + ws * st.A),
                             b=d2 * (we * e.b + wf * f.b + ws * st.b))
        eq.yy = we * e.yy + wf * f.yy + ws * st.yy
        eq.logdet_sigma = (self.energy_logdet + e.n * np.log(sigma_e**2)
                           + f.n * np.log(sigma_f**2) + st.n * np.log(self.sigma_stress**2))
        eq.n = e.n + f.n + st.n
        return eq


@register("sparse_gpr")
class SparseGPRModel:
    """Sparse GPR interatomic potential: :math:`E = \\sum_i e(x_i)`, fitted to energies and forces.

    Each atomic energy :math:`e(x) = \\sum_m c_m k(x, x_m)` is a sparse GP over unit SOAP
    power spectra with its own function per element. Energies (noise
    :math:`\\sigma_E^2 n_{\\text{atoms}}`) and force components (noise :math:`\\sigma_F^2`) are
    fitted in one solve of the lecture's sparse-GPR equations; force rows are the
    derivative observations :math:`F_{j\\alpha} = -\\partial E/\\partial r_{j\\alpha}` built from
    featomic's analytic descriptor gradients. Predictions come with the DTC standard
    deviation of the energy and of every force component.

    Parameters
    ----------
    target : TargetSpec, optional
        A per-structure scalar; ``energy(forces=True)`` (the default) fits forces too.
    descriptor : SoapPowerSpectrum, optional
        Default cutoff 5 Å, n_max 8, l_max 6, atom width 0.5 Å.
    kernel : {"soap", "rbf"}
        ``"soap"``: :math:`\\delta^2 (\\hat x\\cdot\\hat x')^\\zeta`; ``"rbf"``:
        :math:`\\delta^2 \\exp(-|\\hat x - \\hat x'|^2 / 2 l^2)`.
    zeta : int
        Power of the SOAP kernel.
    length_scale : float
        Length scale of the RBF kernel (unit-descriptor units).
    delta : float
        Kernel amplitude :math:`\\delta`, eV per atom (GAP's ``delta``).
    n_sparse : int or dict
        Sparse environments: a total shared between elements in proportion to their
        counts, or a count per element symbol (GAP's convention), e.g.
        ``{"H": 150, "C": 150, "O": 150}``.
    selection : {"fps", "cur", "random"}
    sigma : float
        Energy noise per atom :math:`\\sigma_E`, eV/atom (GAP's ``default_sigma`` energy).
    sigma_forces : float
        Force noise per component :math:`\\sigma_F`, eV/Å.
    sigma_stress : float
        Stress noise per component, eV/Å^3, for ``energy(stress=True)``: the six independent
        stress components of every periodic training cell that has them become derivative
        observations :math:`\\sigma = V^{-1}\\partial E/\\partial\\epsilon` (from
        featomic's strain gradients). Kept fixed by the hyperparameter searches.
    hyperparameters : {"fixed", "likelihood", "validation"}
        How ``delta``, ``sigma`` and ``sigma_forces`` are chosen. ``"likelihood"``:
        maximise the sparse (DTC) log marginal likelihood of energies and forces together
        (with M much smaller than N it tends to raise the noise to absorb the sparse
        approximation's error). ``"validation"``: hold out ``validation_fraction`` of the
        training structures, minimise their relative energy plus force mean squared error,
        then refit on all structures. Both cost O(M^3) per trial, reusing the accumulated
        normal equations, so neither repeats a pass over the data.
    validation_fraction : float
        Held-out share of the training structures for ``hyperparameters="validation"``.
    jitter : float
        Relative jitter added to the diagonal of :math:`K_{MM}` (times :math:`\\delta^2`).
    aggregation : {"sum", "mean"}
        Extensive (sum) or intensive (mean) target.
    reference : "fit", "none" or dict
        Per-element reference values: least squares on the training composition, zero,
        or given per element symbol (e.g. isolated-atom energies).
    require_forces : bool
        Refuse training frames without forces instead of fitting their energies only.
    memory_limit : float, optional
        Refuse fits whose estimated peak memory exceeds this many GB (default: the memory
        the machine has available).
    keys : KeySpec, optional
        Where labels are read from.
    chunk_size : int
        Structures per chunk when building kernel rows (bounds the memory).
    random_state : int
        Seed of the sparse-point selection.
    """

    def __init__(self, *, target: TargetSpec | None = None,
                 descriptor: SoapPowerSpectrum | None = None, kernel: str = "soap",
                 zeta: int = 4, length_scale: float = 1.0, delta: float = 1.0,
                 n_sparse: int = 500, selection: str = "fps", sigma: float = 1e-3,
                 sigma_forces: float = 0.03, sigma_stress: float = 0.01,
                 hyperparameters: str = "fixed",
                 validation_fraction: float = 0.2, jitter: float = 1e-8,
                 aggregation: str = "sum", reference="fit",
                 require_forces: bool = False, memory_limit: float | None = None,
                 keys: KeySpec | None = None, chunk_size: int = 20,
                 random_state: int = 0) -> None:
        self.target = target
        self.descriptor = descriptor
        self.kernel = kernel
        self.zeta = zeta
        self.length_scale = length_scale
        self.delta = delta
        self.n_sparse = n_sparse
        self.selection = selection
        self.sigma = sigma
        self.sigma_forces = sigma_forces
        self.sigma_stress = sigma_stress
        self.hyperparameters = hyperparameters
        self.validation_fraction = validation_fraction
        self.jitter = jitter
        self.aggregation = aggregation
        self.reference = reference
        self.require_forces = require_forces
        self.memory_limit = memory_limit
        self.keys = keys
        self.chunk_size = chunk_size
        self.random_state = random_state

    def __repr__(self) -> str:
        return (f"SparseGPRModel(kernel={self.kernel!r}, zeta={self.zeta}, "
                f"n_sparse={self.n_sparse}, sigma={self.sigma}, "
                f"sigma_forces={self.sigma_forces}, descriptor={self.descriptor!r})")

    # -- interface --------------------------------------------------------------------
    def _spec(self) -> TargetSpec:
        spec = self.target or energy(forces=True)
        if spec.kind != "scalar" or spec.per_atom:
            raise ConfigError(
                f"SparseGPRModel learns per-structure scalar targets; {spec.name!r} is "
                f"{spec.kind!r}{' per atom' if spec.per_atom else ''}.")
        if spec.gradients and spec.name != "energy":
            raise ConfigError(
                f"Only the energy has forces and stress; {spec.name!r} asks for "
                f"{list(spec.gradients)}.")
        return spec

    @property
    def supported_targets(self) -> dict[str, TargetSpec]:
        spec = self._spec()
        out = {spec.name: spec}
        if spec.name == "energy":
            out["forces"] = TargetSpec("forces", "vector", per_atom=True, unit="eV/Å",
                                       shape=(3,))
            out["stress"] = TargetSpec("stress", "rank2_symmetric", unit="eV/Å^3",
                                       shape=(3, 3))
        return out

    @property
    def fits_forces(self) -> bool:
        return "forces" in self._spec().gradients

    @property
    def fits_stress(self) -> bool:
        return "stress" in self._spec().gradients

    def _make_kernel(self, delta: float) -> AtomSumKernel:
        check_choice(self.kernel, KERNELS, "kernel type")
        env = (SoapKernel(self.zeta, delta) if self.kernel == "soap"
               else UnitRBFKernel(self.length_scale, delta))
        check_choice(self.aggregation, ("sum", "mean"), "aggregation")
        return AtomSumKernel(env, aggregation=self.aggregation)

    def _compute(self, structures, gradients=()):
        cached = None
        if tuple(gradients) == ("positions",) and getattr(self, "_expansions", None):
            cached = self._expansions.pop(_chunk_key(structures), None)
        f = (self.descriptor_.features(cached) if cached is not None
             else self.descriptor_.compute(structures, gradients=gradients))
        env = Environments.from_values(f.values, f.numbers, f.structure_index)
        return env, f

    def _chunks(self, structures, desc: str):
        starts = range(0, len(structures), self.chunk_size)
        for a in tqdm(starts, desc=desc, unit="chunk", disable=None, leave=False):
            yield a, structures[a : a + self.chunk_size]

    def _composition(self, structures) -> np.ndarray:
        lookup = {int(z): k for k, z in enumerate(self.species_)}
        counts = np.zeros((len(structures), len(self.species_)))
        for s, atoms in enumerate(structures):
            for z in atoms.numbers:
                counts[s, lookup[int(z)]] += 1
        if self.aggregation == "mean":
            counts /= counts.sum(axis=1, keepdims=True)
        return counts

    # -- fitting ----------------------------------------------------------------------
    def fit(self, structures: Sequence[ase.Atoms],
            targets: Mapping[str, np.ndarray] | None = None) -> SparseGPRModel:
        """Fit to reference energies (forces, stress) of ``structures``.

        ``targets`` may hold ``"energy"`` (n_structures,), ``"forces"``
        (n_atoms_total, 3) and ``"stress"`` (n_structures, 3, 3) in eV, eV/Å and eV/Å^3;
        otherwise they are read from the structures.
        """
        structures = list(structures)
        spec = self._spec()
        if len(structures) == 0:
            raise DataError("No training structures were given.")
        targets = dict(targets or {})
        y = (np.asarray(targets[spec.name], float) if spec.name in targets
             else spec.read(structures, self.keys))
        if y.shape != (len(structures),) or not np.all(np.isfinite(y)):
            raise DataError(
                f"Target {spec.name!r} must be finite with shape ({len(structures)},). "
                f"Got shape {y.shape}.")
        counts = (list(self.n_sparse.values()) if isinstance(self.n_sparse, Mapping)
                  else [self.n_sparse])
        if not all(isinstance(c, (int, np.integer)) and c >= 1 for c in counts):
            raise ConfigError(
                f"The 'n_sparse' parameter must be a positive int or a dict of positive ints "
                f"per element. Got {self.n_sparse!r}; use at least one sparse point per "
                "element.")
        check_choice(self.hyperparameters, HYPERPARAMETERS, "hyperparameters")
        forces, with_forces = self._training_forces(structures, targets)
        stress = self._training_stress(structures, targets)

        params = (self.descriptor or SoapPowerSpectrum()).get_params()
        params["species"] = sorted({int(z) for a in structures for z in a.numbers})
        self.descriptor_ = SoapPowerSpectrum(**params)
        self.species_ = np.array(self.descriptor_.species)
        self._check_memory(structures, with_forces)

        unit_kernel = self._make_kernel(1.0)
        delta, sigma_e, sigma_f = float(self.delta), float(self.sigma), float(self.sigma_forces)
        try:
            env = self._compute_all(structures, with_forces)
            counts = self._composition(structures)
            self.reference_ = self._fit_reference(counts, y)
            residual = y - counts @ self.reference_
            self.sparse_indices_ = self._select(env)
            self.sparse_ = Environments(env.unit[self.sparse_indices_],
                                        env.norm[self.sparse_indices_],
                                        env.numbers[self.sparse_indices_],
                                        np.zeros(len(self.sparse_indices_), int))
            del env
            if self.hyperparameters == "validation":
                blocks, delta, sigma_e, sigma_f = self._validate(
                    unit_kernel, structures, residual, forces, with_forces, stress,
                    (delta, sigma_e, sigma_f))
            else:
                blocks = self._accumulate(unit_kernel, structures, residual, forces,
                                          with_forces, stress)
        finally:
            self._expansions = {}
        if self.hyperparameters == "likelihood":
            delta, sigma_e, sigma_f = self._optimise(blocks, delta, sigma_e, sigma_f)
        self.delta_, self.sigma_, self.sigma_forces_ = delta, sigma_e, sigma_f
        self.kernel_ = self._make_kernel(delta)
        self.solution_ = solve_normal_equations(
            delta**2 * blocks.K_MM, blocks.equations(delta, sigma_e, sigma_f),
            self.jitter * delta**2)
        n_stress = f", {blocks.stress.n} stress" if self.fits_stress else ""
        log.info("fitted %d energies, %d force%s components with %d sparse environments "
                 "(delta %.4g eV, sigma_E %.3g eV/atom, sigma_F %.3g eV/Å, log ML %.6g)",
                 blocks.energy.n, blocks.forces.n, n_stress, len(self.sparse_indices_), delta,
                 sigma_e, sigma_f, self.solution_.log_marginal_likelihood)
        return self

    def _training_forces(self, structures, targets):
        n = len(structures)
        if not self.fits_forces:
            return None, np.zeros(n, bool)
        if "forces" in targets:
            forces = np.asarray(targets["forces"], float)
            expected = (sum(len(a) for a in structures), 3)
            if forces.shape != expected or not np.all(np.isfinite(forces)):
                raise DataError(f"'forces' must be finite with shape {expected}. "
                                f"Got {forces.shape}.")
            return forces, np.ones(n, bool)
        with_forces = np.array([has_label(a, "forces", self.keys) for a in structures])
        missing = np.flatnonzero(~with_forces)
        if len(missing):
            if self.require_forces:
                raise DataError(
                    f"{len(missing)} of {n} training frames have no forces (first: "
                    f"{where(structures[missing[0]], int(missing[0]))}); add them, or set "
                    "'model.require_forces: false' to fit those frames' energies only.")
            warnings.warn(
                f"{len(missing)} of {n} training frames have no forces (first: "
                f"{where(structures[missing[0]], int(missing[0]))}); fitting their energies "
                "only.", stacklevel=3)
        forces = np.zeros((sum(len(a) for a in structures), 3))
        offsets = np.cumsum([0] + [len(a) for a in structures])
        labelled = [structures[i] for i in np.flatnonzero(with_forces)]
        if labelled:
            values = read_gradient_labels(energy(forces=True), labelled, self.keys)["forces"]
            rows = np.concatenate([np.arange(offsets[i], offsets[i + 1])
                                   for i in np.flatnonzero(with_forces)])
            forces[rows] = values
        return forces, with_forces

    def _training_stress(self, structures, targets) -> np.ndarray | None:
        """Stress labels (n, 3, 3) in eV/Å^3, NaN for cells without them; None if unused."""
        if not self.fits_stress:
            return None
        if "stress" in targets:
            stress = np.asarray(targets["stress"], float)
            if stress.shape != (len(structures), 3, 3):
                raise DataError(f"'stress' must have shape ({len(structures)}, 3, 3). "
                                f"Got {stress.shape}.")
            return stress
        stress = np.full((len(structures), 3, 3), np.nan)
        labelled = [i for i, a in enumerate(structures)
                    if a.pbc.all() and has_label(a, "stress", self.keys)]
        if labelled:
            stress[labelled] = read_gradient_labels(
                energy(forces=False, stress=True), [structures[i] for i in labelled],
                self.keys)["stress"]
        if len(labelled) < len(structures):
            warnings.warn(
                f"{len(structures) - len(labelled)} of {len(structures)} training frames are "
                "not periodic or have no stress; fitting stress on the other "
                f"{len(labelled)}.", stacklevel=3)
        return stress

    def _expansion_bytes(self, structures) -> float:
        """Size of the spherical expansions of ``structures`` with position gradients."""
        p = self.descriptor_.get_params()
        S, X, L1 = len(self.species_), p["n_max"], p["l_max"] + 1
        atoms = sum(len(a) for a in structures)
        return 8.0 * (atoms * S * L1 * (2 * L1 - 1) * X
                      + _gradient_pairs(structures) * 3 * X * L1**2)

    def memory_estimate(self, structures, with_forces=None) -> float:
        """Estimated peak memory of :meth:`fit` in bytes: the dominant arrays plus what the
        process already holds (interpreter, libraries, data)."""
        M = int(sum(self.n_sparse.values()) if isinstance(self.n_sparse, Mapping)
                else self.n_sparse)
        params = (self.descriptor or SoapPowerSpectrum()).get_params()
        n_species = len({int(z) for a in structures for z in a.numbers})
        D = n_species * (n_species + 1) // 2 * params["n_max"] ** 2 * (params["l_max"] + 1)
        n_atoms = sum(len(a) for a in structures)
        chunk = structures[: self.chunk_size]
        chunk_atoms = sum(len(a) for a in chunk)
        pairs = _gradient_pairs(chunk) if with_forces is None or with_forces.any() else 0
        floats = (8 * M * M                 # K_MM, A_E, A_F, Ã, L, R and solver temporaries
                  + n_atoms * D             # all training descriptors (sparse selection)
                  + M * D                   # sparse environments
                  + 3 * pairs * D * 2.5     # featomic gradients, dense copy, stacked view
                  + 3 * pairs * M * 2       # derivative rows before and after summation
                  + chunk_atoms * D * 2)
        return 8.0 * floats + _resident_memory()

    def _check_memory(self, structures, with_forces):
        need = self.memory_estimate(structures, with_forces)
        limit = (self.memory_limit * 2**30 if self.memory_limit is not None
                 else _available_memory())
        log.info("estimated peak memory of the fit: %.2f GB (available %.1f GB)",
                 need / 2**30, limit / 2**30)
        if need > limit:
            raise ConfigError(
                f"The fit needs about {need / 2**30:.1f} GB but {limit / 2**30:.1f} GB is "
                f"available. Use fewer sparse points ('model.n_sparse', now {self.n_sparse}) "
                f"or smaller chunks ('model.chunk_size', now {self.chunk_size}).")

    def _compute_all(self, structures, with_forces):
        # The selection pass needs values only. When the expansions with their position
        # gradients fit in a bounded cache, compute them here once and let the kernel-row
        # pass reuse them instead of calling featomic a second time. Validation splits the
        # frames into other chunks and never makes that pass over all of them: no cache.
        self._expansions = {}
        cache = (with_forces.any() and self.hyperparameters != "validation"
                 and self._expansion_bytes(structures)
                 < min(_EXPANSION_CACHE, 0.25 * _available_memory()))
        parts = []
        for a, chunk in self._chunks(structures, "SOAP"):
            grads = ("positions",) if cache and with_forces[a : a + len(chunk)].any() else ()
            exp = self.descriptor_.expand(chunk, gradients=grads)
            if grads:
                self._expansions[_chunk_key(chunk)] = exp
            parts.append(Environments.from_values(exp.values, exp.numbers,
                                                  exp.structure_index))
        sizes = np.array([len(a) for a in structures])
        return Environments(np.concatenate([p.unit for p in parts]),
                            np.concatenate([p.norm for p in parts]),
                            np.concatenate([p.numbers for p in parts]),
                            np.repeat(np.arange(len(structures)), sizes))

    def _accumulate(self, kernel, structures, residual, forces, with_forces, stress=None,
                    keep_rows: list | None = None) -> _Blocks:
        M = len(self.sparse_indices_)
        K_MM = kernel.environment_kernel(self.sparse_, self.sparse_)
        e_eq, f_eq = NormalEquations.zeros(M), NormalEquations.zeros(M)
        s_eq = self._stress_equations(kernel, structures, stress)
        sizes = np.array([len(a) for a in structures])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        scale = sizes.astype(float) if self.aggregation == "sum" else np.ones(len(sizes))
        for a, chunk in self._chunks(structures, "kernel rows"):
            b = a + len(chunk)
            need_grad = self.fits_forces and with_forces[a:b].any()
            env, f = self._compute(chunk, ("positions",) if need_grad else ())
            K_E = kernel.energy_rows(env, self.sparse_)
            e_eq.add(K_E, residual[a:b], scale[a:b])
            if keep_rows is not None:
                keep_rows.append(("energy", K_E, residual[a:b], scale[a:b],
                                  kernel.energy_prior_variance(env)))
            if need_grad:
                n_atoms = int(offsets[b] - offsets[a])
                rows = -kernel.derivative_rows(env, self.sparse_, f.gradient_values,
                                               f.gradient_center, f.gradient_atom, n_atoms,
                                               nonzero_blocks=f.gradient_blocks)
                keep = np.repeat(with_forces[a:b], sizes[a:b] * 3)
                fy = forces[offsets[a] : offsets[b]].reshape(-1)
                f_eq.add(rows[keep], fy[keep], np.ones(int(keep.sum())))
                if keep_rows is not None:
                    prior = kernel.derivative_prior_variance(
                        env, f.gradient_values, f.gradient_center, f.gradient_atom, n_atoms)
                    keep_rows.append(("forces", rows[keep], fy[keep], None, prior[keep]))
        return _Blocks(K_MM, e_eq, f_eq, e_eq.logdet_sigma, s_eq, float(self.sigma_stress))

    def _stress_equations(self, kernel, structures, stress) -> NormalEquations:
        """Rows :math:`V^{-1}\\partial E/\\partial\\epsilon_{ab}` of the labelled periodic
        cells (xx, yy, zz, yz, xz, xy), from featomic's strain gradients."""
        eq = NormalEquations.zeros(len(self.sparse_indices_))
        if stress is None:
            return eq
        cells = [i for i in range(len(structures)) if np.all(np.isfinite(stress[i]))]
        voigt = [0, 4, 8, 5, 2, 1]
        for a in range(0, len(cells), self.chunk_size):
            chunk = cells[a : a + self.chunk_size]
            env, f = self._compute([structures[i] for i in chunk], ("strain",))
            n_atoms = len(env.numbers)
            rows = kernel.derivative_rows(
                env, self.sparse_, f.strain_gradients.reshape(n_atoms, 9, -1),
                np.arange(n_atoms), env.structure, len(chunk)).reshape(len(chunk), 9, -1)
            volumes = np.array([structures[i].get_volume() for i in chunk])
            rows = (rows[:, voigt] / volumes[:, None, None]).reshape(len(chunk) * 6, -1)
            y = stress[chunk].reshape(len(chunk), 9)[:, voigt].reshape(-1)
            eq.add(rows, y, np.ones(len(y)))
        return eq

    def _validate(self, kernel, structures, residual, forces, with_forces, stress, start):
        n = len(structures)
        n_val = int(round(self.validation_fraction * n))
        if not 1 <= n_val < n:
            raise ConfigError(
                f"'validation_fraction' {self.validation_fraction!r} leaves {n_val} of {n} "
                "structures for validation; it needs at least one on each side.")
        order = np.random.default_rng(self.random_state).permutation(n)
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        sizes = np.array([len(a) for a in structures])
        offsets = np.concatenate([[0], np.cumsum(sizes)])

        def subset(idx):
            atoms = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in idx])
            f = None if forces is None else forces[atoms]
            s = None if stress is None else stress[idx]
            return [structures[i] for i in idx], residual[idx], f, with_forces[idx], s

        train_blocks = self._accumulate(kernel, *subset(train))
        rows: list = []
        val_blocks = self._accumulate(kernel, *subset(val), keep_rows=rows)
        e_rows = [r for r in rows if r[0] == "energy"]
        K_E, y_E, n_E, pv_E = (np.concatenate([r[k] for r in e_rows]) for k in range(1, 5))
        f_rows = [r for r in rows if r[0] == "forces"]
        K_F, y_F, pv_F = ((np.concatenate([r[k] for r in f_rows]) if f_rows else None)
                          for k in (1, 2, 4))
        var_E = max(float(np.var(y_E / n_E)), 1e-12)
        var_F = max(float(np.var(y_F)), 1e-12) if y_F is not None else 1.0

        def loss(t):
            d, se, sf = np.exp(t)
            try:
                sol = solve_normal_equations(d**2 * train_blocks.K_MM,
                                             train_blocks.equations(d, se, sf),
                                             self.jitter * d**2)
            except np.linalg.LinAlgError:
                return 1e300
            c = d**2 * sol.weights
            value = float(np.mean(((K_E @ c - y_E) / n_E) ** 2)) / var_E
            if K_F is not None:
                value += float(np.mean((K_F @ c - y_F) ** 2)) / var_F
            return value

        t0 = np.log(start)
        with warnings.catch_warnings():      # trial points may need jitter; say nothing
            warnings.simplefilter("ignore", UserWarning)
            start_loss = loss(t0)
            result = minimize(loss, t0, method="Nelder-Mead", bounds=_BOUNDS,
                              options={"xatol": 1e-2, "fatol": 1e-4, "maxiter": 200})
        d, se, sf = (float(v) for v in np.exp(result.x))
        # The mean depends only on sigma/delta, so one common scale s of (delta, sigma_E,
        # sigma_F) is free: choose it so that the held-out z-scores have unit variance,
        # which calibrates the predictive standard deviations without changing predictions.
        sol = solve_normal_equations(d**2 * train_blocks.K_MM,
                                     train_blocks.equations(d, se, sf), self.jitter * d**2)
        c = d**2 * sol.weights
        z2 = [((K_E @ c - y_E) ** 2 / (predictive_variance(d**2 * K_E, d**2 * pv_E, sol)
                                       + se**2 * n_E))]
        if K_F is not None:
            z2.append((K_F @ c - y_F) ** 2 / (predictive_variance(d**2 * K_F, d**2 * pv_F, sol)
                                              + sf**2))
        scale = float(np.sqrt(np.mean(np.concatenate(z2))))
        d, se, sf = d * scale, se * scale, sf * scale
        blocks = train_blocks.merged(val_blocks)
        log.info("hyperparameters by validation on %d held-out structures: delta %.4g eV, "
                 "sigma_E %.3g eV/atom, sigma_F %.3g eV/Å (relative MSE %.4g, start %.4g)",
                 n_val, d, se, sf, result.fun, start_loss)
        return blocks, d, se, sf

    def _optimise(self, blocks: _Blocks, delta, sigma_e, sigma_f):
        use_f = blocks.forces.n > 0

        def unpack(t):
            return np.exp(t[0]), np.exp(t[1]), (np.exp(t[2]) if use_f else sigma_f)

        def objective(t):
            d, se, sf = unpack(t)
            try:
                sol = solve_normal_equations(d**2 * blocks.K_MM, blocks.equations(d, se, sf),
                                             self.jitter * d**2)
            except np.linalg.LinAlgError:
                return 1e300
            return -sol.log_marginal_likelihood

        t0 = np.log([delta, sigma_e] + ([sigma_f] if use_f else []))
        bounds = _BOUNDS[: len(t0)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            # finite differences in log space with a step well above the rounding noise
            # of the log-determinants of nearly singular K_MM
            result = minimize(objective, t0, method="L-BFGS-B", bounds=bounds,
                              options={"eps": 1e-4})
        d, se, sf = unpack(result.x)
        log.info("hyperparameters by log marginal likelihood: delta %.4g eV, sigma_E %.3g "
                 "eV/atom, sigma_F %.3g eV/Å", d, se, sf)
        return float(d), float(se), float(sf)

    def _fit_reference(self, counts, y) -> np.ndarray:
        if isinstance(self.reference, Mapping):
            symbols = [ase.data.chemical_symbols[z] for z in self.species_]
            missing = [s for s in symbols if s not in self.reference]
            if missing:
                raise ConfigError(
                    f"'reference' has no value for {missing}; give one per element "
                    f"{symbols} or use 'fit'.")
            return np.array([float(self.reference[s]) for s in symbols])
        check_choice(str(self.reference), ("fit", "none"), "reference")
        if self.reference == "none":
            return np.zeros(len(self.species_))
        return np.linalg.lstsq(counts, y, rcond=None)[0]

    def _per_element(self, env: Environments) -> dict[int, int]:
        """Sparse points of each element."""
        n_env = len(env.numbers)
        available = {int(z): int(np.sum(env.numbers == z)) for z in self.species_}
        if isinstance(self.n_sparse, Mapping):
            symbols = {ase.data.chemical_symbols[z]: z for z in available}
            missing = sorted(set(symbols) - set(self.n_sparse))
            if missing:
                raise ConfigError(
                    f"'n_sparse' has no count for element(s) {missing} of the training set; "
                    f"give one per element {sorted(symbols)}.")
            wanted = {symbols[s]: int(n) for s, n in self.n_sparse.items() if s in symbols}
            for z, n in wanted.items():
                if n > available[z]:
                    raise ConfigError(
                        f"'n_sparse' asks for {n} {ase.data.chemical_symbols[z]} sparse points "
                        f"but the training set has {available[z]} such environments; use at "
                        f"most {available[z]}.")
            return wanted
        if self.n_sparse > n_env:
            raise ConfigError(
                f"The 'n_sparse' parameter must be an int in the range [1, n_environments]. "
                f"Got {self.n_sparse!r} instead (the training set has {n_env} environments).")
        return {z: min(n, max(1, int(round(self.n_sparse * n / n_env))))
                for z, n in available.items()}

    def _select(self, env: Environments) -> np.ndarray:
        shares = self._per_element(env)
        chosen = []
        for k, z in enumerate(self.species_):
            rows = np.flatnonzero(env.numbers == z)
            share = shares[int(z)]
            picked = select_sparse_points(env.unit[rows], share, self.selection,
                                          random_state=self.random_state + k,
                                          what="environments")
            chosen.append(np.sort(rows[picked]))
        # grouped by element: the kernel's per-element blocks are then contiguous columns
        return np.concatenate(chosen)

    # -- prediction -------------------------------------------------------------------
    def predict(self, structures: Sequence[ase.Atoms], *, targets=None,
                return_std: bool = False):
        """Energies, forces (and stress of periodic cells), optionally with std.

        Parameters
        ----------
        structures : sequence of ase.Atoms
        targets : sequence of str, optional
            Subset of ``"energy"``, ``"forces"``, ``"stress"`` (default: energy and
            forces; stress too when every structure is periodic).
        return_std : bool
            Also return the latent (DTC) standard deviations of energy and forces.

        Returns
        -------
        dict, or (dict, dict) with ``return_std``
            ``energy`` (n_structures,) eV, ``forces`` (n_atoms_total, 3) eV/Å, ``stress``
            (n_structures, 3, 3) eV/Å^3.
        """
        if not hasattr(self, "solution_"):
            raise NotFittedError(
                "This SparseGPRModel instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")
        structures = list(structures)
        spec = self._spec()
        is_energy = spec.name == "energy"
        periodic = all(a.pbc.all() for a in structures)
        wanted = (set(targets) if targets is not None else
                  {spec.name} | ({"forces"} | ({"stress"} if periodic else set())
                                 if is_energy else set()))
        unknown = wanted - set(self.supported_targets)
        if unknown:
            raise ConfigError(f"This model cannot predict {sorted(unknown)}; it predicts "
                              f"{sorted(self.supported_targets)}.")
        if "stress" in wanted and not periodic:
            raise DataError("Stress needs fully periodic cells; some structures are not.")
        grads = tuple(g for g, name in (("positions", "forces"), ("strain", "stress"))
                      if name in wanted)
        w = self.solution_.weights
        out = {name: [] for name in wanted}
        std = {name: [] for name in wanted & {spec.name, "forces"}}
        for _, chunk in self._chunks(structures, "predict"):
            if not return_std:
                for name, value in self._predict_fast(chunk, wanted, grads).items():
                    out[name].append(value)
                continue
            env, f = self._compute(chunk, grads)
            K_E = self.kernel_.energy_rows(env, self.sparse_)
            counts = self._composition(chunk)
            out[spec.name].append(K_E @ w + counts @ self.reference_)
            if return_std and spec.name in std:
                prior = self.kernel_.energy_prior_variance(env)
                std[spec.name].append(np.sqrt(predictive_variance(K_E, prior, self.solution_)))
            if grads:
                dedx = self.kernel_.descriptor_gradient(env, self.sparse_, w)   # [n, D]
            if "forces" in wanted:
                n_atoms = len(env.numbers)
                per_pair = np.einsum("pcd,pd->pc", f.gradient_values, dedx[f.gradient_center])
                F = np.zeros((n_atoms, 3))
                np.add.at(F, f.gradient_atom, -per_pair)
                out["forces"].append(F)
                if return_std:
                    rows = self.kernel_.derivative_rows(env, self.sparse_, f.gradient_values,
                                                        f.gradient_center, f.gradient_atom,
                                                        n_atoms,
                                                        nonzero_blocks=f.gradient_blocks)
                    prior = self.kernel_.derivative_prior_variance(
                        env, f.gradient_values, f.gradient_center, f.gradient_atom, n_atoms)
                    var = predictive_variance(rows, prior, self.solution_)
                    std["forces"].append(np.sqrt(var).reshape(n_atoms, 3))
            if "stress" in wanted:
                dE = np.einsum("iabd,id->iab", f.strain_gradients, dedx)
                per_structure = np.zeros((len(chunk), 3, 3))
                np.add.at(per_structure, env.structure, dE)
                volumes = np.array([a.get_volume() for a in chunk])
                out["stress"].append(per_structure / volumes[:, None, None])
        pred = {k: np.concatenate(v) for k, v in out.items()}
        if return_std:
            return pred, {k: np.concatenate(v) for k, v in std.items()}
        return pred

    def _predict_fast(self, chunk, wanted, grads) -> dict[str, np.ndarray]:
        """Energy, forces and stress without uncertainty: forces as a vector-Jacobian
        product through the spherical expansion (no power-spectrum gradients formed)."""
        spec = self._spec()
        exp = self.descriptor_.expand(chunk, gradients=grads)
        env = Environments.from_values(exp.values, exp.numbers, exp.structure_index)
        w = self.solution_.weights
        K_E, dedx = self.kernel_.energy_rows_and_gradient(env, self.sparse_, w)
        out = {spec.name: K_E @ w + self._composition(chunk) @ self.reference_}
        if "forces" in wanted:
            out["forces"] = -exp.vjp_positions(dedx, len(env.numbers))
        if "stress" in wanted:
            volumes = np.array([a.get_volume() for a in chunk])
            out["stress"] = exp.vjp_strain(dedx, len(chunk)) / volumes[:, None, None]
        return out

    def noise_std(self, name: str, structures: Sequence[ase.Atoms]) -> np.ndarray:
        """Observation noise of the fit for ``name`` (to add to latent std for calibration)."""
        if name == "forces":
            return np.full((sum(len(a) for a in structures), 3), self.sigma_forces_)
        n = np.array([len(a) for a in structures], float)
        return self.sigma_ * (np.sqrt(n) if self.aggregation == "sum" else np.ones_like(n))

    # -- files ------------------------------------------------------------------------
    def get_params(self) -> dict:
        return {"kernel": self.kernel, "zeta": self.zeta, "length_scale": self.length_scale,
                "delta": self.delta, "n_sparse": self.n_sparse, "selection": self.selection,
                "sigma": self.sigma, "sigma_forces": self.sigma_forces,
                "sigma_stress": self.sigma_stress, "hyperparameters": self.hyperparameters,
                "validation_fraction": self.validation_fraction, "jitter": self.jitter,
                "aggregation": self.aggregation, "reference": self.reference,
                "require_forces": self.require_forces, "memory_limit": self.memory_limit,
                "chunk_size": self.chunk_size, "random_state": self.random_state}

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` (atomically, versioned, no pickle)."""
        if not hasattr(self, "solution_"):
            raise NotFittedError("This SparseGPRModel instance is not fitted yet; fit it "
                                 "before saving.")
        sol = self.solution_
        keys = self.keys or KeySpec()
        write_model_file(
            path, cls=self.registry_name, params=self.get_params(),
            arrays={"sparse_unit": self.sparse_.unit, "sparse_norm": self.sparse_.norm,
                    "sparse_numbers": self.sparse_.numbers,
                    "sparse_indices": self.sparse_indices_, "weights": sol.weights,
                    "L": sol.L, "R": sol.R, "reference": self.reference_,
                    "species": self.species_},
            targets=[self._spec().to_dict()], descriptor=self.descriptor_.get_params(),
            keys={"ref_prefix": keys.ref_prefix, "pred_prefix": keys.pred_prefix,
                  "overrides": keys.overrides},
            fitted={"delta": self.delta_, "sigma": self.sigma_,
                    "sigma_forces": self.sigma_forces_},
            log_marginal_likelihood=sol.log_marginal_likelihood)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseGPRModel:
        from ._base import load_model

        model = load_model(path)
        if not isinstance(model, cls):
            raise ConfigError(f"'{path}' holds a {type(model).__name__}, not a {cls.__name__}.")
        return model

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict) -> SparseGPRModel:
        model = cls(target=TargetSpec.from_dict(meta["targets"][0]),
                    descriptor=SoapPowerSpectrum(**meta["descriptor"]),
                    keys=KeySpec(**meta["keys"]), **meta["params"])
        model.descriptor_ = SoapPowerSpectrum(**meta["descriptor"])
        model.species_ = arrays["species"]
        fitted = meta["fitted"]
        model.delta_, model.sigma_ = fitted["delta"], fitted["sigma"]
        model.sigma_forces_ = fitted["sigma_forces"]
        model.kernel_ = model._make_kernel(model.delta_)
        model.sparse_ = Environments(arrays["sparse_unit"], arrays["sparse_norm"],
                                     arrays["sparse_numbers"],
                                     np.zeros(len(arrays["sparse_numbers"]), int))
        model.sparse_indices_ = arrays["sparse_indices"]
        model.reference_ = arrays["reference"]
        model.solution_ = SparseSolution(arrays["weights"], arrays["L"], arrays["R"],
                                         float(meta["log_marginal_likelihood"]))
        return model


def _gradient_pairs(structures) -> int:
    """Estimated (centre, neighbour) gradient pairs: every atom within the cutoff of
    another, at most 60 neighbours each."""
    return sum(min(len(a), 60) * len(a) for a in structures)


def _chunk_key(structures) -> tuple[int, ...]:
    return tuple(id(a) for a in structures)


def _resident_memory() -> float:
    """Resident memory of this process in bytes (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm") as fh:
            return float(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return 0.0


def _available_memory() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return float("inf")
