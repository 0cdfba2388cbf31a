"""Sparse GPR on SOAP environments: a structure property as a sum of atomic terms."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import ase
import numpy as np
from tqdm.auto import tqdm

from ..descriptors import SoapPowerSpectrum
from ..errors import ConfigError, DataError, NotFittedError, check_choice
from ..gp.selection import select_sparse_points
from ..gp.sparse import (
    NormalEquations,
    SparseSolution,
    predictive_variance,
    solve_normal_equations,
)
from ..kernels import RBF, AtomSumKernel, ConstantKernel, NormalizedDotProduct
from ..kernels.dot_product import normalize_rows
from ..serialization import write_model_file
from ..structures.keys import KeySpec
from ..targets import TargetSpec, energy
from ._base import register

log = logging.getLogger(__name__)

KERNELS = ("soap", "rbf")


@register("sparse_gpr")
class SparseGPRModel:
    """Sparse GPR of a per-structure scalar target from SOAP environments (GAP-style).

    The target is a sum (or mean) of atomic contributions :math:`e(x_i)`, each a sparse
    GP over SOAP power spectra :math:`x_i`, with per-element reference values fitted by
    least squares on the training composition. The weights solve the lecture's sparse
    GPR equations with per-structure noise
    :math:`\\sigma_n^2 = \\sigma^2 n_{\\text{atoms}}` (``sigma`` is per atom).

    Parameters
    ----------
    target : TargetSpec, optional
        A scalar per-structure target; default energy without forces.
    descriptor : SoapPowerSpectrum, optional
        Environment descriptor; default cutoff 5 Å, n_max 8, l_max 6, atom width 0.5 Å.
    kernel : {"soap", "rbf"}
        ``"soap"``: :math:`\\delta^2 (\\hat x\\cdot\\hat x')^\\zeta`; ``"rbf"``:
        :math:`\\delta^2 \\exp(-|\\hat x - \\hat x'|^2 / 2 l^2)` on normalised features.
    zeta : int
        Power of the SOAP kernel.
    length_scale : float
        Length scale of the RBF kernel (normalised-feature units).
    delta : float
        Kernel amplitude :math:`\\delta` in target units per atom (GAP's ``delta``).
    n_sparse : int
        Total number of sparse environments, shared between elements by their counts.
    selection : {"fps", "cur", "random"}
    sigma : float
        Noise per atom, in target units (GAP's energy ``default_sigma``), e.g. eV/atom.
    jitter : float
        Added to the diagonal of :math:`K_{MM}`.
    aggregation : {"sum", "mean"}
        Extensive (sum) or intensive (mean) target.
    reference : "fit", "none" or dict
        Per-element reference values (e.g. isolated-atom energies by symbol).
    keys : KeySpec, optional
        Where labels are read from.
    chunk_size : int
        Structures per chunk when building the kernel rows.
    random_state : int
        Seed of the sparse-point selection.
    """

    def __init__(self, *, target: TargetSpec | None = None,
                 descriptor: SoapPowerSpectrum | None = None, kernel: str = "soap",
                 zeta: int = 4, length_scale: float = 1.0, delta: float = 1.0,
                 n_sparse: int = 500, selection: str = "fps", sigma: float = 1e-3,
                 jitter: float = 1e-8, aggregation: str = "sum", reference="fit",
                 keys: KeySpec | None = None, chunk_size: int = 200,
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
        self.jitter = jitter
        self.aggregation = aggregation
        self.reference = reference
        self.keys = keys
        self.chunk_size = chunk_size
        self.random_state = random_state

    def __repr__(self) -> str:
        return (f"SparseGPRModel(kernel={self.kernel!r}, zeta={self.zeta}, "
                f"n_sparse={self.n_sparse}, sigma={self.sigma}, descriptor={self.descriptor!r})")

    # -- interface --------------------------------------------------------------------
    @property
    def supported_targets(self) -> dict[str, TargetSpec]:
        spec = self.target or energy(forces=False)
        return {spec.name: spec}

    def _spec(self) -> TargetSpec:
        spec = self.target or energy(forces=False)
        if spec.kind != "scalar" or spec.per_atom:
            raise ConfigError(
                f"SparseGPRModel learns per-structure scalar targets; {spec.name!r} is "
                f"{spec.kind!r}{' per atom' if spec.per_atom else ''}."
            )
        if spec.gradients:
            raise ConfigError(
                f"SparseGPRModel does not learn {list(spec.gradients)} yet; set "
                f"'targets.{spec.name}.forces: false' (and stress)."
            )
        return spec

    def _env_kernel(self):
        check_choice(self.kernel, KERNELS, "kernel type")
        if self.kernel == "soap":
            base = NormalizedDotProduct(zeta=self.zeta)
        else:
            base = RBF(self.length_scale, length_scale_bounds="fixed")
        return AtomSumKernel(
            ConstantKernel(self.delta**2, constant_value_bounds="fixed") * base,
            aggregation=self.aggregation)

    def _features(self, structures, desc: str):
        chunks = [structures[i : i + self.chunk_size]
                  for i in range(0, len(structures), self.chunk_size)]
        parts = [self.descriptor_.compute(c) for c in tqdm(chunks, desc=desc, unit="chunk",
                                                           disable=None, leave=False)]
        X = normalize_rows(np.concatenate([p.values for p in parts]))
        Z = np.concatenate([p.numbers for p in parts])
        sizes = np.array([len(a) for a in structures])
        index = np.repeat(np.arange(len(structures)), sizes)
        return X, Z, index, sizes

    def _composition(self, structures) -> np.ndarray:
        counts = np.zeros((len(structures), len(self.species_)))
        lookup = {z: k for k, z in enumerate(self.species_)}
        for s, atoms in enumerate(structures):
            for z in atoms.numbers:
                counts[s, lookup[int(z)]] += 1
        if self.aggregation == "mean":
            counts /= counts.sum(axis=1, keepdims=True)
        return counts

    def fit(self, structures: Sequence[ase.Atoms],
            targets: Mapping[str, np.ndarray] | None = None) -> SparseGPRModel:
        """Fit to the structures' reference labels (or to ``targets[name]``)."""
        structures = list(structures)
        spec = self._spec()
        if len(structures) == 0:
            raise DataError("No training structures were given.")
        y = (np.asarray(targets[spec.name], dtype=float) if targets and spec.name in targets
             else spec.read(structures, self.keys))
        if y.shape != (len(structures),):
            raise DataError(
                f"Target {spec.name!r} must have shape ({len(structures)},). Got {y.shape}.")
        if not np.all(np.isfinite(y)):
            raise DataError(f"Target {spec.name!r} contains NaN or inf.")
        if not (isinstance(self.n_sparse, int) and self.n_sparse >= 1):
            raise ConfigError(
                f"The 'n_sparse' parameter must be a positive int. Got {self.n_sparse!r}; "
                "use at least one sparse point per element.")
        self.descriptor_ = SoapPowerSpectrum(**(self.descriptor or SoapPowerSpectrum())
                                             .get_params())
        self.descriptor_.species = sorted({int(z) for a in structures for z in a.numbers})
        self.species_ = np.array(self.descriptor_.species)
        self.kernel_ = self._env_kernel()

        X, Z, index, sizes = self._features(structures, "SOAP (train)")
        counts = self._composition(structures)
        self.reference_ = self._fit_reference(counts, y)
        residual = y - counts @ self.reference_

        self.sparse_indices_ = self._select(X, Z)
        self.X_sparse_, self.Z_sparse_ = X[self.sparse_indices_], Z[self.sparse_indices_]
        K_MM = self.kernel_.environments(self.X_sparse_, self.Z_sparse_,
                                         self.X_sparse_, self.Z_sparse_)
        sigma2 = self.sigma**2 * (sizes if self.aggregation == "sum" else np.ones_like(sizes))
        eq = NormalEquations.zeros(len(self.sparse_indices_))
        for rows, structs in self._chunks(index):
            K = self.kernel_.aggregate(
                self.kernel_.environments(X[rows], Z[rows], self.X_sparse_, self.Z_sparse_),
                index[rows])
            eq.add(K, residual[structs], sigma2[structs])
        self.solution_ = solve_normal_equations(K_MM, eq, self.jitter)
        log.debug("fitted %s on %d structures with %d sparse environments",
                 spec.name, len(structures), len(self.sparse_indices_))
        return self

    def _chunks(self, index):
        starts = np.flatnonzero(np.r_[True, np.diff(index) != 0])
        bounds = np.r_[starts, len(index)]
        n_struct = len(starts)
        for a in range(0, n_struct, self.chunk_size):
            b = min(a + self.chunk_size, n_struct)
            yield slice(bounds[a], bounds[b]), slice(a, b)

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

    def _select(self, X, Z) -> np.ndarray:
        n_env = len(Z)
        if self.n_sparse > n_env:
            raise ConfigError(
                f"The 'n_sparse' parameter must be an int in the range [1, n_environments]. "
                f"Got {self.n_sparse!r} instead (the training set has {n_env} environments)."
            )
        chosen = []
        for k, z in enumerate(self.species_):
            rows = np.flatnonzero(Z == z)
            share = max(1, int(round(self.n_sparse * len(rows) / n_env)))
            share = min(share, len(rows))
            picked = select_sparse_points(X[rows], share, self.selection,
                                          random_state=self.random_state + k,
                                          what="environments")
            chosen.append(rows[picked])
        return np.sort(np.concatenate(chosen))

    def predict(self, structures: Sequence[ase.Atoms], *, targets=None,
                return_std: bool = False):
        """Predict the target (and its standard deviation) for each structure.

        Returns
        -------
        dict
            ``{name: array of shape (n_structures,)}``; with ``return_std`` a second dict
            of standard deviations (the latent DTC standard deviation, in target units).
        """
        if not hasattr(self, "solution_"):
            raise NotFittedError(
                "This SparseGPRModel instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")
        spec = self._spec()
        if targets is not None and set(targets) - {spec.name}:
            raise ConfigError(f"This model predicts only {spec.name!r}; asked for "
                              f"{sorted(set(targets) - {spec.name})}.")
        structures = list(structures)
        X, Z, index, _ = self._features(structures, "SOAP (predict)")
        counts = self._composition(structures)
        mean = np.empty(len(structures))
        std = np.empty(len(structures))
        for rows, structs in self._chunks(index):
            K = self.kernel_.aggregate(
                self.kernel_.environments(X[rows], Z[rows], self.X_sparse_, self.Z_sparse_),
                index[rows])
            mean[structs] = K @ self.solution_.weights
            if return_std:
                prior = self.kernel_.structure_diag(X[rows], Z[rows], index[rows])
                std[structs] = np.sqrt(predictive_variance(K, prior, self.solution_))
        mean += counts @ self.reference_
        if return_std:
            return {spec.name: mean}, {spec.name: std}
        return {spec.name: mean}

    # -- files ------------------------------------------------------------------------
    def get_params(self) -> dict:
        return {"kernel": self.kernel, "zeta": self.zeta, "length_scale": self.length_scale,
                "delta": self.delta, "n_sparse": self.n_sparse, "selection": self.selection,
                "sigma": self.sigma, "jitter": self.jitter, "aggregation": self.aggregation,
                "reference": self.reference, "chunk_size": self.chunk_size,
                "random_state": self.random_state}

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` (atomically, versioned, no pickle)."""
        if not hasattr(self, "solution_"):
            raise NotFittedError("This SparseGPRModel instance is not fitted yet; fit it "
                                 "before saving.")
        sol = self.solution_
        keys = self.keys or KeySpec()
        write_model_file(
            path, cls=self.registry_name, params=self.get_params(),
            arrays={"X_sparse": self.X_sparse_, "Z_sparse": self.Z_sparse_,
                    "sparse_indices": self.sparse_indices_, "weights": sol.weights,
                    "L": sol.L, "R": sol.R, "reference": self.reference_,
                    "species": self.species_},
            targets=[self._spec().to_dict()], descriptor=self.descriptor_.get_params(),
            keys={"ref_prefix": keys.ref_prefix, "pred_prefix": keys.pred_prefix,
                  "overrides": keys.overrides},
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
        model.kernel_ = model._env_kernel()
        model.X_sparse_, model.Z_sparse_ = arrays["X_sparse"], arrays["Z_sparse"]
        model.sparse_indices_ = arrays["sparse_indices"]
        model.reference_ = arrays["reference"]
        model.solution_ = SparseSolution(arrays["weights"], arrays["L"], arrays["R"],
                                         float(meta["log_marginal_likelihood"]))
        return model
