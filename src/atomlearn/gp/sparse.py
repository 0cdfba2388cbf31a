"""Sparse GPR (subset of regressors / projected process), built and reduced in chunks.

The lecture's sparse GPR writes the weights as

.. math::  c_M = (K_{NM}^T K_{NM} + \\eta K_{MM})^{-1} K_{NM}^T y_N ,

which is the posterior mean of the projected-process (DTC) approximation with noise
variance :math:`\\sigma^2 = \\eta` (for a kernel whose amplitude :math:`s^2` is part of
:math:`K`; for a unit-amplitude kernel :math:`\\eta = \\sigma^2 / s^2`). With one noise
variance per observation, :math:`\\Sigma = \\mathrm{diag}(\\sigma_n^2)`, it generalises to

.. math::  \\tilde A\\, c_M = K_{MN}\\Sigma^{-1} y, \\qquad
           \\tilde A = K_{MM} + K_{MN}\\Sigma^{-1}K_{NM}.

**How it is solved.** :math:`A = K_{MN}\\Sigma^{-1}K_{NM}` and :math:`b` are accumulated chunk
by chunk (peak memory :math:`O(M^2 + \\text{chunk}\\times M)`; the cost is the matrix
products one cannot avoid), then :math:`\\tilde A = K_{MM} + A` is factorised by Cholesky
(as GAP does). Cholesky is backward stable, so this fails only when :math:`\\tilde A` is
singular to working precision; then a jitter proportional to its diagonal is added, with a
warning that says how much. Forming :math:`A` squares the condition number of
:math:`\\Sigma^{-1/2}K_{NM}`; ``solver="qr"`` avoids that with a QR factorisation of the
stacked matrix :math:`[\\Sigma^{-1/2} K_{NM} L^{-T};\\; I]` (:math:`K_{MM} = LL^T`), at twice
the flops and with :math:`K_{NM}` held in memory. (Whitening the normal equations with
:math:`L^{-1}` instead would amplify their rounding errors by :math:`\\mathrm{cond}(K_{MM})`,
which is large whenever sparse points are close.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cholesky, qr, solve_triangular

from ..errors import ConfigError, check_choice
from ..kernels import Kernel
from ..kernels._base import as_2d
from ._base import BaseEstimator, check_is_fitted, kernel_or_default, validate_xy
from ._optimize import optimize_theta
from .selection import select_sparse_points

SOLVERS = ("normal", "qr")


# --------------------------------------------------------------------------------------
# The solver core, shared with the structure-level models (which build K_NM their way).
@dataclass
class NormalEquations:
    """Accumulated :math:`A = K_{MN}\\Sigma^{-1}K_{NM}`, :math:`b`, and scalars for the LML."""

    A: np.ndarray
    b: np.ndarray
    yy: float = 0.0          # y^T Σ^-1 y
    logdet_sigma: float = 0.0
    n: int = 0

    @classmethod
    def zeros(cls, n_sparse: int) -> NormalEquations:
        return cls(np.zeros((n_sparse, n_sparse)), np.zeros(n_sparse))

    def add(self, K: np.ndarray, y: np.ndarray, sigma2: np.ndarray) -> None:
        """Add a chunk: rows ``K`` (n_chunk, M), targets ``y``, noise variances ``sigma2``."""
        w = 1.0 / sigma2
        if np.all(w == w[0]):          # one noise level: scale A instead of K (no copy)
            self.A += w[0] * (K.T @ K)
        else:
            Kw = K * np.sqrt(w)[:, None]
            self.A += Kw.T @ Kw
        self.b += K.T @ (w * y)
        self.yy += float(np.sum(w * y * y))
        self.logdet_sigma += float(np.sum(np.log(sigma2)))
        self.n += len(y)


@dataclass
class SparseSolution:
    """Weights and factors of a solved sparse GP."""

    weights: np.ndarray      # c_M
    L: np.ndarray            # lower Cholesky factor of K_MM + jitter I
    R: np.ndarray            # lower Cholesky factor of Ã = K_MM + K_MN Σ^-1 K_NM
    log_marginal_likelihood: float


def solve_normal_equations(K_MM: np.ndarray, eq: NormalEquations, jitter: float
                           ) -> SparseSolution:
    """Solve :math:`(K_{MM} + A) c = b` by Cholesky (see the module docstring)."""
    L = cholesky_jittered(K_MM, jitter)
    A_tilde = K_MM + eq.A
    A_tilde[np.diag_indices_from(A_tilde)] += jitter
    R = _cholesky_with_fallback(A_tilde)
    w = solve_triangular(R, eq.b, lower=True, check_finite=False)
    weights = solve_triangular(R, w, lower=True, trans="T", check_finite=False)
    return SparseSolution(weights, L, R, _lml(eq.yy, w, eq.logdet_sigma, R, L, eq.n))


def _lml(yy, w, logdet_sigma, R, L, n) -> float:
    # log N(y | 0, Q + Σ); matrix determinant lemma: log|Q+Σ| = log|Σ| + log|Ã| - log|K_MM|
    return float(-0.5 * (yy - float(w @ w) + logdet_sigma
                         + 2.0 * np.log(np.abs(np.diag(R))).sum()
                         - 2.0 * np.log(np.diag(L)).sum() + n * np.log(2.0 * np.pi)))


def _cholesky_with_fallback(A: np.ndarray) -> np.ndarray:
    import warnings

    try:
        return cholesky(A, lower=True, check_finite=False)
    except LinAlgError:
        pass
    scale = float(np.mean(np.diag(A)))
    for power in range(-14, -5):
        added = scale * 10.0**power
        try:
            R = cholesky(A + added * np.eye(len(A)), lower=True, check_finite=False)
        except LinAlgError:
            continue
        warnings.warn(
            f"The sparse-GP system K_MM + K_MN Σ^-1 K_NM is singular to working precision; "
            f"added {added:.3g} to its diagonal. Increase the noise ('alpha'/'sigma') or "
            "'jitter', or use fewer sparse points, for a better-conditioned fit.",
            stacklevel=3)
        return R
    raise np.linalg.LinAlgError(
        "The sparse-GP system K_MM + K_MN Σ^-1 K_NM is not positive definite even with "
        "added jitter; increase the noise ('alpha'/'sigma') or 'jitter'.")


def cholesky_jittered(K_MM: np.ndarray, jitter: float) -> np.ndarray:
    """Lower Cholesky factor of :math:`K_{MM} + \\text{jitter}\\, I`, or a clear error."""
    K = K_MM.copy()
    K[np.diag_indices_from(K)] += jitter
    try:
        return cholesky(K, lower=True, check_finite=False)
    except LinAlgError as err:
        raise np.linalg.LinAlgError(
            "The sparse-point kernel matrix K_MM is not positive definite (duplicate or "
            f"nearly identical sparse points?). Increase 'jitter' (currently {jitter!r}), "
            f"e.g. to {max(jitter * 100, 1e-8):.0e}, or use fewer sparse points."
        ) from err


def predictive_variance(K_sM: np.ndarray, k_ss: np.ndarray, sol: SparseSolution
                        ) -> np.ndarray:
    """DTC / projected-process variance of the latent function.

    .. math:: \\sigma_*^2 = k_{**} - k_{*M}K_{MM}^{-1}k_{M*} + k_{*M}\\tilde A^{-1}k_{M*}

    (Quiñonero-Candela & Rasmussen 2005, Table 1, DTC; Titsias 2009 eq. 6 without the
    trace term). The last term is the uncertainty of the weights; far from all sparse
    points both corrections vanish and the prior variance :math:`k_{**}` is returned.
    """
    V = solve_triangular(sol.L, K_sM.T, lower=True, check_finite=False)
    W = solve_triangular(sol.R, K_sM.T, lower=True, check_finite=False)
    var = k_ss - np.einsum("ij,ij->j", V, V) + np.einsum("ij,ij->j", W, W)
    return np.maximum(var, 0.0)


def chunk_slices(n: int, chunk_size: int) -> Iterator[slice]:
    for start in range(0, n, chunk_size):
        yield slice(start, min(start + chunk_size, n))


def _noise_vector(alpha, n: int) -> np.ndarray:
    alpha = np.asarray(alpha, dtype=float)
    if alpha.ndim == 0:
        alpha = np.full(n, float(alpha))
    if alpha.shape != (n,):
        raise ConfigError(
            f"'alpha' must be a scalar or have one value per sample ({n}). Got shape "
            f"{alpha.shape} instead."
        )
    if np.any(~np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ConfigError("'alpha' (noise variance) must be positive and finite.")
    return alpha


# --------------------------------------------------------------------------------------
class SparseGaussianProcessRegressor(BaseEstimator):
    """Sparse GPR: :math:`y(x) = \\sum_m c_m k(x, x_m)` with M inducing points.

    Parameters
    ----------
    kernel : Kernel, optional
        Prior covariance; default ``ConstantKernel(1, "fixed") * RBF(1, "fixed")``.
    n_sparse : int
        Number M of inducing (sparse) points, at most the number of samples.
    selection : {"fps", "cur", "random"}
        How the inducing points are picked from the training inputs.
    alpha : float or array of shape (n_samples,)
        Noise variance :math:`\\sigma_n^2` of each observation (target units squared):
        the lecture's :math:`\\eta` for a kernel that includes its amplitude. One value per
        sample gives per-observation regularisation (energies vs forces).
    alpha_bounds : pair of floats or "fixed"
        Bounds of the noise scale when it is optimised with the kernel (``alpha`` is
        multiplied by one common factor); ``"fixed"`` keeps it.
    jitter : float
        Added to the diagonal of :math:`K_{MM}` for a stable factorisation.
    optimizer : "fmin_l_bfgs_b", callable or None
        Maximises the sparse (DTC) log marginal likelihood over the kernel's θ and the
        noise scale; ``None`` keeps them.
    n_restarts_optimizer : int
        Extra optimiser runs from random starts within the bounds.
    normalize_y : bool
        Centre and scale ``y`` before fitting.
    solver : {"normal", "qr"}
        ``"normal"``: chunked normal equations, preconditioned by :math:`K_{MM}` (memory
        :math:`O(M^2 + \\text{chunk}\\,M)`); ``"qr"``: QR of the stacked system (holds
        :math:`K_{NM}`, avoids squaring its condition number).
    chunk_size : int
        Rows of :math:`K_{NM}` built at a time.
    random_state : int or None
        Seed of the inducing-point selection and of the restarts.

    Attributes
    ----------
    X_sparse_ : numpy.ndarray of shape (n_sparse, n_features)
    sparse_indices_ : numpy.ndarray of shape (n_sparse,)
    kernel_ : Kernel
    alpha_ : numpy.ndarray of shape (n_sparse,)
        The weights :math:`c_M`.
    noise_scale_ : float
        Factor applied to ``alpha`` by the optimiser (1 without optimisation).
    log_marginal_likelihood_value_ : float

    Examples
    --------
    >>> import numpy as np
    >>> from atomlearn.kernels import RBF
    >>> X = np.linspace(0, 10, 500)[:, None]
    >>> gp = SparseGaussianProcessRegressor(RBF(1.0), n_sparse=20, alpha=1e-4,
    ...                                     optimizer=None).fit(X, np.sin(X[:, 0]))
    >>> float(np.abs(gp.predict(X) - np.sin(X[:, 0])).max()) < 1e-2
    True
    """

    def __init__(self, kernel: Kernel | None = None, *, n_sparse: int = 100,
                 selection: str = "fps", alpha=1e-8, alpha_bounds="fixed",
                 jitter: float = 1e-10, optimizer="fmin_l_bfgs_b",
                 n_restarts_optimizer: int = 0, normalize_y: bool = False,
                 solver: str = "normal", chunk_size: int = 4096,
                 random_state: int | None = None) -> None:
        self.kernel = kernel
        self.n_sparse = n_sparse
        self.selection = selection
        self.alpha = alpha
        self.alpha_bounds = alpha_bounds
        self.jitter = jitter
        self.optimizer = optimizer
        self.n_restarts_optimizer = n_restarts_optimizer
        self.normalize_y = normalize_y
        self.solver = solver
        self.chunk_size = chunk_size
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X, y) -> SparseGaussianProcessRegressor:
        """Select inducing points, optimise hyperparameters if asked, and solve."""
        X, y = validate_xy(X, y, name="SparseGaussianProcessRegressor")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ConfigError(
                f"SparseGaussianProcessRegressor fits one target; y has shape {y.shape}. "
                "Fit one model per column."
            )
        check_choice(self.solver, SOLVERS, "solver")
        sigma2 = _noise_vector(self.alpha, len(y))
        self.kernel_ = kernel_or_default(self.kernel)
        self.kernel_.check_bounds()
        self.sparse_indices_ = select_sparse_points(
            X, self.n_sparse, self.selection, random_state=self.random_state)
        self.X_sparse_ = X[self.sparse_indices_].copy()
        if self.normalize_y:
            self._y_mean, std = float(np.mean(y)), float(np.std(y))
            self._y_std = std if std > 0 else 1.0
        else:
            self._y_mean, self._y_std = 0.0, 1.0
        y = (y - self._y_mean) / self._y_std
        sigma2 = sigma2 / self._y_std**2
        self.noise_scale_ = 1.0

        optimise_noise = not (isinstance(self.alpha_bounds, str)
                              and self.alpha_bounds == "fixed")
        n_kernel = self.kernel_.n_dims
        if self.optimizer is not None and (n_kernel > 0 or optimise_noise):
            bounds = self.kernel_.bounds
            theta0 = self.kernel_.theta
            if optimise_noise:
                bounds = np.vstack([bounds, np.log(np.asarray(self.alpha_bounds, float))
                                    - np.log(np.mean(sigma2 * self._y_std**2))])
                theta0 = np.append(theta0, 0.0)

            def objective(theta):
                self.kernel_.theta = theta[:n_kernel]
                scale = np.exp(theta[n_kernel]) if optimise_noise else 1.0
                lml, grad = sparse_lml_gradient(self.kernel_, X, self.X_sparse_, y,
                                                sigma2 * scale, self.jitter, self.chunk_size)
                if not optimise_noise:
                    grad = grad[:-1]
                return -lml, -grad

            rng = np.random.RandomState(self.random_state)
            theta, _ = optimize_theta(objective, theta0, bounds, optimizer=self.optimizer,
                                      n_restarts=self.n_restarts_optimizer, rng=rng)
            self.kernel_.theta = theta[:n_kernel]
            if optimise_noise:
                self.noise_scale_ = float(np.exp(theta[n_kernel]))
        sigma2 = sigma2 * self.noise_scale_

        K_MM = self.kernel_(self.X_sparse_)
        if self.solver == "qr":
            sol = _solve_qr(self.kernel_, X, self.X_sparse_, y, sigma2, K_MM, self.jitter)
        else:
            eq = NormalEquations.zeros(len(self.X_sparse_))
            for sl in chunk_slices(len(y), self.chunk_size):
                eq.add(self.kernel_(X[sl], self.X_sparse_), y[sl], sigma2[sl])
            sol = solve_normal_equations(K_MM, eq, self.jitter)
        self._solution = sol
        self.alpha_ = sol.weights
        self.log_marginal_likelihood_value_ = sol.log_marginal_likelihood
        return self

    # -- prediction -------------------------------------------------------------------
    def predict(self, X, *, return_std: bool = False, return_cov: bool = False):
        """Mean :math:`K_{*M} c_M`, and optionally the DTC standard deviation.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        return_std : bool
            Also return the latent standard deviation (see :func:`predictive_variance`).
        return_cov : bool
            Not supported by the sparse model (raises).

        Returns
        -------
        mean : numpy.ndarray of shape (n_samples,)
        std : numpy.ndarray of shape (n_samples,), optional
        """
        if return_cov:
            raise ConfigError(
                "SparseGaussianProcessRegressor.predict supports return_std only; use "
                "GaussianProcessRegressor for full predictive covariances."
            )
        check_is_fitted(self, "alpha_")
        X = as_2d(X)
        means, stds = [], []
        for sl in chunk_slices(X.shape[0], self.chunk_size):
            K_sM = self.kernel_(X[sl], self.X_sparse_)
            means.append(K_sM @ self.alpha_)
            if return_std:
                var = predictive_variance(K_sM, self.kernel_.diag(X[sl]), self._solution)
                stds.append(np.sqrt(var))
        mean = np.concatenate(means) * self._y_std + self._y_mean
        if return_std:
            return mean, np.concatenate(stds) * self._y_std
        return mean

    def log_marginal_likelihood(self, theta=None, eval_gradient: bool = False):
        """Sparse (DTC) log marginal likelihood :math:`\\log\\mathcal N(y|0, Q_{NN}+\\Sigma)`.

        ``theta`` holds the kernel's log-hyperparameters followed by the log noise scale.
        """
        check_is_fitted(self, "alpha_")
        if theta is None:
            if eval_gradient:
                raise ConfigError("Gradient can only be evaluated for theta!=None.")
            return self.log_marginal_likelihood_value_
        raise ConfigError(
            "Evaluate the sparse LML at other hyperparameters with "
            "atomlearn.gp.sparse.sparse_lml_gradient(kernel, X, X_sparse, y, sigma2, ...)."
        )


def _solve_qr(kernel, X, X_sparse, y, sigma2, K_MM, jitter) -> SparseSolution:
    L = cholesky_jittered(K_MM, jitter)
    s = 1.0 / np.sqrt(sigma2)
    Phi = solve_triangular(L, (kernel(X, X_sparse) * s[:, None]).T, lower=True,
                           check_finite=False).T            # Σ^-1/2 K_NM L^-T, (N, M)
    M = K_MM.shape[0]
    Q, Rq = qr(np.vstack([Phi, np.eye(M)]), mode="economic", check_finite=False)
    signs = np.where(np.diag(Rq) < 0, -1.0, 1.0)
    Rq *= signs[:, None]
    Q *= signs[None, :]
    v = Q[: len(y)].T @ (y * s)                              # = Rq^-T L^-1 b
    weights = solve_triangular(L, solve_triangular(Rq, v, check_finite=False),
                               lower=True, trans="T", check_finite=False)
    R = L @ Rq.T                                             # Ã = L Rq^T Rq L^T, lower
    yy = float(np.sum(y * y / sigma2))
    lml = _lml(yy, v, float(np.sum(np.log(sigma2))), R, L, len(y))
    return SparseSolution(weights, L, R, lml)


def sparse_lml_gradient(kernel: Kernel, X, X_sparse, y, sigma2, jitter: float,
                        chunk_size: int = 4096) -> tuple[float, np.ndarray]:
    """Sparse (DTC) log marginal likelihood and its gradient.

    The gradient is with respect to the kernel's θ and, as the last entry, the log of a
    common factor on ``sigma2``. With :math:`u = c_M`, :math:`r = y - K_{NM}u`:

    .. math::
        \\partial F = \\tfrac12 \\operatorname{tr}[\\partial K_{MM}(K_{MM}^{-1} - \\tilde A^{-1}
        - u u^T)] + \\textstyle\\sum_{nm} \\partial K_{NM}\\, [\\Sigma^{-1}(r u^T - K_{NM}
        \\tilde A^{-1})]_{nm}

    and :math:`\\partial F/\\partial\\log s = \\tfrac12\\sum_n [r_n^2/\\sigma_n^2 - 1 +
    (K_{NM}\\tilde A^{-1}K_{MN})_{nn}/\\sigma_n^2]`. Two chunked passes over :math:`K_{NM}`.

    Returns
    -------
    lml : float
    gradient : numpy.ndarray of shape (kernel.n_dims + 1,)
    """
    K_MM = kernel(X_sparse)
    eq = NormalEquations.zeros(len(X_sparse))
    for sl in chunk_slices(len(y), chunk_size):
        eq.add(kernel(X[sl], X_sparse), y[sl], sigma2[sl])
    try:
        sol = solve_normal_equations(K_MM, eq, jitter)
    except np.linalg.LinAlgError:
        return -np.inf, np.zeros(kernel.n_dims + 1)
    u = sol.weights
    M = len(u)
    # Ã^-1 = R^-T R^-1 and K_MM^-1 = L^-T L^-1 (K_MM with jitter)
    Li = solve_triangular(sol.L, np.eye(M), lower=True, check_finite=False)
    Ri = solve_triangular(sol.R, np.eye(M), lower=True, check_finite=False)
    A_inv = Ri.T @ Ri
    K_inv = Li.T @ Li
    grad_kernel = 0.5 * kernel.gradient_contraction(X_sparse, K_inv - A_inv - np.outer(u, u))
    d_noise = 0.0
    for sl in chunk_slices(len(y), chunk_size):
        K = kernel(X[sl], X_sparse)
        r = y[sl] - K @ u
        KA = K @ A_inv
        G = (np.outer(r, u) - KA) / sigma2[sl][:, None]
        if kernel.n_dims:
            grad_kernel = grad_kernel + kernel.gradient_contraction(X[sl], G, Y=X_sparse, K=K)
        d_noise += 0.5 * float(np.sum(r * r / sigma2[sl]) - len(r)
                               + np.sum(np.einsum("ij,ij->i", KA, K) / sigma2[sl]))
    return sol.log_marginal_likelihood, np.append(grad_kernel, d_noise)


def accumulate(chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], n_sparse: int
               ) -> NormalEquations:
    """Accumulate normal equations from ``(K_chunk, y_chunk, sigma2_chunk)`` triples."""
    eq = NormalEquations.zeros(n_sparse)
    for K, y, s2 in chunks:
        eq.add(K, y, s2)
    return eq


__all__ = ["NormalEquations", "SparseGaussianProcessRegressor", "SparseSolution",
           "accumulate", "chunk_slices", "cholesky_jittered", "predictive_variance",
           "solve_normal_equations", "sparse_lml_gradient"]
