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
        """Fit to targets ``y`` of shape (n_structures, 2 lambda + 1) (spherical), or
        (n_structures, 2 lambda + 1, n_outputs) for outputs that share the kernel and the
        noise (the radial channels of a density, the shell pairs of a Hamiltonian)."""
        y = np.asarray(y, float)
        self.start(X, y.shape[2] if y.ndim == 3 else None)
        return self.add(X, y).finish()

    def start(self, candidates: EquivariantEnvironments, n_outputs: int | None = None
              ) -> SymmetryAdaptedGPR:
        """Begin a fit streamed over chunks (:meth:`add`, then :meth:`finish`): choose the
        sparse environments among ``candidates``; ``n_outputs`` None for one output
        without its own axis."""
        check_choice(self.hyperparameters, HYPERPARAMETERS, "hyperparameters")
        self.o3_lambda = candidates.o3_lambda
        self.n_outputs_ = n_outputs
        counts = sparse_counts(candidates.numbers, self.n_sparse)
        self.sparse_ = candidates.points(select_per_element(
            candidates.scalar, candidates.numbers, counts, "fps",
            random_state=self.random_state))
        self.K_MM_ = self.kernel(self.sparse_)
        self.factor_ = RowFactor.zeros(len(self.K_MM_), n_outputs)
        self._sum_squares = 0.0
        return self

    def add(self, X: EquivariantEnvironments, y: np.ndarray) -> SymmetryAdaptedGPR:
        """Add structures and their targets to the triangular factor of [K_NM | y], in
        chunks of ``chunk_size`` (memory O(chunk * d * M * d))."""
        d = X.values.shape[1]
        y = np.asarray(y, float)
        shape = (X.n_structures, d) + (() if self.n_outputs_ is None else (self.n_outputs_,))
        if y.shape != shape:
            raise DataError(f"A lambda={X.o3_lambda} GPR needs targets of shape {shape}; "
                            f"got {y.shape}.")
        for start in range(0, X.n_structures, self.chunk_size):
            part = np.arange(start, min(start + self.chunk_size, X.n_structures))
            labels = y[part].reshape(part.size * d, -1)
            self.factor_.add(self.kernel.rows(X.subset(part), self.sparse_),
                             labels[:, 0] if self.n_outputs_ is None else labels,
                             np.ones(part.size * d))
        self._sum_squares += float(np.sum(y**2))
        return self

    def finish(self) -> SymmetryAdaptedGPR:
        """Hyperparameters (if searched) and weights from the rows added."""
        if self.hyperparameters == "likelihood":
            spread = np.sqrt(self._sum_squares / max(self.factor_.n * max(
                self.factor_.n_columns, 1), 1))
            self.delta_, self.sigma_ = self._maximise_likelihood(spread)
        else:
            self.delta_, self.sigma_ = float(self.delta), float(self.sigma)
        self.solution_ = self._solve(self.delta_, self.sigma_)
        if self.n_outputs_ is not None:      # one output keeps its column
            self.solution_.weights = self.solution_.weights.reshape(-1, self.n_outputs_)
        self.log_marginal_likelihood_value_ = self.solution_.log_marginal_likelihood
        return self

    def _maximise_likelihood(self, spread: float) -> tuple[float, float]:
        """L-BFGS-B in (log delta, log sigma) with the analytic gradient, from the given
        values, within four decades of the targets' spread either way."""
        def obj_func(theta, eval_gradient=True):
            delta, sigma = np.exp(theta)
            value, grad = lml_and_gradient(self.K_MM_, [(self.factor_, sigma)], delta,
                                           self._jitter)
            return (-value, -grad) if eval_gradient else -value

        spread = max(float(spread), 1e-12)
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
        """Mean (n_structures, d) (or (n_structures, d, n_outputs)) and, with
        ``return_cov``, the latent covariance of each structure's components, (n_structures,
        d, d), the same for every output."""
        if X.o3_lambda != self.o3_lambda:
            raise ConfigError(f"This GPR is of lambda={self.o3_lambda}; got "
                              f"lambda={X.o3_lambda} features.")
        d, n = X.values.shape[1], X.n_structures
        s2 = self.delta_**2
        K = s2 * self.kernel.rows(X, self.sparse_)
        mean = (K @ self.solution_.weights).reshape(n, d, *self.solution_.weights.shape[1:])
        if not return_cov:
            return mean
        sol = self.solution_
        V = solve_triangular(sol.L, K.T, lower=True, check_finite=False)
        W = solve_triangular(sol.R, K.T, lower=True, check_finite=False)
        V, W = V.reshape(-1, n, d), W.reshape(-1, n, d)
        cov = (s2 * self.kernel.prior_blocks(X)
               - np.einsum("kna,knb->nab", V, V) + np.einsum("kna,knb->nab", W, W))
        return mean, cov
