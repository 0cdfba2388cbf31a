"""Dipoles and polarizabilities by symmetry-adapted sparse GPR on lambda-SOAP."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import ase
import numpy as np

from ..descriptors import LambdaSoap
from ..errors import ConfigError, DataError, NotFittedError
from ..gp.equivariant import HYPERPARAMETERS, SymmetryAdaptedGPR
from ..gp.solver import SparseSolution
from ..serialization import write_model_file
from ..structures.keys import KeySpec
from ..targets import TargetSpec
from ..targets.spherical import (
    spherical_basis,
    spherical_to_tensor,
    spherical_to_vector,
    tensor_to_spherical,
    vector_to_spherical,
)
from ._base import register

_SPHERICAL = {"vector": (1,), "rank2_symmetric": (0, 2)}


@register("sa_gpr")
class SymmetryAdaptedGPRModel:
    """Structure-level tensors by SA-GPR: a dipole (vector) as lambda = 1, a symmetric
    polarizability as lambda = 0 (trace) plus lambda = 2 (symmetric traceless part),
    recombined into Cartesian components.

    Parameters
    ----------
    target : TargetSpec
        ``dipole()`` or ``polarizability()`` (any ``vector`` or ``rank2_symmetric`` spec).
    descriptor : LambdaSoap, optional
        lambda-SOAP settings (default cutoff 5 Å, n_max 6, l_max 4).
    zeta : int
        Power of the scalar kernel factor.
    n_sparse : int or dict
        Sparse environments per lambda-GPR, total or per element symbol.
    sigma : float
        Noise per spherical component, in the target's unit.
    amplitude : float
        Prior scale, in the target's unit.
    hyperparameters : {"fixed", "likelihood"}
        ``"likelihood"``: sigma and amplitude of every lambda by maximum (sparse) marginal
        likelihood.
    symmetry_adapted : bool
        ``False`` gives the naive baseline: each Cartesian component learned on its own
        with the invariant (lambda = 0) kernel. Its predictions rotate wrongly; it exists
        to measure what symmetry adaptation buys.
    calibration_fraction : float
        Share of the training structures held out once to calibrate the standard
        deviation: the model is fitted without them, the z-scores of their errors give a
        common scale s (z-score variance 1), and the final model, fitted on everything,
        reports s times its DTC std (and noise). 0 turns it off. The DTC variance keeps
        the whole Nyström residual of the prior, which overstates the error when the
        sparse set is small.
    random_state : int
    keys : KeySpec, optional
    """

    def __init__(self, *, target: TargetSpec, descriptor: LambdaSoap | None = None,
                 zeta: int = 2, n_sparse=300, sigma: float = 1e-2, amplitude: float = 1.0,
                 hyperparameters: str = "likelihood", symmetry_adapted: bool = True,
                 calibration_fraction: float = 0.1, random_state: int = 0,
                 keys: KeySpec | None = None) -> None:
        self.target = target
        self.descriptor = descriptor
        self.zeta = zeta
        self.n_sparse = n_sparse
        self.sigma = sigma
        self.amplitude = amplitude
        self.hyperparameters = hyperparameters
        self.symmetry_adapted = symmetry_adapted
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state
        self.keys = keys

    def get_params(self) -> dict:
        return {"zeta": self.zeta, "n_sparse": self.n_sparse, "sigma": self.sigma,
                "amplitude": self.amplitude, "hyperparameters": self.hyperparameters,
                "symmetry_adapted": self.symmetry_adapted,
                "calibration_fraction": self.calibration_fraction,
                "random_state": self.random_state}

    def __repr__(self) -> str:
        return (f"SymmetryAdaptedGPRModel(target={self.target.name!r}, zeta={self.zeta}, "
                f"n_sparse={self.n_sparse!r}, symmetry_adapted={self.symmetry_adapted})")

    @property
    def supported_targets(self) -> dict[str, TargetSpec]:
        return {self.target.name: self.target}

    @property
    def provides_uncertainty(self) -> bool:
        return True

    def _lambdas(self) -> tuple[int, ...]:
        if self.target.kind not in _SPHERICAL:
            raise ConfigError(
                f"SA-GPR learns vectors and symmetric rank-2 tensors; target "
                f"{self.target.name!r} is of kind {self.target.kind!r}. Use 'sparse_gpr' "
                "for scalars.")
        if self.hyperparameters not in HYPERPARAMETERS:
            raise ConfigError(f"Unknown hyperparameters {self.hyperparameters!r}; valid "
                              f"choices are {HYPERPARAMETERS}.")
        return _SPHERICAL[self.target.kind]

    def _components(self, y: np.ndarray) -> dict:
        """Training targets per sub-model: spherical parts, or Cartesian columns."""
        if not self.symmetry_adapted:
            flat = y.reshape(len(y), -1)
            return {c: flat[:, [c]] for c in range(flat.shape[1])}
        if self.target.kind == "vector":
            return {1: vector_to_spherical(y)}
        parts = tensor_to_spherical(y)
        return {0: parts[0], 2: parts[2]}

    def _features(self, structures):
        lambdas = (0, *self._lambdas()) if self.symmetry_adapted else (0,)
        return self.descriptor_.compute_equivariant(structures, sorted(set(lambdas)))

    def fit(self, structures: Sequence[ase.Atoms],
            targets: Mapping[str, np.ndarray] | None = None) -> SymmetryAdaptedGPRModel:
        """Fit to the structures' dipoles / polarizabilities (read from the structures
        unless given in ``targets``)."""
        self._lambdas()
        structures = list(structures)
        name = self.target.name
        y = (np.asarray(targets[name], float) if targets and name in targets
             else self.target.read(structures, self.keys))
        expected = (len(structures), *self.target.shape)
        if y.shape != expected:
            raise DataError(f"Target {name!r} must have shape {expected} (structures x "
                            f"{self.target.kind}); got {y.shape}.")
        if self.target.kind == "rank2_symmetric":
            y = 0.5 * (y + np.swapaxes(y, 1, 2))
        self.descriptor_ = LambdaSoap(**(self.descriptor or LambdaSoap()).get_params())
        feats = self._features(structures)
        self.std_scale_ = 1.0
        n_cal = int(round(self.calibration_fraction * len(structures)))
        if n_cal >= 5 and len(structures) - n_cal >= 5:
            order = np.random.default_rng(self.random_state).permutation(len(structures))
            held, kept = np.sort(order[:n_cal]), np.sort(order[n_cal:])
            self.models_ = self._fit_components({k: f.subset(kept) for k, f in feats.items()},
                                                y[kept])
            sub = {k: f.subset(held) for k, f in feats.items()}
            mean, std = self._predict_features(sub, n_cal, return_std=True)
            total = np.sqrt(std**2 + self.noise_std(name, held) ** 2)
            z = (mean - y[held]) / np.maximum(total, 1e-300)
            self.std_scale_ = float(np.sqrt(np.mean(z**2)))
        self.models_ = self._fit_components(feats, y)
        return self

    def _fit_components(self, feats, y) -> dict:
        models = {}
        for key, values in self._components(y).items():
            lam = key if self.symmetry_adapted else 0
            gpr = SymmetryAdaptedGPR(lam, zeta=self.zeta, n_sparse=self.n_sparse,
                                     sigma=self.sigma, amplitude=self.amplitude,
                                     hyperparameters=self.hyperparameters,
                                     random_state=self.random_state)
            models[key] = gpr.fit(feats[lam], feats[0], values)
        return models

    def noise_std(self, name: str, structures) -> np.ndarray:
        """Observation noise of the Cartesian components (for calibration reports), times
        the calibration scale."""
        var = self._cartesian_cov({k: np.broadcast_to(
            m.sigma_**2 * np.eye(2 * m.o3_lambda + 1), (len(structures), 2 * m.o3_lambda + 1,
                                                       2 * m.o3_lambda + 1))
            for k, m in self.models_.items()})
        return getattr(self, "std_scale_", 1.0) * np.sqrt(var)

    def _cartesian_cov(self, covs: dict) -> np.ndarray:
        """Diagonal of the Cartesian covariance from the sub-models' covariances."""
        if not self.symmetry_adapted:
            var = np.concatenate([covs[c][:, 0, :] for c in sorted(covs)], axis=1)
            return var.reshape(-1, *self.target.shape)
        rank = 1 if self.target.kind == "vector" else 2
        basis = spherical_basis(rank)
        var = sum(np.einsum("ai,nab,bi->ni", basis[lam], covs[lam], basis[lam])
                  for lam in covs)
        return var.reshape(-1, *self.target.shape)

    def predict(self, structures: Sequence[ase.Atoms], *, targets=None,
                return_std: bool = False):
        """Cartesian predictions (n_structures, 3) or (n_structures, 3, 3); with
        ``return_std``, the latent standard deviation of every Cartesian component."""
        if not hasattr(self, "models_"):
            raise NotFittedError("This SymmetryAdaptedGPRModel instance is not fitted yet; "
                                 "call 'fit' first.")
        structures = list(structures)
        out = self._predict_features(self._features(structures), len(structures),
                                     return_std=return_std)
        if not return_std:
            return {self.target.name: out}
        return {self.target.name: out[0]}, {self.target.name: out[1]}

    def _predict_features(self, feats, n: int, *, return_std: bool):
        means, covs = {}, {}
        for key, gpr in self.models_.items():
            lam = key if self.symmetry_adapted else 0
            out = gpr.predict(feats[lam], feats[0], n, return_cov=return_std)
            means[key], covs[key] = out if return_std else (out, None)
        if not self.symmetry_adapted:
            mean = np.concatenate([means[c] for c in sorted(means)], axis=1).reshape(
                -1, *self.target.shape)
        elif self.target.kind == "vector":
            mean = spherical_to_vector(means[1])
        else:
            mean = spherical_to_tensor(means)
        if not return_std:
            return mean
        std = np.sqrt(np.maximum(self._cartesian_cov(covs), 0.0))
        return mean, self.std_scale_ * std

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model (versioned, atomic, no pickle)."""
        if not hasattr(self, "models_"):
            raise NotFittedError("This SymmetryAdaptedGPRModel instance is not fitted yet.")
        arrays, fitted = {}, {}
        for key, m in self.models_.items():
            p = f"{key}/"
            xm, x0m, tm = m.sparse_
            arrays.update({p + "x": xm, p + "x0": x0m, p + "types": tm,
                           p + "weights": m.solution_.weights, p + "L": m.solution_.L,
                           p + "R": m.solution_.R, p + "offset": m.offset_,
                           p + "species": np.array(m.species_)})
            fitted[str(key)] = {"o3_lambda": m.o3_lambda, "amplitude": m.amplitude_,
                                "sigma": m.sigma_, "lml": m.log_marginal_likelihood_value_}
        write_model_file(path, cls=self.registry_name, params=self.get_params(),
                         arrays=arrays, targets=[self.target.to_dict()],
                         descriptor=self.descriptor_.get_params(), fitted=fitted,
                         std_scale=self.std_scale_,
                         keys=(self.keys or KeySpec()).__dict__)

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict) -> SymmetryAdaptedGPRModel:
        model = cls(target=TargetSpec.from_dict(meta["targets"][0]),
                    descriptor=LambdaSoap(**meta["descriptor"]),
                    keys=KeySpec(**meta["keys"]), **meta["params"])
        model.descriptor_ = LambdaSoap(**meta["descriptor"])
        model.std_scale_ = float(meta.get("std_scale", 1.0))
        model.models_ = {}
        for key, info in meta["fitted"].items():
            p = f"{key}/"
            m = SymmetryAdaptedGPR(info["o3_lambda"], zeta=model.zeta)
            m.sparse_ = (arrays[p + "x"], arrays[p + "x0"], arrays[p + "types"])
            m.solution_ = SparseSolution(arrays[p + "weights"], arrays[p + "L"],
                                         arrays[p + "R"], info["lml"])
            m.offset_, m.species_ = arrays[p + "offset"], arrays[p + "species"].tolist()
            m.amplitude_, m.sigma_ = info["amplitude"], info["sigma"]
            m.log_marginal_likelihood_value_ = info["lml"]
            model.models_[int(key)] = m
        return model
