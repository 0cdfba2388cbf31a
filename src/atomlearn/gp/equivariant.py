"""Symmetry-adapted sparse GPR (SA-GPR) of one spherical component lambda of a target.

The kernel is :class:`~atomlearn.kernels.SymmetryAdaptedKernel` (blocks of normalised
lambda-SOAP); sparse points are environments; the weights solve the lecture's normal
equations :math:`(K_{NM}^T K_{NM} + \\sigma^2 K_{MM}) c = K_{NM}^T y` in the QR form of the
scalar sparse GP (:mod:`atomlearn.gp.factor`: the triangular factor of the rows, built
once, never squares their condition number), and the predictive covariance of each
structure's 2 lambda + 1 components is the DTC one. Prior scale and noise are searched
by the one optimiser of every GP with the likelihood's analytic gradient.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from ..errors import ConfigError, DataError, check_choice
from ..kernels import EquivariantEnvironments, SymmetryAdaptedKernel
from ._optimize import optimize_theta
from .factor import RowFactor, lml_and_gradient, solve_factored
from .selection import select_per_element, sparse_counts
from .solver import SparseSolution

HYPERPARAMETERS = ("fixed", "likelihood")


class SymmetryAdaptedGPR:
    """Sparse GPR of one spherical component lambda of a structure-level target.

    Parameters
    ----------
    zeta : int
        Power of the invariant kernel factor.
    n_sparse : int or dict
        Sparse environments of every element, or per element symbol (capped at the
        environments there are); chosen by farthest-point sampling on lambda = 0 SOAP.
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
        counts = sparse_counts(X.numbers, self.n_sparse)
        self.sparse_ = X.points(select_per_element(X.scalar, X.numbers, counts, "fps",
                                                   random_state=self.random_state))
        kernel = self.kernel
        self.K_MM_ = kernel(self.sparse_)
        # the triangular factor of [K_NM | y], updated over chunks of structures (memory
        # O(chunk * d * M * d) instead of O(N * d * M * d))
        factor = RowFactor.zeros(len(self.K_MM_))
        for start in range(0, X.n_structures, self.chunk_size):
            part = np.arange(start, min(start + self.chunk_size, X.n_structures))
            factor.add(kernel.rows(X.subset(part), self.sparse_), y[part].ravel(),
                       np.ones(part.size * d))
        self.factor_ = factor
        if self.hyperparameters == "likelihood":
            self.delta_, self.sigma_ = self._maximise_likelihood(y)
        else:
            self.delta_, self.sigma_ = float(self.delta), float(self.sigma)
        self.solution_ = self._solve(self.delta_, self.sigma_)
        self.log_marginal_likelihood_value_ = self.solution_.log_marginal_likelihood
        return self

    def _maximise_likelihood(self, y: np.ndarray) -> tuple[float, float]:
        """L-BFGS-B in (log delta, log sigma) with the analytic gradient, from the given
        values, within four decades of the targets' spread either way."""
        def obj_func(theta, eval_gradient=True):
            delta, sigma = np.exp(theta)
            value, grad = lml_and_gradient(self.K_MM_, [(self.factor_, sigma)], delta,
                                           self._jitter)
            return (-value, -grad) if eval_gradient else -value

        spread = max(float(np.sqrt(np.mean(y**2))), 1e-12)
        bounds = np.log([[1e-4 * spread, 1e4 * spread], [1e-6 * spread, 10.0 * spread]])
        start = np.clip(np.log([self.delta, self.sigma]), bounds[:, 0], bounds[:, 1])
        theta, _ = optimize_theta(obj_func, start, bounds)
        return tuple(float(v) for v in np.exp(theta))

    @property
    def _jitter(self) -> float:
        return self.jitter * float(np.mean(np.diag(self.K_MM_)))

    def _solve(self, delta: float, sigma: float) -> SparseSolution:
        return solve_factored(self.K_MM_, [(self.factor_, sigma)], delta, self._jitter)

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
