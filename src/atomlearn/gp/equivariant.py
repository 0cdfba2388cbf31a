"""Symmetry-adapted (equivariant) sparse GPR of structure-level spherical tensors
(SA-GPR: Grisafi, Wilkins, Csányi and Ceriotti, PRL 120, 036002 (2018)).

A target component y^lambda_mu of structure A is a sum of atomic contributions; the
kernel between environments i and j is the (2 lambda + 1) x (2 lambda + 1) block

    k^lambda_{mu mu'}(i, j) = s^2 (x^lambda_i x^lambda_j^T)_{mu mu'} (x^0_i . x^0_j)^(zeta - 1)

of normalised lambda-SOAP features (zero between centres of different elements); the
structure kernel sums it over both structures' atoms. Because x^lambda rotates with the
Wigner matrix D^lambda(R), so does every prediction, whatever the weights. Sparse points
are environments; the weights solve the lecture's normal equations
(K_NM^T K_NM + sigma^2 K_MM) c = K_NM^T y through the same Cholesky core as the scalar
sparse GP, and the predictive covariance of each structure's 2 lambda + 1 components is
the DTC one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse
from scipy.linalg import solve_triangular
from scipy.optimize import minimize

from ..descriptors import EquivariantFeatures
from ..errors import ConfigError, DataError
from .selection import select_sparse_points
from .solver import NormalEquations, solve_normal_equations

HYPERPARAMETERS = ("fixed", "likelihood")


def _per_element(types: np.ndarray, n_sparse) -> dict[int, int]:
    species, counts = np.unique(types, return_counts=True)
    if isinstance(n_sparse, Mapping):
        from ase.data import atomic_numbers
        wanted = {atomic_numbers[k] if isinstance(k, str) else int(k): int(v)
                  for k, v in n_sparse.items()}
    else:
        share = counts / counts.sum()
        wanted = {int(z): max(1, int(round(n_sparse * w))) for z, w in zip(species, share,
                                                                             strict=True)}
    out = {}
    for z, c in zip(species, counts, strict=True):
        out[int(z)] = min(wanted.get(int(z), 0), int(c))
    return out


class SymmetryAdaptedKernel:
    """Structure-level lambda-kernel of normalised lambda-SOAP (see module docstring).

    Parameters
    ----------
    zeta : int
        Power of the scalar factor (x^0_i . x^0_j)^(zeta - 1); zeta = 1 is linear.
    """

    def __init__(self, zeta: int = 2) -> None:
        self.zeta = int(zeta)

    def _scalar(self, x0a: np.ndarray, x0b: np.ndarray) -> np.ndarray:
        dot = x0a[:, 0, :] @ x0b[:, 0, :].T
        return dot ** (self.zeta - 1) if self.zeta > 1 else np.ones_like(dot)

    def structure_rows(self, X: EquivariantFeatures, X0: EquivariantFeatures,
                       n_structures: int, sparse: tuple[np.ndarray, np.ndarray, np.ndarray]
                       ) -> np.ndarray:
        """K_NM of shape (n_structures * d, n_sparse * d), d = 2 lambda + 1."""
        xm, x0m, tm = sparse
        d = 2 * X.o3_lambda + 1
        K = np.zeros((n_structures, d, len(tm), d))
        for z in np.unique(tm):
            env = np.flatnonzero(X.types == z)
            cols = np.flatnonzero(tm == z)
            if len(env) == 0:
                continue
            G = (X.values[env].reshape(-1, X.values.shape[2])
                 @ xm[cols].reshape(-1, xm.shape[2]).T).reshape(len(env), d, len(cols), d)
            G *= self._scalar(X0.values[env], x0m[cols])[:, None, :, None]
            S = scipy.sparse.csr_matrix((np.ones(len(env)), (X.structure[env],
                                                             np.arange(len(env)))),
                                        shape=(n_structures, len(env)))
            K[:, :, cols, :] = (S @ G.reshape(len(env), -1)).reshape(n_structures, d,
                                                                    len(cols), d)
        return K.reshape(n_structures * d, len(tm) * d)

    def sparse_block(self, sparse) -> np.ndarray:
        """K_MM of shape (n_sparse * d, n_sparse * d)."""
        xm, x0m, tm = sparse
        d = xm.shape[1]
        G = np.einsum("iap,jbp->iajb", xm, xm)
        G *= (self._scalar(x0m, x0m) * (tm[:, None] == tm[None, :]))[:, None, :, None]
        return G.reshape(len(tm) * d, len(tm) * d)

    def structure_prior(self, X: EquivariantFeatures, X0: EquivariantFeatures,
                        n_structures: int) -> np.ndarray:
        """Prior covariance blocks k(A, A), shape (n_structures, d, d)."""
        d = X.values.shape[1]
        out = np.zeros((n_structures, d, d))
        starts = np.searchsorted(X.structure, np.arange(n_structures + 1))
        for a in range(n_structures):
            sl = slice(starts[a], starts[a + 1])
            x, t = X.values[sl], X.types[sl]
            w = self._scalar(X0.values[sl], X0.values[sl]) * (t[:, None] == t[None, :])
            out[a] = np.einsum("iap,jbp,ij->ab", x, x, w)
        return out


class SymmetryAdaptedGPR:
    """Sparse GPR of one spherical component lambda of a structure-level target.

    Parameters
    ----------
    o3_lambda : int
        Angular order of the target: 0 (scalar, e.g. the trace of a polarizability),
        1 (a vector), 2 (a symmetric traceless tensor).
    zeta : int
        Power of the scalar kernel factor.
    n_sparse : int or dict
        Sparse environments in total (shared by element in proportion to the counts),
        or per element symbol; chosen by farthest-point sampling on lambda = 0 SOAP.
    sigma : float
        Noise standard deviation per component, in the target's unit (regularisation).
    amplitude : float
        Prior standard deviation scale s of the kernel, in the target's unit.
    hyperparameters : {"fixed", "likelihood"}
        ``"likelihood"`` maximises the sparse (DTC) log marginal likelihood over sigma and
        amplitude, starting from the given values.
    baseline : bool
        lambda = 0 only: subtract a least-squares per-element offset (target per atom of
        each element) before the GP.
    jitter : float
        Added to the diagonal of K_MM (relative to its mean diagonal).
    chunk_size : int
        Structures per block of K_NM rows while accumulating the normal equations.
    random_state : int
    """

    def __init__(self, o3_lambda: int, *, zeta: int = 2, n_sparse=200, sigma: float = 1e-2,
                 amplitude: float = 1.0, hyperparameters: str = "fixed",
                 baseline: bool = True, jitter: float = 1e-10, chunk_size: int = 200,
                 random_state: int = 0) -> None:
        self.o3_lambda = o3_lambda
        self.zeta = zeta
        self.n_sparse = n_sparse
        self.sigma = sigma
        self.amplitude = amplitude
        self.hyperparameters = hyperparameters
        self.baseline = baseline
        self.jitter = jitter
        self.chunk_size = chunk_size
        self.random_state = random_state

    @property
    def kernel(self) -> SymmetryAdaptedKernel:
        return SymmetryAdaptedKernel(self.zeta)

    def _counts(self, X: EquivariantFeatures, n: int) -> np.ndarray:
        return np.stack([np.bincount(X.structure[X.types == z], minlength=n)
                         for z in self.species_], axis=1).astype(float)

    def fit(self, X: EquivariantFeatures, X0: EquivariantFeatures, y: np.ndarray
            ) -> SymmetryAdaptedGPR:
        """Fit to targets ``y`` of shape (n_structures, 2 lambda + 1) (spherical)."""
        if self.hyperparameters not in HYPERPARAMETERS:
            raise ConfigError(f"Unknown hyperparameters {self.hyperparameters!r}; valid "
                              f"choices are {HYPERPARAMETERS}.")
        d = 2 * self.o3_lambda + 1
        y = np.asarray(y, float)
        if X.o3_lambda != self.o3_lambda or y.ndim != 2 or y.shape[1] != d:
            raise DataError(
                f"A lambda={self.o3_lambda} GPR needs lambda={self.o3_lambda} features and "
                f"targets of shape (n_structures, {d}); got lambda={X.o3_lambda} features "
                f"and targets of shape {y.shape}.")
        n = len(y)
        self.species_ = [int(z) for z in np.unique(X0.types)]
        self.offset_ = np.zeros(len(self.species_))
        if self.o3_lambda == 0 and self.baseline:
            self.offset_ = np.linalg.lstsq(self._counts(X0, n), y[:, 0], rcond=None)[0]
            y = y - (self._counts(X0, n) @ self.offset_)[:, None]
        chosen = []
        for z, m in _per_element(X0.types, self.n_sparse).items():
            env = np.flatnonzero(X0.types == z)
            chosen.append(env[select_sparse_points(X0.values[env, 0], m, "fps",
                                                   random_state=self.random_state,
                                                   what="environments")])
        idx = np.concatenate(chosen)
        self.sparse_ = (X.values[idx], X0.values[idx], X.types[idx])
        self.K_MM_ = self.kernel.sparse_block(self.sparse_)
        # K_NM^T K_NM and K_NM^T y, accumulated over chunks of structures (memory
        # O(chunk * d * M * d) instead of O(N * d * M * d))
        width = len(idx) * d
        self._KtK, self._Kty = np.zeros((width, width)), np.zeros(width)
        for start in range(0, n, self.chunk_size):
            part = np.arange(start, min(start + self.chunk_size, n))
            K = self.kernel.structure_rows(X.subset(part), X0.subset(part), len(part),
                                           self.sparse_)
            self._KtK += K.T @ K
            self._Kty += K.T @ y[part].ravel()
        self._yy, self._n_obs = float(y.ravel() @ y.ravel()), y.size
        if self.hyperparameters == "likelihood":
            self.amplitude_, self.sigma_ = self._maximise_likelihood()
        else:
            self.amplitude_, self.sigma_ = float(self.amplitude), float(self.sigma)
        self.solution_ = self._solve(self.amplitude_, self.sigma_)
        self.log_marginal_likelihood_value_ = self.solution_.log_marginal_likelihood
        return self

    def _maximise_likelihood(self) -> tuple[float, float]:
        """Coarse grid around the given (amplitude, sigma), then Nelder-Mead in log space
        (derivative-free: the jitter fallback makes the LML only piecewise smooth)."""
        import warnings

        def objective(theta):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    return -self._solve(np.exp(theta[0]), np.exp(theta[1])
                                        ).log_marginal_likelihood
                except np.linalg.LinAlgError:
                    return np.inf

        start = np.log([self.amplitude, self.sigma])
        steps = np.log(10.0) * np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
        grid = [start + [a, b] for a in steps for b in steps]
        best = min(grid, key=objective)
        res = minimize(objective, best, method="Nelder-Mead",
                       options={"xatol": 1e-3, "fatol": 1e-6, "maxiter": 400})
        return tuple(float(v) for v in np.exp(res.x))

    def _solve(self, amplitude: float, sigma: float):
        s2, n2 = amplitude**2, sigma**2
        eq = NormalEquations(A=(s2 * s2 / n2) * self._KtK, b=(s2 / n2) * self._Kty,
                             yy=self._yy / n2, logdet_sigma=self._n_obs * np.log(n2),
                             n=self._n_obs)
        K_MM = s2 * self.K_MM_
        return solve_normal_equations(K_MM, eq, self.jitter * float(np.mean(np.diag(K_MM))))

    def predict(self, X: EquivariantFeatures, X0: EquivariantFeatures, n_structures: int,
                *, return_cov: bool = False):
        """Mean (n_structures, d) and, with ``return_cov``, the latent covariance of each
        structure's components, (n_structures, d, d)."""
        d = 2 * self.o3_lambda + 1
        s2 = self.amplitude_**2
        K = s2 * self.kernel.structure_rows(X, X0, n_structures, self.sparse_)
        mean = (K @ self.solution_.weights).reshape(n_structures, d)
        if self.o3_lambda == 0 and self.baseline:
            mean += (self._counts(X0, n_structures) @ self.offset_)[:, None]
        if not return_cov:
            return mean
        sol = self.solution_
        V = solve_triangular(sol.L, K.T, lower=True, check_finite=False)
        W = solve_triangular(sol.R, K.T, lower=True, check_finite=False)
        V, W = V.reshape(-1, n_structures, d), W.reshape(-1, n_structures, d)
        cov = (s2 * self.kernel.structure_prior(X, X0, n_structures)
               - np.einsum("kna,knb->nab", V, V) + np.einsum("kna,knb->nab", W, W))
        return mean, cov
