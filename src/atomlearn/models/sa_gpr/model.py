"""Vectors, symmetric tensors, operators and densities by symmetry-adapted sparse GPR on
lambda-SOAP."""

from __future__ import annotations

import dataclasses

import numpy as np

from ...descriptors import LambdaSoap
from ...errors import ConfigError, check_choice
from ...gp.equivariant import HYPERPARAMETERS, SymmetryAdaptedGPR
from ...gp.selection import check_n_sparse
from ...gp.solver import SparseSolution
from ...kernels import EquivariantEnvironments
from ...targets import Dataset, dipole, operator_outputs
from ...targets.operators import levels
from ...targets.spherical import (
    spherical_basis,
    spherical_to_tensor,
    spherical_to_vector,
    tensor_to_spherical,
    vector_to_spherical,
)
from .. import register
from ..base import StructureModel
from ..hypers import check_positive
from .hypers import LAYOUTS, BlockOptions, SymmetryAdaptedGPRHypers

#: Spherical orders of each target kind.
LAMBDAS = {"vector": (1,), "rank2_symmetric": (0, 2)}


@register("sa_gpr")
class SymmetryAdaptedGPRModel(StructureModel):
    """Structure-level tensors by SA-GPR: a vector as lambda = 1, a symmetric rank-2
    tensor as lambda = 0 (trace) plus lambda = 2 (symmetric traceless part), recombined
    into Cartesian components; every prediction rotates exactly with the structure. An
    ``operator`` target (a Kohn-Sham matrix) is learned block by block
    (:mod:`~atomlearn.models.sa_gpr.operator`), and its orbital energies, HOMO, LUMO and
    gap follow from the predicted matrix with the exact overlap. ``density_coefficients``
    are learned per (element, lambda) channel (:mod:`~atomlearn.models.sa_gpr.density`),
    with the electrons and dipole of the predicted density.

    Parameters
    ----------
    targets : TargetSpec
        A ``vector``, ``rank2_symmetric``, ``operator`` or ``density_coefficients``
        per-structure target, e.g. ``dipole()`` (the default), ``polarizability()``,
        ``hamiltonian(72)`` or ``density_coefficients(335)``.
    keys : KeySpec, optional
    **hypers
        See :class:`~atomlearn.models.sa_gpr.hypers.SymmetryAdaptedGPRHypers`.
    """

    Hypers = SymmetryAdaptedGPRHypers
    supported_layouts = LAYOUTS["sa_gpr"]

    @classmethod
    def default_targets(cls):
        return [dipole()]

    def _held_out_size(self, n_structures: int) -> int:
        if self._is_operator:        # no predictive std to calibrate
            return 0
        return self._calibration_held_out(n_structures)

    @property
    def _spec(self):
        return self.target_specs[0]

    @property
    def _is_operator(self) -> bool:
        return self._spec.kind == "operator"

    @property
    def _is_blockwise(self) -> bool:
        """Learned channel by channel of an atom-centred basis (operators, densities)."""
        return self._spec.kind in ("operator", "density_coefficients")

    @property
    def supported_targets(self):
        out = super().supported_targets
        if self._is_operator:
            out.update({s.name: s for s in operator_outputs(self._spec)})
        return out

    @property
    def provides_uncertainty(self) -> bool:
        return not self._is_operator

    def _no_uncertainty_message(self) -> str:
        return ("SA-GPR of an operator target predicts matrices without standard "
                "deviations; predict without return_std (or learn the orbital energies "
                "directly with a GP family for their std).")

    def _blockwise_model(self):
        from ...descriptors.pair_soap import PairLambdaSoap
        from .density import DensityGPR
        from .operator import OperatorGPR

        h = self.hypers
        options = h.operator if self._is_operator else h.density
        shared = {f.name: getattr(options, f.name) for f in dataclasses.fields(BlockOptions)}
        descriptor = PairLambdaSoap(**dataclasses.asdict(h.descriptor),
                                    pair_cutoff=h.operator.pair_cutoff,
                                    pair_n_max=h.operator.pair_n_max,
                                    pair_l_max=h.operator.pair_l_max)
        gpr = {"zeta": h.kernel.zeta, "n_sparse": h.n_sparse, "sigma": h.sigma,
               "delta": h.kernel.delta, "hyperparameters": h.hyperparameters,
               "jitter": h.jitter, "chunk_size": h.chunk_size,
               "random_state": h.random_state}
        basis = self._spec.metadata["basis"]
        if self._is_operator:
            return OperatorGPR(basis, descriptor, gpr, orthogonal=options.orthogonal,
                               **shared)
        return DensityGPR(basis, descriptor, gpr, **shared)

    def _keys(self) -> list:
        """Sub-models: spherical orders, or Cartesian components for the naive model."""
        if self.hypers.symmetry_adapted:
            return list(LAMBDAS[self._spec.kind])
        return list(range(int(np.prod(self._spec.shape))))

    def _lambda(self, key) -> int:
        return key if self.hypers.symmetry_adapted else 0

    def _environments(self, structures) -> dict[int, EquivariantEnvironments]:
        lambdas = sorted({0, *(self._lambda(k) for k in self._keys())})
        feats = self.descriptor_.compute_equivariant(structures, lambdas)
        return {lam: EquivariantEnvironments.from_features(feats[lam], feats[0],
                                                           len(structures))
                for lam in lambdas}

    def _components(self, y: np.ndarray) -> dict:
        """Training targets per sub-model: spherical parts, or Cartesian columns."""
        if not self.hypers.symmetry_adapted:
            flat = y.reshape(len(y), -1)
            return {c: flat[:, [c]] for c in range(flat.shape[1])}
        if self._spec.kind == "vector":
            return {1: vector_to_spherical(y)}
        parts = tensor_to_spherical(y)
        return {0: parts[0], 2: parts[2]}

    # -- fitting ----------------------------------------------------------------------
    def check_hypers(self) -> None:
        super().check_hypers()
        h = self.hypers
        check_choice(h.hyperparameters, HYPERPARAMETERS, "hyperparameters")
        check_positive(h.sigma, "model.sigma")
        for name in ("delta", "zeta"):
            check_positive(getattr(h.kernel, name), f"model.kernel.{name}")
        check_positive(h.chunk_size, "model.chunk_size")
        check_positive(h.operator.pair_cutoff, "model.operator.pair_cutoff")
        for group in ("operator", "density"):
            options = getattr(h, group)
            check_positive(options.metric_weight, f"model.{group}.metric_weight",
                           strict=False)
            for name in ("n_candidates", "chunk_structures", "metric_structures",
                         "metric_iterations"):
                check_positive(getattr(options, name), f"model.{group}.{name}")
        check_positive(h.jitter, "model.jitter", strict=False)
        check_n_sparse(h.n_sparse)
        if self._is_blockwise and not h.symmetry_adapted:
            raise ConfigError(f"A {self._spec.kind} target is learned channel by channel "
                              "with symmetry-adapted kernels; remove 'symmetry_adapted: "
                              "false'.")
        need = max(LAMBDAS.get(self._spec.kind, (0,))) if h.symmetry_adapted else 0
        if h.descriptor.l_max < need:
            raise ConfigError(
                f"Option 'model.descriptor.l_max' must be at least {need} for a "
                f"{self._spec.kind} target (lambda-SOAP up to lambda = {need}). Got "
                f"{h.descriptor.l_max}.")

    def _fit(self, data: Dataset, held_out):
        h = self.hypers
        if self._is_blockwise:
            return self._fit_blockwise(data, held_out)
        self.descriptor_ = LambdaSoap(**dataclasses.asdict(h.descriptor))
        envs = self._environments(data.structures)
        y = data.labels[self._spec.name]
        predicted = None
        if held_out is not None:
            kept = np.setdiff1d(np.arange(data.n_structures), held_out)
            self.models_ = self._fit_components({k: e.subset(kept) for k, e in envs.items()},
                                                y[kept])
            mean, std = self._predict_environments(
                {k: e.subset(held_out) for k, e in envs.items()}, len(held_out), True)
            predicted = ({self._spec.name: mean}, {self._spec.name: std})
        self.models_ = self._fit_components(envs, y)
        return predicted

    def _fit_blockwise(self, data: Dataset, held_out):
        """Operators and densities; a density's std is calibrated on ``held_out`` (its
        channels' posterior does not know the joint re-solve or the fixed noise)."""
        name = self._spec.name
        predicted = None
        if held_out is not None:
            kept = np.setdiff1d(np.arange(data.n_structures), held_out)
            model = self._blockwise_model().fit([data.structures[i] for i in kept],
                                                data.labels[name][kept])
            mean, std = model.predict([data.structures[i] for i in held_out],
                                      return_std=True)
            predicted = ({name: mean}, {name: std})
        self.blocks_ = self._blockwise_model().fit(data.structures, data.labels[name])
        return predicted

    def _fit_components(self, envs, y) -> dict:
        h = self.hypers
        models = {}
        for key, values in self._components(y).items():
            gpr = SymmetryAdaptedGPR(zeta=h.kernel.zeta, n_sparse=h.n_sparse, sigma=h.sigma,
                                     delta=h.kernel.delta, hyperparameters=h.hyperparameters,
                                     jitter=h.jitter, chunk_size=h.chunk_size,
                                     random_state=h.random_state)
            models[key] = gpr.fit(envs[self._lambda(key)], values)
        return models

    # -- prediction -------------------------------------------------------------------
    def _predict(self, structures, names, return_std):
        if self._is_operator:
            return self._predict_operator(structures, names), {}
        if self._is_blockwise:
            return self._predict_density(structures, names, return_std)
        out = self._predict_environments(self._environments(structures), len(structures),
                                         return_std)
        name = self._spec.name
        if not return_std:
            return {name: out}, {}
        return {name: out[0]}, {name: out[1]}

    def _predict_operator(self, structures, names) -> dict[str, np.ndarray]:
        """The matrices and, if asked for, their levels with the exact overlap (closed
        shells: n_electrons / 2 occupied)."""
        H = self.blocks_.predict(structures)
        out = {self._spec.name: H}
        if set(names) - {self._spec.name}:
            out.update(levels(H, structures, self._spec.metadata["basis"], self._spec.unit))
        return {name: out[name] for name in names}

    def _predict_density(self, structures, names, return_std: bool):
        """The coefficients (and std); the base class derives the rest."""
        out = self.blocks_.predict(structures, return_std=return_std)
        if not return_std:
            return {self._spec.name: out}, {}
        return {self._spec.name: out[0]}, {self._spec.name: out[1]}

    def _predict_environments(self, envs, n: int, return_std: bool):
        means, covs = {}, {}
        for key, gpr in self.models_.items():
            out = gpr.predict(envs[self._lambda(key)], return_cov=return_std)
            means[key], covs[key] = out if return_std else (out, None)
        if not self.hypers.symmetry_adapted:
            mean = np.concatenate([means[c] for c in sorted(means)], axis=1).reshape(
                -1, *self._spec.shape)
        elif self._spec.kind == "vector":
            mean = spherical_to_vector(means[1])
        else:
            mean = spherical_to_tensor(means)
        if not return_std:
            return mean
        return mean, np.sqrt(np.maximum(self._cartesian_variance(covs), 0.0))

    def _cartesian_variance(self, covs: dict) -> np.ndarray:
        """Diagonal of the Cartesian covariance from the sub-models' covariances."""
        if not self.hypers.symmetry_adapted:
            var = np.concatenate([covs[c][:, 0, :] for c in sorted(covs)], axis=1)
            return var.reshape(-1, *self._spec.shape)
        rank = 1 if self._spec.kind == "vector" else 2
        basis = spherical_basis(rank)
        var = sum(np.einsum("ai,nab,bi->ni", basis[lam], covs[lam], basis[lam])
                  for lam in covs)
        return var.reshape(-1, *self._spec.shape)

    def _noise_std(self, name, structures) -> np.ndarray:
        if self._is_blockwise:
            return self.blocks_.noise_std(structures)
        n = len(structures)
        var = self._cartesian_variance({k: np.broadcast_to(
            m.sigma_**2 * np.eye(2 * m.o3_lambda + 1),
            (n, 2 * m.o3_lambda + 1, 2 * m.o3_lambda + 1)) for k, m in self.models_.items()})
        return np.sqrt(var)

    # -- state ------------------------------------------------------------------------
    def _state(self):
        if self._is_blockwise:
            fitted, arrays = self.blocks_.state()
            return {"operator": fitted}, arrays
        arrays, fitted = {}, {}
        for key, m in self.models_.items():
            p = f"gpr/{key}/"
            sol = m.solution_
            arrays.update({p + "values": m.sparse_.values, p + "scalar": m.sparse_.scalar,
                           p + "numbers": m.sparse_.numbers, p + "weights": sol.weights,
                           p + "L": sol.L, p + "R": sol.R})
            fitted[str(key)] = {"o3_lambda": m.o3_lambda, "delta": m.delta_,
                                "sigma": m.sigma_, "log_marginal_likelihood":
                                    m.log_marginal_likelihood_value_}
        return fitted, arrays

    def _restore(self, fitted, arrays) -> None:
        h = self.hypers
        if self._is_blockwise:
            self.blocks_ = self._blockwise_model().restore(fitted["operator"], arrays)
            return
        self.descriptor_ = LambdaSoap(**dataclasses.asdict(h.descriptor))
        self.models_ = {}
        for key, info in fitted.items():
            p = f"gpr/{key}/"
            m = SymmetryAdaptedGPR(zeta=h.kernel.zeta)
            numbers = arrays[p + "numbers"]
            m.sparse_ = EquivariantEnvironments(arrays[p + "values"], arrays[p + "scalar"],
                                                numbers, np.arange(len(numbers)),
                                                len(numbers))
            m.o3_lambda = int(info["o3_lambda"])
            m.delta_, m.sigma_ = float(info["delta"]), float(info["sigma"])
            lml = float(info["log_marginal_likelihood"])
            m.solution_ = SparseSolution(arrays[p + "weights"], arrays[p + "L"],
                                         arrays[p + "R"], lml)
            m.log_marginal_likelihood_value_ = lml
            self.models_[int(key)] = m
        if not self.models_:
            raise ConfigError("The SA-GPR model file holds no fitted components.")
