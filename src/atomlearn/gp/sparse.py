"""Sparse GPR (subset of regressors / projected process) with scikit-learn's interface,
built and reduced in chunks (the solver is :mod:`atomlearn.gp.solver`)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import solve_triangular

from ..errors import ConfigError, check_choice
from ..kernels import Kernel, Sum, WhiteKernel, remembered_values
from ._base import BaseEstimator, check_is_fitted, check_X, check_X_y, kernel_or_default
from ._optimize import check_search_bounds, optimize_theta
from .factor import RowFactor, solve_factored
from .selection import select_sparse_points
from .solver import (
    NormalEquations,
    SparseSolution,
    chunk_slices,
    predictive_variance,
    solve_normal_equations,
)

SOLVERS = ("normal", "qr")


class SparseGaussianProcessRegressor(BaseEstimator):
    """Sparse GPR: :math:`y(x) = \\sum_m c_m k(x, x_m)` with M inducing points.

    Parameters
    ----------
    kernel : Kernel, optional
        Prior covariance; default ``ConstantKernel(1.0) * RBF(1.0)`` (free
        hyperparameters). A ``WhiteKernel`` summand is observation noise: it is added to
        every observation's noise variance (and optimised with the kernel), never to
        :math:`K_{MM}`.
    n_sparse : int
        Number M of inducing (sparse) points; more than the samples are clamped to their
        number with a warning.
    selection : {"fps", "cur", "random"}
        How the inducing points are picked from the training inputs (``"random"`` for
        non-vector inputs).
    alpha : float or array of shape (n_samples,)
        Noise variance :math:`\\sigma_n^2` of each observation: the lecture's :math:`\\eta`
        for a kernel that includes its amplitude. As in scikit-learn, with
        ``normalize_y`` it refers to the normalised targets.
    alpha_bounds : pair of floats or "fixed"
        Bounds of the noise scale when it is optimised with the kernel (``alpha`` is
        multiplied by one common factor); ``"fixed"`` keeps it.
    jitter : float
        Added to the diagonal of :math:`K_{MM}` for a stable factorisation.
    optimizer : "fmin_l_bfgs_b", "nelder-mead", callable or None
        Maximises the sparse (DTC) log marginal likelihood over the kernel's θ and the
        noise scale (see :func:`atomlearn.gp.optimize_theta`); ``None`` keeps them.
    n_restarts_optimizer : int
        Extra optimiser runs from random starts within the bounds.
    normalize_y : bool
        Centre and scale each target column before fitting.
    solver : {"normal", "qr"}
        ``"normal"``: chunked normal equations (memory :math:`O(M^2 + \\text{chunk}\\,M)`);
        ``"qr"``: QR of the stacked system (holds :math:`K_{NM}`, avoids squaring its
        condition number).
    chunk_size : int
        Rows of :math:`K_{NM}` built at a time.
    random_state : int or None
        Seed of the inducing-point selection and of the restarts.

    Attributes
    ----------
    X_sparse_ : numpy.ndarray of shape (n_sparse, n_features), or a list of objects
    sparse_indices_ : numpy.ndarray of shape (n_sparse,)
    kernel_ : Kernel
    alpha_ : numpy.ndarray of shape (n_sparse,) or (n_sparse, n_targets)
        The weights :math:`c_M`.
    noise_scale_ : float
        Factor applied to ``alpha`` by the optimiser (1 without optimisation).
    log_marginal_likelihood_value_ : float
    n_features_in_ : int

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
                 solver: str = "qr", chunk_size: int = 4096,
                 random_state=None) -> None:
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
        """Select inducing points, optimise hyperparameters if asked, and solve.

        Parameters
        ----------
        X : array of shape (n_samples, n_features), or a list of objects
        y : array of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        check_choice(self.solver, SOLVERS, "solver")
        self.kernel_ = kernel_or_default(self.kernel)
        noise = WhiteNoise.split(self.kernel_)
        vector = self.kernel_.requires_vector_input
        X, y = check_X_y(self, X, y, vector_input=vector)
        n = len(y)
        alpha = _noise_vector(self.alpha, n)
        self.sparse_indices_ = self._select(X, n, vector)
        self.X_sparse_ = (X[self.sparse_indices_].copy() if vector
                          else [X[i] for i in self.sparse_indices_])
        if self.normalize_y:
            self._y_mean = np.mean(y, axis=0)
            std = np.atleast_1d(np.std(y, axis=0))
            std[std == 0.0] = 1.0
            self._y_std = std if y.ndim == 2 else std[0]
        else:
            self._y_mean, self._y_std = np.zeros(y.shape[1:]), np.ones(y.shape[1:])
        y = (y - self._y_mean) / self._y_std
        self.noise_scale_ = 1.0

        free_scale = not (isinstance(self.alpha_bounds, str) and self.alpha_bounds == "fixed")
        n_kernel = self.kernel_.n_dims
        if self.optimizer is not None and (n_kernel > 0 or free_scale):
            check_search_bounds(self.kernel_, self.n_restarts_optimizer)
            bounds = self.kernel_.bounds
            theta0 = self.kernel_.theta
            if free_scale:
                bounds = np.vstack([bounds, np.log(np.asarray(self.alpha_bounds, float))
                                    - np.log(np.mean(alpha))])
                theta0 = np.append(theta0, 0.0)

            def obj_func(theta, eval_gradient=True):
                self.kernel_.theta = theta[:n_kernel]
                scale = np.exp(theta[n_kernel]) if free_scale else 1.0
                lml, grad = sparse_lml_gradient(noise, X, self.X_sparse_, y, alpha * scale,
                                                self.jitter, self.chunk_size, self.solver)
                grad = grad if free_scale else grad[:-1]
                return (-lml, -grad) if eval_gradient else -lml

            with remembered_values():
                theta, _ = optimize_theta(
                    obj_func, theta0, bounds, optimizer=self.optimizer,
                    n_restarts=self.n_restarts_optimizer,
                    rng=np.random.RandomState(self.random_state))
            self.kernel_.theta = theta[:n_kernel]
            if free_scale:
                self.noise_scale_ = float(np.exp(theta[n_kernel]))
            self.kernel_._check_bounds_params()
        sigma2 = noise.variances(alpha * self.noise_scale_)

        sol = _solve(noise.signal, X, self.X_sparse_, y, sigma2, self.jitter,
                     self.chunk_size, self.solver)
        self._solution = sol
        self.alpha_ = sol.weights
        self.log_marginal_likelihood_value_ = sol.log_marginal_likelihood
        return self

    def _select(self, X, n: int, vector: bool) -> np.ndarray:
        check_choice(self.selection, ("fps", "cur", "random"), "sparse-point selection")
        m = self.n_sparse
        if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 1:
            raise ConfigError(
                f"The 'n_sparse' parameter of SparseGaussianProcessRegressor must be an int "
                f"in the range [1, n_samples]. Got {m!r} instead.")
        if m > n:
            warnings.warn(
                f"n_sparse={m} is larger than the number of samples ({n}); using all {n} "
                "samples as sparse points (the full GP).", stacklevel=3)
            m = n
        if not vector:
            if self.selection != "random":
                raise ConfigError(
                    f"selection={self.selection!r} needs feature vectors; the kernel works "
                    "on other inputs. Use selection='random'.")
            return np.sort(np.random.default_rng(self.random_state).choice(
                n, size=m, replace=False))
        return select_sparse_points(X, int(m), self.selection,
                                    random_state=self.random_state)

    # -- prediction -------------------------------------------------------------------
    def predict(self, X, *, return_std: bool = False, return_cov: bool = False):
        """Mean :math:`K_{*M} c_M`, and optionally the DTC standard deviation.

        Parameters
        ----------
        X : array of shape (n_samples, n_features), or a list of objects
        return_std : bool
            Also return the standard deviation (see :func:`predictive_variance`; with a
            ``WhiteKernel`` summand it includes that noise, as scikit-learn's GP does).
        return_cov : bool
            Not supported by the sparse model (raises).

        Returns
        -------
        mean : numpy.ndarray of shape (n_samples,) or (n_samples, n_targets)
        std : numpy.ndarray of the same shape, optional
        """
        if return_cov:
            raise ConfigError(
                "SparseGaussianProcessRegressor.predict supports return_std only; use "
                "GaussianProcessRegressor for full predictive covariances.")
        check_is_fitted(self, "alpha_")
        X = check_X(self, X, vector_input=self.kernel_.requires_vector_input)
        noise = WhiteNoise.split(self.kernel_)
        means, variances = [], []
        for sl in chunk_slices(len(X), self.chunk_size):
            Xc = _rows(X, sl)
            K_sM = noise.signal(Xc, self.X_sparse_)
            means.append(K_sM @ self.alpha_)
            if return_std:
                variances.append(predictive_variance(K_sM, self.kernel_.diag(Xc),
                                                     self._solution))
        mean = np.concatenate(means) * self._y_std + self._y_mean
        if not return_std:
            return mean
        var = np.concatenate(variances)
        std = np.sqrt(var if mean.ndim == 1 else var[:, None]) * self._y_std
        return mean, std

    def log_marginal_likelihood(self, theta=None, eval_gradient: bool = False):
        """Sparse (DTC) log marginal likelihood :math:`\\log\\mathcal N(y|0, Q_{NN}+\\Sigma)`
        of the fit; other hyperparameters are evaluated with :func:`sparse_lml_gradient`.
        """
        check_is_fitted(self, "alpha_")
        if theta is None:
            if eval_gradient:
                raise ValueError("Gradient can only be evaluated for theta!=None")
            return self.log_marginal_likelihood_value_
        raise ConfigError(
            "Evaluate the sparse LML at other hyperparameters with "
            "atomlearn.gp.sparse.sparse_lml_gradient(kernel, X, X_sparse, y, sigma2, ...).")


class WhiteNoise:
    """A kernel split into its signal and its ``WhiteKernel`` summands (observation noise).

    The signal shares its sub-kernels with the full kernel, so setting ``kernel.theta``
    updates both; :meth:`variances` adds the white noise levels to the per-observation
    noise.
    """

    def __init__(self, kernel: Kernel, signal: Kernel, whites: list[WhiteKernel],
                 signal_mask: np.ndarray) -> None:
        self.kernel = kernel
        self.signal = signal
        self.whites = whites
        self.signal_mask = signal_mask        # which entries of kernel.theta are signal

    @classmethod
    def split(cls, kernel: Kernel) -> WhiteNoise:
        signal, whites, mask = _split(kernel)
        if signal is None:
            raise ConfigError(
                f"The kernel {kernel!r} is only white noise; add a signal kernel, e.g. "
                "ConstantKernel() * RBF() + WhiteKernel().")
        return cls(kernel, signal, whites, mask)

    def variances(self, alpha: np.ndarray) -> np.ndarray:
        return alpha + sum(float(w.noise_level) for w in self.whites)


def _split(kernel: Kernel):
    if isinstance(kernel, WhiteKernel):
        return None, [kernel], np.zeros(kernel.n_dims, bool)
    if isinstance(kernel, Sum):
        s1, w1, m1 = _split(kernel.k1)
        s2, w2, m2 = _split(kernel.k2)
        signal = s1 if s2 is None else s2 if s1 is None else Sum(s1, s2)
        return signal, w1 + w2, np.concatenate([m1, m2])
    if any(isinstance(v, WhiteKernel) for v in kernel.get_params(deep=True).values()):
        raise ConfigError(
            f"SparseGaussianProcessRegressor treats a WhiteKernel as observation noise and "
            f"needs it as a summand of the kernel; {kernel!r} has one inside a product or "
            "power. Write the kernel as signal + WhiteKernel().")
    return kernel, [], np.ones(kernel.n_dims, bool)


def _rows(X, sl: slice):
    return X[sl] if isinstance(X, np.ndarray) else X[sl.start : sl.stop]


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


def _solve(signal: Kernel, X, X_sparse, y, sigma2, jitter: float, chunk_size: int,
           solver: str) -> SparseSolution:
    """The sparse GP with kernel ``signal`` and noise variances ``sigma2``, its rows built
    in chunks and reduced to a triangular factor (``qr``) or normal equations."""
    K_MM = signal(X_sparse)
    columns = None if y.ndim == 1 else y.shape[1]
    if solver == "qr":
        factor = RowFactor.zeros(len(K_MM), columns)
        for sl in chunk_slices(len(y), chunk_size):
            factor.add(signal(_rows(X, sl), X_sparse), y[sl], sigma2[sl])
        return solve_factored(K_MM, [(factor, 1.0)], 1.0, jitter)
    eq = NormalEquations.zeros(len(K_MM), columns)
    for sl in chunk_slices(len(y), chunk_size):
        eq.add(signal(_rows(X, sl), X_sparse), y[sl], sigma2[sl])
    return solve_normal_equations(K_MM, eq, jitter)


def sparse_lml_gradient(kernel: Kernel | WhiteNoise, X, X_sparse, y, sigma2, jitter: float,
                        chunk_size: int = 4096, solver: str = "qr"
                        ) -> tuple[float, np.ndarray]:
    """Sparse (DTC) log marginal likelihood and its gradient, summed over target columns.

    The gradient is with respect to the kernel's θ (``WhiteKernel`` summands act as
    observation noise) and, as the last entry, the log of a common factor on ``sigma2``.
    With :math:`U = c_M` (M, T), :math:`R = Y - K_{NM}U` and T columns:

    .. math::
        \\partial F = \\tfrac12 \\operatorname{tr}[\\partial K_{MM}(T K_{MM}^{-1} - T\\tilde A^{-1}
        - U U^T)] + \\textstyle\\sum_{nm} \\partial K_{NM}\\, [\\Sigma^{-1}(R U^T - T K_{NM}
        \\tilde A^{-1})]_{nm}

    and :math:`\\partial F/\\partial\\sigma_n^2 = \\tfrac12[\\sum_t r_{nt}^2/\\sigma_n^4
    - T/\\sigma_n^2 + T (K_{NM}\\tilde A^{-1}K_{MN})_{nn}/\\sigma_n^4]`. Two chunked passes
    over :math:`K_{NM}`.

    Returns
    -------
    lml : float
    gradient : numpy.ndarray of shape (kernel.n_dims + 1,)
    """
    noise = kernel if isinstance(kernel, WhiteNoise) else WhiteNoise.split(kernel)
    signal, n_dims = noise.signal, noise.kernel.n_dims
    sigma2 = noise.variances(np.asarray(sigma2, float))
    Y = y[:, None] if y.ndim == 1 else y
    T = Y.shape[1]
    try:
        sol = _solve(signal, X, X_sparse, Y, sigma2, jitter, chunk_size, solver)
    except np.linalg.LinAlgError:
        return -np.inf, np.zeros(n_dims + 1)
    U = sol.weights if sol.weights.ndim == 2 else sol.weights[:, None]
    # Ã^-1 = R^-T R^-1 and K_MM^-1 = L^-T L^-1 (K_MM with jitter)
    Li = solve_triangular_identity(sol.L)
    Ri = solve_triangular_identity(sol.R)
    A_inv = Ri.T @ Ri
    grad_signal = 0.5 * signal.gradient_contraction(
        X_sparse, T * (Li.T @ Li) - T * A_inv - U @ U.T)
    dF_dsigma2 = np.empty(len(Y))
    for sl in chunk_slices(len(Y), chunk_size):
        K = signal(_rows(X, sl), X_sparse)
        Rs = Y[sl] - K @ U
        KA = K @ A_inv
        s2 = sigma2[sl]
        G = (Rs @ U.T - T * KA) / s2[:, None]
        if signal.n_dims:
            grad_signal = grad_signal + signal.gradient_contraction(_rows(X, sl), G,
                                                                    Y=X_sparse, K=K)
        q = np.einsum("ij,ij->i", KA, K)
        dF_dsigma2[sl] = 0.5 * (np.sum(Rs * Rs, axis=1) / s2 - T + T * q / s2) / s2
    grad = np.zeros(n_dims)
    grad[noise.signal_mask] = grad_signal
    white_positions = np.flatnonzero(~noise.signal_mask)
    free_whites = [w for w in noise.whites if w.n_dims]
    for position, white in zip(white_positions, free_whites, strict=True):
        grad[position] = float(white.noise_level) * dF_dsigma2.sum()
    d_scale = float(np.sum((sigma2 - sum(float(w.noise_level) for w in noise.whites))
                           * dF_dsigma2))
    return sol.log_marginal_likelihood, np.append(grad, d_scale)


def solve_triangular_identity(L: np.ndarray) -> np.ndarray:
    """:math:`L^{-1}` of a lower-triangular matrix."""
    return solve_triangular(L, np.eye(len(L)), lower=True, check_finite=False)


__all__ = ["NormalEquations", "SparseGaussianProcessRegressor", "SparseSolution",
           "WhiteNoise", "sparse_lml_gradient"]
