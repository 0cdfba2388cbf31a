"""Sparse GPR potentials and invariant targets (GAP style) from SOAP environments."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from scipy.linalg import solve_triangular

from ...descriptors import SoapPowerSpectrum
from ...errors import ConfigError, DataError, NotFittedError, check_choice
from ...gp.factor import update_triangle
from ...gp.selection import SELECTIONS, check_n_sparse, select_per_element, sparse_counts
from ...gp.solver import SparseSolution, predictive_variance
from ...kernels import (
    RBF,
    AtomicEnvironments,
    AtomSumKernel,
    ConstantKernel,
    NormalizedDotProduct,
)
from ...structures.io import where
from ...targets import Dataset
from ...targets import density_of_states as dos
from .. import register
from ..base import StructureModel
from ..hypers import check_positive
from . import memory, search
from .equations import KernelRows
from .hypers import LAYOUTS, SparseGPRHypers

log = logging.getLogger(__name__)

KERNELS = ("soap", "rbf")
HYPERPARAMETERS = ("fixed", "likelihood", "validation")


@register("sparse_gpr")
class SparseGPRModel(StructureModel):
    """Sparse GPR: a structure's target as a sum (or mean) of atomic contributions.

    Each contribution :math:`e(x) = \\sum_m c_m k(x, x_m)` is a sparse GP over unit SOAP
    power spectra with its own function per element. Target values (noise
    :math:`\\sigma^2 n_{atoms}` for extensive targets), force components (noise
    :math:`\\sigma_F^2`) and stress components are fitted in one solve of the lecture's
    sparse-GPR equations; force rows are the derivative observations
    :math:`F_{j\\alpha} = -\\partial E/\\partial r_{j\\alpha}` built from featomic's analytic
    descriptor gradients. Spectra (vectors of invariants) share one factorisation for all
    their columns. Predictions come with the DTC standard deviation of the target and of
    every force component.

    Parameters
    ----------
    targets : TargetSpec, optional
        One per-structure or per-atom scalar or spectrum; default ``energy(forces=True)``.
    keys : KeySpec, optional
    **hypers
        See :class:`~atomlearn.models.sparse_gpr.hypers.SparseGPRHypers`.

    Examples
    --------
    >>> from ase.build import molecule
    >>> from atomlearn.calculators import ModelCalculator  # doctest: +SKIP
    >>> model = SparseGPRModel(n_sparse=50, descriptor={"n_max": 4, "l_max": 3})
    >>> model.kernel.zeta, model.hypers.descriptor.cutoff
    (4, 5.0)
    """

    Hypers = SparseGPRHypers
    supported_layouts = LAYOUTS["sparse_gpr"]
    supported_gradients = ("forces", "stress")

    @property
    def missing_gradients(self) -> str:
        return "error" if self.hypers.require_forces else "warn"

    # -- set-up -----------------------------------------------------------------------
    def check_hypers(self) -> None:
        super().check_hypers()
        h = self.hypers
        check_choice(h.kernel.type, KERNELS, "kernel type")
        check_choice(h.selection, SELECTIONS, "sparse-point selection")
        check_choice(h.hyperparameters, HYPERPARAMETERS, "hyperparameters")
        for name in ("sigma", "sigma_forces", "sigma_stress", "jitter"):
            check_positive(getattr(h, name), f"model.{name}", strict=name != "jitter")
        for name in ("delta", "zeta", "length_scale"):
            check_positive(getattr(h.kernel, name), f"model.kernel.{name}")
        for name in ("chunk_size", "memory_limit", "task_rows"):
            check_positive(getattr(h, name), f"model.{name}")
        check_n_sparse(h.n_sparse)

    def _check_fit_data(self, data: Dataset) -> None:
        for name, spec in data.specs.items():
            missing = ~np.isfinite(data.labels[name]).reshape(data.n_structures, -1)
            if missing.any():
                first = int(np.flatnonzero(missing.any(axis=1))[0])
                grid = dos.dos_options(spec).grid if dos.is_dos(spec) else None
                top = (f" (the grid above {grid[np.argmax(missing[first])]:.3g} eV)"
                       if grid is not None else "")
                raise DataError(
                    f"{int(missing.any(axis=1).sum())} training structures have missing "
                    f"{name!r} labels (first: {where(data.structures[first], first)}"
                    f"{top}): their computed levels end below the grid. sparse_gpr solves "
                    "every grid point at once; lower 'e_max' below the highest computed "
                    "levels, or learn this target with a network (bpnn, mpnn), whose loss "
                    "skips missing labels.")

    def unit_kernel(self, delta: float = 1.0) -> AtomSumKernel:
        """The structure kernel :math:`\\delta^2 k` on unit SOAP environments."""
        k = self.hypers.kernel
        env = (NormalizedDotProduct(zeta=k.zeta) if k.type == "soap"
               else RBF(k.length_scale, length_scale_bounds="fixed"))
        if delta != 1.0:
            env = ConstantKernel(delta**2, constant_value_bounds="fixed") * env
        return AtomSumKernel(env, aggregation=self.aggregation)

    @property
    def aggregation(self) -> str:
        """How atomic contributions make a structure's value: ``"sum"`` for extensive
        targets, ``"mean"`` for intensive ones (the same for a cell and its supercells)."""
        if hasattr(self, "aggregation_"):   # as loaded (files that do not say it summed)
            return self.aggregation_
        spec = self.target_specs[0]
        return "sum" if spec.extensive or spec.per_atom else "mean"

    def memory_estimate(self, structures) -> float:
        """Estimated peak memory of :meth:`fit` on ``structures``, in bytes."""
        h, spec = self.hypers, self.target_specs[0]
        return memory.fit_bytes(list(structures), n_sparse=h.n_sparse,
                                n_max=h.descriptor.n_max, l_max=h.descriptor.l_max,
                                chunk_size=h.chunk_size, with_forces="forces" in spec.gradients)

    def _held_out_size(self, n_structures: int) -> int:
        # held-out structures calibrate the std and, with "validation", choose the
        # hyperparameters; too few on either side would only fit noise
        return self._calibration_held_out(n_structures)

    # -- fitting ----------------------------------------------------------------------
    def _fit(self, data: Dataset, held_out: np.ndarray | None):
        h = self.hypers
        self.__dict__.pop("aggregation_", None)     # a refit decides it from its target
        spec = self.target_specs[0]
        self.descriptor_ = SoapPowerSpectrum(**dataclasses.asdict(h.descriptor),
                                             species=self.species_)
        with_forces = (data.has_gradient("forces") if "forces" in spec.gradients
                       else np.zeros(data.n_structures, bool))
        memory.check_memory(
            memory.fit_bytes(data.structures, n_sparse=h.n_sparse, n_max=h.descriptor.n_max,
                             l_max=h.descriptor.l_max, chunk_size=h.chunk_size,
                             with_forces=bool(with_forces.any())),
            h.memory_limit, "fit",
            f"Use fewer sparse points ('model.n_sparse', now {h.n_sparse}) or smaller chunks "
            f"('model.chunk_size', now {h.chunk_size}).")
        rows = KernelRows(self.descriptor_, self.unit_kernel(), h.chunk_size, h.task_rows)
        start = search.Hyperparameters(h.kernel.delta, h.sigma, h.sigma_forces)
        groups = [data] if held_out is None else list(data.split(held_out))
        masks = [g.has_gradient("forces") if "forces" in spec.gradients
                 else np.zeros(g.n_structures, bool) for g in groups]
        try:
            # The selection pass needs values only. When the expansions with their position
            # gradients fit in a bounded cache, compute them once here for the row pass.
            cache = (with_forces.any()
                     and memory.expansion_bytes(data.structures, len(self.species_),
                                                h.descriptor.n_max, h.descriptor.l_max)
                     < min(memory.EXPANSION_CACHE, 0.25 * memory.available_memory()))
            env = rows.all_environments([g.structures for g in groups],
                                        masks if cache else None)
            self.sparse_indices_ = self._select(env)
            self.sparse_ = env.points(self.sparse_indices_)
            del env
            executor = self.__dict__.get("executor")
            if executor is not None:
                self._check_task_memory(groups[0], spec, executor)
            parts = [rows.accumulate(g, spec, self.sparse_, h.sigma_stress, keep=k == 1,
                                     executor=executor if k == 0 else None)
                     for k, g in enumerate(groups)]
        finally:
            rows.expansions = {}
        terms = parts[0][0] if len(parts) == 1 else parts[0][0] + parts[1][0]
        kept = parts[1][1] if len(parts) == 2 else None
        if h.hyperparameters == "validation" and kept is None:
            log.info("%d training structures are too few to hold some out for a validation "
                     "search; delta, sigma and sigma_forces kept as given",
                     data.n_structures)
        elif h.hyperparameters == "validation":
            start = search.by_validation(parts[0][0], kept, start, h.jitter)
            log.info("hyperparameters by validation on %d held-out structures: %s",
                     groups[1].n_structures, self._describe(start, terms))
        elif h.hyperparameters == "likelihood":
            start = search.by_likelihood(terms, start, h.jitter)
            log.info("hyperparameters by log marginal likelihood: %s",
                     self._describe(start, terms))
        predicted = None
        if kept is not None:
            # the held-out structures' predictions by the fit without them calibrate the
            # std; the final fit then adds their factors (an O(M^3) solve, no new rows)
            predicted = self._held_out_predictions(
                groups[1], spec, kept, *search.held_out_predictions(parts[0][0], kept, start,
                                                                    h.jitter))
        self.fitted_ = start
        self.solution_ = start.solve(terms, h.jitter)
        self.factors_ = terms      # per observation type, for updates and new noise levels
        self.__dict__.pop("_augmented", None)
        self.__dict__.pop("_pending", None)
        observations = ", ".join(f"{n} {what}" for n, what in (
            (terms.values.n, f"{spec.name} values"), (terms.forces.n, "force components"),
            (terms.stress.n, "stress components")) if n)
        log.info("fitted %s with %d sparse environments (%s, log ML %.6g)", observations,
                 len(self.sparse_indices_), self._describe(start, terms),
                 self.solution_.log_marginal_likelihood)
        return predicted

    # -- updates ----------------------------------------------------------------------
    def update(self, structures, labels=None) -> SparseGPRModel:
        """Add labelled structures without refactorising the rows already fitted.

        The stacked triangular factor :math:`[R_S\\,|\\,z]` of the fit (prior rows and every
        observation, noise-scaled at the fitted hyperparameters) takes the k new rows by
        LAPACK's triangular-pentagonal QR (``tpqrt``, in place, 2 k M^2 flops), and the
        weights follow by one triangular solve (M^2): the result equals a fit of the old
        and new structures with the same sparse points and hyperparameters
        (:meth:`consolidate`). The factor of each observation type takes the rows too
        when :meth:`refit_noise` next needs them (for a model fitted in this process), so
        the noise levels can change at O(M^3). Sparse points, the composition baseline
        and the std calibration stay as they are.

        Parameters
        ----------
        structures : sequence of ase.Atoms
        labels : mapping of str to array, optional
            As for :meth:`fit`.

        Returns
        -------
        self
        """
        spec, h = self.target_specs[0], self.hypers
        data = self._learned_labels(structures, labels)
        if not hasattr(self, "solution_"):
            raise NotFittedError("New sparse points were added; call 'consolidate' with "
                                 "every structure before updating.")
        rows = KernelRows(self.descriptor_, self.unit_kernel(), h.chunk_size)
        sigma = {"values": self.fitted_.sigma, "forces": self.fitted_.sigma_forces,
                 "stress": h.sigma_stress}
        blocks = []
        for (K, y, scale, _), forces in rows.chunk_rows(data, spec, self.sparse_):
            blocks.append(("values", K, y, scale))
            if forces is not None:
                blocks.append(("forces", forces[0], forces[1], np.ones(len(forces[1]))))
        blocks += [("stress", r, y, np.ones(len(y)))
                   for r, y in rows.stress_rows(data, spec, self.sparse_)]
        augmented = self._augmented_factor()
        M, d2 = len(self.sparse_.numbers), self.fitted_.delta**2
        scaled = []
        for kind, K, y, scale in blocks:
            s = 1.0 / (sigma[kind] * np.sqrt(scale))
            scaled.append(np.hstack([K * s[:, None], y.reshape(len(K), -1) * s[:, None]]))
        update_triangle(augmented, d2 * np.vstack(scaled))
        if getattr(self, "factors_", None) is not None:
            # the factors of each type take these rows when they are next needed
            self.__dict__.setdefault("_pending", []).extend(blocks)
        R = augmented[:M, :M]                   # delta^2 R_S, upper triangular
        u = solve_triangular(R, augmented[:M, M:], lower=False, check_finite=False)
        weights = u[:, 0] / d2 if self.solution_.weights.ndim == 1 else u / d2
        self.solution_ = SparseSolution(weights, self.solution_.L, R.T, np.nan)
        self.n_train_ = self.n_train_ + data.n_structures
        return self

    def consolidate(self, structures, labels=None) -> SparseGPRModel:
        """Rebuild the fit from every row of ``structures`` (all the structures it should
        hold) with the current sparse points and hyperparameters: what :meth:`update`
        equals, and the batched refit after which new sparse points or descriptor
        settings take effect."""
        h, spec = self.hypers, self.target_specs[0]
        data = self._learned_labels(structures, labels)
        rows = KernelRows(self.descriptor_, self.unit_kernel(), h.chunk_size)
        self.factors_ = rows.accumulate(data, spec, self.sparse_, h.sigma_stress,
                                        executor=self.__dict__.get("executor"))[0]
        self.solution_ = self.fitted_.solve(self.factors_, h.jitter)
        self.__dict__.pop("_augmented", None)
        self.__dict__.pop("_pending", None)
        self.n_train_ = data.n_structures
        return self

    def add_sparse_points(self, structures, atoms: list) -> SparseGPRModel:
        """Make the environments of atoms ``atoms[k]`` (indices) of ``structures[k]``
        sparse points; they take effect with the next :meth:`consolidate`, which must
        follow before predictions."""
        structures = list(structures)
        f = self.descriptor_.compute(structures)
        env = AtomicEnvironments.from_values(f.values, f.numbers, f.structure_index,
                                             len(structures))
        starts = np.concatenate([[0], np.cumsum([len(a) for a in structures])])
        rows = np.concatenate([starts[k] + np.asarray(idx, int)
                               for k, idx in enumerate(atoms)]).astype(int)
        self.sparse_ = AtomicEnvironments.concatenate([self.sparse_.points(),
                                                       env.points(rows)])
        self.sparse_indices_ = np.concatenate([self.sparse_indices_,
                                               np.full(len(rows), -1)])
        self.__dict__.pop("solution_", None)       # stale until consolidated
        return self

    def refit_noise(self, sigma: float | None = None, sigma_forces: float | None = None
                    ) -> SparseGPRModel:
        """New noise levels from the factors of each observation type at O(M^3), without
        the data (only for a model fitted or consolidated in this process)."""
        if getattr(self, "factors_", None) is None:
            raise NotFittedError("The factors of each observation type are kept only in the "
                                 "process that fitted the model; call 'consolidate' with "
                                 "its structures first.")
        for kind, K, y, scale in self.__dict__.pop("_pending", []):
            getattr(self.factors_, kind).add(K, y, scale)
        f = self.fitted_
        self.fitted_ = search.Hyperparameters(f.delta, sigma or f.sigma,
                                              sigma_forces or f.sigma_forces)
        self.solution_ = self.fitted_.solve(self.factors_, self.hypers.jitter)
        self.__dict__.pop("_augmented", None)
        return self

    def _augmented_factor(self) -> np.ndarray:
        """:math:`\\delta^2[R_S\\,|\\,z]` of the current solution as a square Fortran array
        (built once, then updated in place)."""
        if getattr(self, "_augmented", None) is None:
            sol = self.solution_
            M = len(sol.R)
            w = sol.weights.reshape(M, -1)
            upper = sol.R.T                     # delta^2 R_S
            a = np.zeros((M + w.shape[1], M + w.shape[1]), order="F")
            a[:M, :M] = upper
            a[:M, M:] = self.fitted_.delta**2 * (upper @ w)      # delta^2 z = delta^2 R_S u
            self._augmented = a
        return self._augmented

    def _check_task_memory(self, data: Dataset, spec, executor) -> None:
        """Print what one task of a tree fit holds and what the merges hold here; refuse
        up front when a worker has less memory than one task needs, with a chunk size
        that fits."""
        from ...executors import slots
        from .equations import fit_tasks

        h = self.hypers
        M = len(self.sparse_.numbers)
        forces = "forces" in spec.gradients and bool(data.has_gradient("forces").any())
        resident = executor.submit(memory.worker_resident).result()
        limit = memory.worker_limit(executor)
        # the largest chunk of structures bounds a task's peak
        biggest = sorted(data.structures, key=len, reverse=True)

        def need(chunk_size: int) -> float:
            return memory.task_bytes(biggest[:chunk_size], n_sparse=M,
                                     n_features=self.descriptor_.n_features,
                                     with_forces=forces, resident=resident)

        tasks = fit_tasks(data, spec, M, h.chunk_size, h.task_rows)
        # the tree's open levels and the arrivals waiting for their turn, two triangles each
        held = (np.ceil(np.log2(max(2, len(tasks)))) + 2 * slots(executor)) * 2 * (M + 1) ** 2 * 8
        log.info("fit on %d tasks (chunks of %d structures): about %.2f GB per task on a "
                 "worker (limit %.2f GB), %.2f GB in all at once on %d workers; the merges "
                 "hold up to %.2f GB here", len(tasks), h.chunk_size, need(h.chunk_size) / 2**30,
                 limit / 2**30, need(h.chunk_size) * slots(executor) / 2**30, slots(executor),
                 held / 2**30)
        if need(h.chunk_size) <= limit:
            return
        fits = [c for c in range(h.chunk_size - 1, 0, -1) if need(c) <= limit]
        advice = (f"Try 'model.chunk_size={fits[0]}'." if fits else
                  f"Even one structure per chunk needs {need(1) / 2**30:.2f} GB: use fewer "
                  f"sparse points ('model.n_sparse', now {h.n_sparse}) or workers with more "
                  "memory.")
        raise ConfigError(
            f"One task of this fit needs about {need(h.chunk_size) / 2**30:.2f} GB "
            f"(chunks of {h.chunk_size} structures, {M} sparse points), but a worker may use "
            f"{limit / 2**30:.2f} GB. {advice}")

    def _describe(self, h: search.Hyperparameters, terms) -> str:
        spec = self.target_specs[0]
        unit = spec.unit + ("/atom" if spec.extensive and not spec.per_atom else "")
        out = f"delta {h.delta:.4g} {unit}, sigma {h.sigma:.3g} {unit}"
        return out + (f", sigma_forces {h.sigma_forces:.3g} eV/Å" if terms.forces.n else "")

    def _held_out_predictions(self, held: Dataset, spec, kept, mean, std):
        """Held-out rows' predictions in the layout of the labels (for calibration)."""
        shape = held.labels[spec.name].shape
        out_mean = {spec.name: mean["values"].reshape(shape)}
        out_std = {spec.name: _broadcast(std["values"], shape)}
        if "forces" in mean:
            n = int(held.offsets[-1])
            m, s = np.zeros(3 * n), np.zeros(3 * n)
            m[kept.forces_rows], s[kept.forces_rows] = mean["forces"], std["forces"]
            out_mean["forces"], out_std["forces"] = m.reshape(n, 3), s.reshape(n, 3)
        return out_mean, out_std

    def _select(self, env: AtomicEnvironments) -> np.ndarray:
        counts = sparse_counts(env.numbers, self.hypers.n_sparse)
        return select_per_element(env.unit, env.numbers, counts, self.hypers.selection,
                                  random_state=self.hypers.random_state)

    # -- prediction -------------------------------------------------------------------
    @property
    def kernel_(self) -> AtomSumKernel:
        """The fitted structure kernel (prior scale included)."""
        return self.unit_kernel(self.fitted_.delta)

    def _predict(self, structures, names, return_std):
        spec = self.target_specs[0]
        h = self.hypers
        memory.check_memory(
            memory.predict_bytes(structures, n_sparse=len(self.sparse_.numbers),
                                 n_features=self.descriptor_.n_features,
                                 n_species=len(self.species_), n_max=h.descriptor.n_max,
                                 l_max=h.descriptor.l_max, chunk_size=h.chunk_size,
                                 forces="forces" in names, std=return_std),
            h.memory_limit, "prediction",
            f"Predict fewer structures at a time ('model.chunk_size', now {h.chunk_size}), "
            "or without the standard deviations.", level=logging.DEBUG)
        grads = tuple(g for g, n in (("positions", "forces"), ("strain", "stress"))
                      if n in names)
        kernel = self.kernel_
        out = {n: [] for n in names}
        std = {n: [] for n in names if n in (spec.name, "forces")} if return_std else {}
        for a in range(0, len(structures), self.hypers.chunk_size):
            chunk = structures[a : a + self.hypers.chunk_size]
            if spec.per_atom:
                parts, sparts = self._predict_per_atom(chunk, spec, kernel, return_std)
            else:
                parts, sparts = self._predict_fast(chunk, names, grads, spec, kernel,
                                                   return_std)
            for n in out:
                out[n].append(parts[n])
            for n in std:
                std[n].append(sparts[n])
        return ({n: np.concatenate(v) for n, v in out.items()},
                {n: np.concatenate(v) for n, v in std.items()})

    def _predict_fast(self, chunk, names, grads, spec, kernel, return_std=False):
        """Values, forces and stress, forces as a vector-Jacobian product through the
        spherical expansion (no power-spectrum gradients formed); with ``return_std``
        their DTC standard deviations, the forces' from the power-spectrum gradients
        built from the same expansion."""
        exp = self.descriptor_.expand(chunk, gradients=grads)
        env = AtomicEnvironments.from_values(exp.values, exp.numbers, exp.structure_index,
                                             len(chunk))
        w = self.solution_.weights
        if grads:                     # forces and stress belong to a scalar: w is a vector
            K, dedx = kernel.rows_and_gradient(env, self.sparse_, w)
        else:
            K = kernel.rows(env, self.sparse_)
        out = {spec.name: (K @ w).reshape(len(chunk), *spec.shape)}
        if "forces" in names:
            out["forces"] = -exp.vjp_positions(dedx, len(env.numbers))
        if "stress" in names:
            volumes = np.array([a.get_volume() for a in chunk])
            out["stress"] = exp.vjp_strain(dedx, len(chunk)) / volumes[:, None, None]
        out = {n: out[n] for n in names}
        if not return_std:
            return out, {}
        var = predictive_variance(K, kernel.diag(env), self.solution_)
        std = {spec.name: _broadcast(np.sqrt(var), out[spec.name].shape)}
        if "forces" in names:
            n = len(env.numbers)
            var = np.empty((n, 3))
            # a range of moved atoms at a time: the dense power-spectrum gradients of a
            # large cell would take gigabytes at once
            per_atom = 3 * 8 * self.descriptor_.n_features * sum(
                len(b[2]) for b in exp.position_blocks) / n
            step = max(1, int(memory.STD_CHUNK // per_atom))
            for lo in range(0, n, step):
                atoms = slice(lo, min(n, lo + step))
                gradient = self.descriptor_.position_gradient(exp, atoms)
                rows = kernel.derivative_rows(env, self.sparse_, gradient)
                prior = kernel.derivative_prior_variance(env, gradient)
                var[atoms] = predictive_variance(rows, prior, self.solution_).reshape(-1, 3)
            std["forces"] = np.sqrt(var)
        return out, std

    def _predict_per_atom(self, chunk, spec, kernel, return_std):
        f = self.descriptor_.compute(chunk)
        env = AtomicEnvironments.from_values(f.values, f.numbers, f.structure_index,
                                             len(chunk))
        K = kernel.environment_values(env, self.sparse_)
        out = {spec.name: (K @ self.solution_.weights).reshape(len(env.numbers), *spec.shape)}
        if not return_std:
            return out, {}
        prior = kernel.environment_kernel.profile(np.ones(len(env.numbers)))[0]
        var = predictive_variance(K, prior, self.solution_)
        return out, {spec.name: _broadcast(np.sqrt(var), out[spec.name].shape)}

    def _noise_std(self, name, structures) -> np.ndarray:
        h, spec = self.fitted_, self.target_specs[0]
        if name == "forces":
            return np.full((sum(len(a) for a in structures), 3), h.sigma_forces)
        if name == "stress":
            return np.full((len(structures), 3, 3), self.hypers.sigma_stress)
        if spec.per_atom:
            return np.full((sum(len(a) for a in structures), *spec.shape), h.sigma)
        n = np.array([len(a) for a in structures], float)
        per = h.sigma * (np.sqrt(n) if spec.extensive else np.ones_like(n))
        return _broadcast(per, (len(structures), *spec.shape))

    # -- state ------------------------------------------------------------------------
    def _state(self):
        sol = self.solution_
        fitted = {"delta": self.fitted_.delta, "sigma": self.fitted_.sigma,
                  "sigma_forces": self.fitted_.sigma_forces,
                  "log_marginal_likelihood": sol.log_marginal_likelihood,
                  "aggregation": self.aggregation}
        arrays = {"sparse/unit": self.sparse_.unit, "sparse/norm": self.sparse_.norm,
                  "sparse/numbers": self.sparse_.numbers,
                  "sparse/indices": self.sparse_indices_, "solution/weights": sol.weights,
                  "solution/L": sol.L, "solution/R": sol.R}
        return fitted, arrays

    def _restore(self, fitted, arrays) -> None:
        self.descriptor_ = SoapPowerSpectrum(**dataclasses.asdict(self.hypers.descriptor),
                                             species=self.species_)
        self.fitted_ = search.Hyperparameters(fitted["delta"], fitted["sigma"],
                                              fitted["sigma_forces"])
        self.aggregation_ = fitted.get("aggregation", "sum")
        numbers = arrays["sparse/numbers"]
        M = len(numbers)
        expected = {"sparse/unit": (M, self.descriptor_.n_features), "sparse/norm": (M,),
                    "solution/L": (M, M), "solution/R": (M, M)}
        for key, shape in expected.items():
            if arrays[key].shape != shape:
                raise ValueError(f"array {key!r} has shape {arrays[key].shape}, expected "
                                 f"{shape} for {M} sparse points")
        spec = self.target_specs[0]
        if arrays["solution/weights"].shape[0] != M or arrays["solution/weights"].size != (
                M * int(np.prod(spec.shape))):
            raise ValueError(f"array 'solution/weights' has shape "
                             f"{arrays['solution/weights'].shape} for {M} sparse points")
        if not set(numbers.tolist()) <= set(self.species_):
            raise ValueError("sparse points of elements the model does not know")
        self.sparse_ = AtomicEnvironments(arrays["sparse/unit"], arrays["sparse/norm"],
                                          numbers, np.arange(M), M)
        self.sparse_indices_ = arrays["sparse/indices"]
        self.solution_ = SparseSolution(arrays["solution/weights"], arrays["solution/L"],
                                        arrays["solution/R"],
                                        float(fitted["log_marginal_likelihood"]))


def _broadcast(per_row: np.ndarray, shape) -> np.ndarray:
    """Values of one number per row repeated over the row's components."""
    return np.broadcast_to(per_row.reshape(-1, *([1] * (len(shape) - 1))), shape).copy()
