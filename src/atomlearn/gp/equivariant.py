"""Symmetry-adapted sparse GPR (SA-GPR) of one spherical component lambda of a target.

The kernel is :class:`~atomlearn.kernels.SymmetryAdaptedKernel` (blocks of normalised
lambda-SOAP); sparse points are environments; the weights solve the lecture's normal
equations :math:`(K_{NM}^T K_{NM} + \\sigma^2 K_{MM}) c = K_{NM}^T y` through the same
solver core as the scalar sparse GP, and the predictive covariance of each structure's
2 lambda + 1 components is the DTC one. Prior scale and noise are searched by the one
optimiser of every GP, on normal equations accumulated once.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from scipy.linalg import solve_triangular

from ..errors import ConfigError, DataError, check_choice
from ..kernels import EquivariantEnvironments, SymmetryAdaptedKernel
from ._optimize import optimize_theta
from .selection import select_sparse_points
from .solver import NormalEquations, SparseSolution, solve_normal_equations

HYPERPARAMETERS = ("fixed", "likelihood")


def sparse_counts(numbers: np.ndarray, n_sparse) -> dict[int, int]:
    """Sparse environments per element: a total shared in proportion to the counts, or
    per element symbol; capped at the environments there are."""
    species, counts = np.unique(numbers, return_counts=True)
    if isinstance(n_sparse, Mapping):
        from ase.data import atomic_numbers

        wanted = {atomic_numbers[k] if isinstance(k, str) else int(k): int(v)
                  for k, v in n_sparse.items()}
    else:
        share = counts / counts.sum()
        wanted = {int(z): max(1, int(round(n_sparse * w)))
                  for z, w in zip(species, share, strict=True)}
    return {int(z): min(wanted.get(int(z), 0), int(c))
            for z, c in zip(species, counts, strict=True)}


class SymmetryAdaptedGPR:
    """Sparse GPR of one spherical component lambda of a structure-level target.

    Parameters
    ----------
    zeta : int
        Power of the invariant kernel factor.
    n_sparse : int or dict
        Sparse environments in total (shared by element in proportion to the counts),
        or per element symbol; chosen by farthest-point sampling on lambda = 0 SOAP.
    sigma : float
        Noise standard deviation per component, in the target's unit.
    delta : float
        Prior scale of the kernel, in the target's unit.
    hyperparameters : {"fixed", "likelihood"}
        ``"likelihood"`` maximises the sparse (DTC) log marginal likelihood over sigma and
        delta, starting from the given values.
    jitter : float
        Added to the diagonal of K_MM (relative to its mean diagonal).
    chunk_size : int
        Structures per chunk of K_NM rows while accumulating the normal equations.
    random_state : int
    """

    def __init__(self, *, zeta: int = 2, n_sparse=200, sigma: float = 1e-2,
                 delta: float = 1.0, hyperparameters: str = "fixed", jitter: float = 1e-10,
                 chunk_size: int = 200, random_state: int = 0) -> None:
        self.zeta = zeta
        self.n_sparse = n_sparse
        self.sigma = sigma
        self.delta = delta
        self.hyperparameters = hyperparameters
        self.jitter = jitter
        self.chunk_size = chunk_size
        self.random_state = random_state

    @property
    def kernel(self) -> SymmetryAdaptedKernel:
        return SymmetryAdaptedKernel(self.zeta)

    def fit(self, X: EquivariantEnvironments, y: np.ndarray) -> SymmetryAdaptedGPR:
        """Fit to targets ``y`` of shape (n_structures, 2 lambda + 1) (spherical)."""
        check_choice(self.hyperparameters, HYPERPARAMETERS, "hyperparameters")
        d = X.values.shape[1]
        y = np.asarray(y, float)
        if y.ndim != 2 or y.shape != (X.n_structures, d):
            raise DataError(
                f"A lambda={X.o3_lambda} GPR needs targets of shape ({X.n_structures}, {d}); "
                f"got {y.shape}.")
        self.o3_lambda = X.o3_lambda
        chosen = []
        for z, m in sparse_counts(X.numbers, self.n_sparse).items():
            env = np.flatnonzero(X.numbers == z)
            chosen.append(env[select_sparse_points(X.scalar[env], m, "fps",
                                                   random_state=self.random_state,
                                                   what="environments")])
        self.sparse_ = X.points(np.concatenate(chosen))
        kernel = self.kernel
        self.K_MM_ = kernel(self.sparse_)
        # K_NM^T K_NM and K_NM^T y, accumulated over chunks of structures (memory
        # O(chunk * d * M * d) instead of O(N * d * M * d))
        eq = NormalEquations.zeros(len(self.K_MM_))
        for start in range(0, X.n_structures, self.chunk_size):
            part = np.arange(start, min(start + self.chunk_size, X.n_structures))
            eq.add(kernel.rows(X.subset(part), self.sparse_), y[part].ravel(),
                   np.ones(part.size * d))
        self.equations_ = eq
        if self.hyperparameters == "likelihood":
            self.delta_, self.sigma_ = self._maximise_likelihood()
        else:
            self.delta_, self.sigma_ = float(self.delta), float(self.sigma)
        self.solution_ = self._solve(self.delta_, self.sigma_)
        self.log_marginal_likelihood_value_ = self.solution_.log_marginal_likelihood
        return self

    def _maximise_likelihood(self) -> tuple[float, float]:
        """Coarse grid around the given (delta, sigma), then Nelder-Mead in log space
        (derivative-free: the jitter fallback makes the LML only piecewise smooth)."""
        def obj_func(theta, eval_gradient=False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    return -self._solve(np.exp(theta[0]), np.exp(theta[1])
                                        ).log_marginal_likelihood
                except np.linalg.LinAlgError:
                    return np.inf

        start = np.log([self.delta, self.sigma])
        steps = np.log(10.0) * np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
        grid = [start + [a, b] for a in steps for b in steps]
        theta, _ = optimize_theta(obj_func, start, np.full((2, 2), [-np.inf, np.inf]),
                                  optimizer="nelder-mead", starts=grid)
        return tuple(float(v) for v in np.exp(theta))

    def _solve(self, delta: float, sigma: float) -> SparseSolution:
        s2 = delta**2
        K_MM = s2 * self.K_MM_
        eq = self.equations_.scaled(1.0 / sigma**2)
        eq = NormalEquations(A=s2 * s2 * eq.A, b=s2 * eq.b, yy=eq.yy,
                             logdet_sigma=eq.logdet_sigma, n=eq.n)
        return solve_normal_equations(K_MM, eq, self.jitter * float(np.mean(np.diag(K_MM))))

    def predict(self, X: EquivariantEnvironments, *, return_cov: bool = False):
        """Mean (n_structures, d) and, with ``return_cov``, the latent covariance of each
        structure's components, (n_structures, d, d)."""
        if X.o3_lambda != self.o3_lambda:
            raise ConfigError(f"This GPR is of lambda={self.o3_lambda}; got "
                              f"lambda={X.o3_lambda} features.")
        d, n = X.values.shape[1], X.n_structures
        s2 = self.delta_**2
        K = s2 * self.kernel.rows(X, self.sparse_)
        mean = (K @ self.solution_.weights).reshape(n, d)
        if not return_cov:
            return mean
        sol = self.solution_
        V = solve_triangular(sol.L, K.T, lower=True, check_finite=False)
        W = solve_triangular(sol.R, K.T, lower=True, check_finite=False)
        V, W = V.reshape(-1, n, d), W.reshape(-1, n, d)
        cov = (s2 * self.kernel.prior_blocks(X)
               - np.einsum("kna,knb->nab", V, V) + np.einsum("kna,knb->nab", W, W))
        return mean, cov
