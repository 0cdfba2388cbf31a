"""Full Gaussian process regression by Cholesky (Rasmussen & Williams, Alg. 2.1)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import cho_solve, lapack, solve_triangular

from ..errors import ConfigError
from ..kernels import Kernel
from ..kernels._base import as_2d
from ._base import (
    BaseEstimator,
    check_is_fitted,
    cholesky_or_raise,
    kernel_or_default,
    validate_xy,
)
from ._optimize import optimize_theta


class GaussianProcessRegressor(BaseEstimator):
    """Gaussian process regression, the lecture's function-space view.

    The posterior at test points is
    :math:`p(y_*|y_N) = \\mathcal N(K_{*N}(K_{NN}+\\sigma^2 I)^{-1} y_N,\\;
    K_{**} - K_{*N}(K_{NN}+\\sigma^2 I)^{-1}K_{N*})`, computed with the Cholesky factor of
    :math:`K_{NN} + \\sigma^2 I`. Same parameters, attributes and numbers as
    :class:`sklearn.gaussian_process.GaussianProcessRegressor`, but the
    log-marginal-likelihood gradient is a kernel contraction (matrix products) instead
    of an einsum over the (N, N, n_dims) gradient tensor, and :math:`K^{-1}` comes from
    LAPACK's ``potri``.

    Parameters
    ----------
    kernel : Kernel, optional
        Prior covariance; default ``ConstantKernel(1, "fixed") * RBF(1, "fixed")``.
    alpha : float or array of shape (n_samples,)
        Added to the diagonal of the kernel matrix: the noise variance :math:`\\sigma^2`
        (the lecture's :math:`\\eta` for a unit-amplitude kernel), in target units squared.
    optimizer : "fmin_l_bfgs_b", callable or None
        Maximises the log marginal likelihood over ``kernel.theta``; ``None`` keeps the
        kernel's hyperparameters.
    n_restarts_optimizer : int
        Extra optimiser runs from random points within the bounds.
    normalize_y : bool
        Subtract the mean and divide by the standard deviation of ``y`` before fitting.
    copy_X_train : bool
        Keep a copy of the training inputs.
    random_state : int or None
        Seed for the restarts and :meth:`sample_y`.

    Attributes
    ----------
    X_train_, y_train_ : numpy.ndarray
        Training data (``y`` normalised if ``normalize_y``).
    kernel_ : Kernel
        Kernel with the optimised hyperparameters.
    L_ : numpy.ndarray of shape (n_samples, n_samples)
        Lower Cholesky factor of :math:`K + \\alpha I`.
    alpha_ : numpy.ndarray of shape (n_samples,) or (n_samples, n_targets)
        Dual coefficients :math:`(K + \\alpha I)^{-1} y`.
    log_marginal_likelihood_value_ : float

    Examples
    --------
    >>> import numpy as np
    >>> from atomlearn.kernels import RBF
    >>> X = np.linspace(0, 5, 20)[:, None]
    >>> gp = GaussianProcessRegressor(RBF(1.0), alpha=1e-6).fit(X, np.sin(X[:, 0]))
    >>> float(abs(gp.predict(np.array([[2.5]]))[0] - np.sin(2.5))) < 1e-3
    True
    """

    def __init__(self, kernel: Kernel | None = None, *, alpha=1e-10,
                 optimizer="fmin_l_bfgs_b", n_restarts_optimizer: int = 0,
                 normalize_y: bool = False, copy_X_train: bool = True,
                 random_state: int | None = None) -> None:
        self.kernel = kernel
        self.alpha = alpha
        self.optimizer = optimizer
        self.n_restarts_optimizer = n_restarts_optimizer
        self.normalize_y = normalize_y
        self.copy_X_train = copy_X_train
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X, y) -> GaussianProcessRegressor:
        """Fit the GP (and its hyperparameters, if ``optimizer``) to ``X``, ``y``."""
        X, y = validate_xy(X, y)
        self.kernel_ = kernel_or_default(self.kernel)
        self.kernel_.check_bounds()
        self._rng = np.random.RandomState(self.random_state)
        if self.normalize_y:
            self._y_train_mean = np.mean(y, axis=0)
            std = np.std(y, axis=0)
            self._y_train_std = np.where(std == 0.0, 1.0, std) if np.ndim(std) else (
                std if std != 0.0 else 1.0)
            y = (y - self._y_train_mean) / self._y_train_std
        else:
            self._y_train_mean = np.zeros(1 if y.ndim == 1 else y.shape[1])
            self._y_train_std = 1.0
            if y.ndim == 1:
                self._y_train_mean = 0.0
        alpha = np.asarray(self.alpha, dtype=float)
        if alpha.ndim and alpha.shape[0] not in (1, y.shape[0]):
            raise ConfigError(
                f"'alpha' must be a scalar or an array with one value per sample "
                f"({y.shape[0]}). Got shape {alpha.shape} instead."
            )
        self.X_train_ = np.copy(X) if self.copy_X_train else X
        self.y_train_ = np.copy(y)

        if self.optimizer is not None and self.kernel_.n_dims > 0:
            def objective(theta):
                lml, grad = self.log_marginal_likelihood(theta, eval_gradient=True,
                                                         clone_kernel=False)
                return -lml, -grad

            theta, value = optimize_theta(
                objective, self.kernel_.theta, self.kernel_.bounds,
                optimizer=self.optimizer, n_restarts=self.n_restarts_optimizer,
                rng=self._rng)
            self.kernel_.theta = theta
            self.log_marginal_likelihood_value_ = -value
        else:
            self.log_marginal_likelihood_value_ = self.log_marginal_likelihood(
                self.kernel_.theta, clone_kernel=False)

        K = self.kernel_(self.X_train_)
        K[np.diag_indices_from(K)] += self.alpha
        self.L_ = cholesky_or_raise(K, "alpha", self.alpha)
        self.alpha_ = cho_solve((self.L_, True), self.y_train_, check_finite=False)
        return self

    def log_marginal_likelihood(self, theta=None, eval_gradient: bool = False,
                                clone_kernel: bool = True):
        """Log marginal likelihood :math:`\\log p(y|X,\\theta)` (R&W eq. 2.30).

        Parameters
        ----------
        theta : array of shape (n_dims,), optional
            Log-hyperparameters; ``None`` returns the fitted value.
        eval_gradient : bool
            Also return the gradient with respect to ``theta`` (R&W eq. 5.9).
        clone_kernel : bool
            Evaluate on a copy of the kernel (``False`` mutates ``kernel_``).

        Returns
        -------
        float, or (float, numpy.ndarray of shape (n_dims,))
        """
        if theta is None:
            if eval_gradient:
                raise ConfigError("Gradient can only be evaluated for theta!=None.")
            check_is_fitted(self, "log_marginal_likelihood_value_")
            return self.log_marginal_likelihood_value_
        kernel = self.kernel_.clone_with_theta(theta) if clone_kernel else self.kernel_
        if not clone_kernel:
            kernel.theta = theta
        X, y = self.X_train_, self.y_train_
        K = kernel(X)
        K[np.diag_indices_from(K)] += self.alpha
        try:
            L = cholesky_or_raise(K, "alpha", self.alpha)
        except np.linalg.LinAlgError:
            return (-np.inf, np.zeros_like(theta)) if eval_gradient else -np.inf
        y2 = y[:, None] if y.ndim == 1 else y
        alpha = cho_solve((L, True), y2, check_finite=False)
        lml = (-0.5 * np.einsum("ik,ik->k", y2, alpha)
               - np.log(np.diag(L)).sum() - 0.5 * K.shape[0] * np.log(2 * np.pi)).sum()
        if not eval_gradient:
            return float(lml)
        # G = sum_k alpha_k alpha_k^T - n_targets K^-1; dLML/dθ = 1/2 sum_ij G_ij dK_ij/dθ
        K_inv = _inverse_from_cholesky(L)
        G = alpha @ alpha.T
        G -= y2.shape[1] * K_inv
        K -= np.diag(np.broadcast_to(self.alpha, (K.shape[0],)))  # back to k(X) for reuse
        return float(lml), 0.5 * kernel.gradient_contraction(X, G, K=K)

    # -- prediction -------------------------------------------------------------------
    def predict(self, X, *, return_std: bool = False, return_cov: bool = False):
        """Posterior mean, and optionally its standard deviation or covariance.

        Before ``fit``, returns the prior (zero mean, kernel covariance).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        return_std, return_cov : bool
            At most one of them.

        Returns
        -------
        mean : numpy.ndarray of shape (n_samples,) or (n_samples, n_targets)
        std or cov : numpy.ndarray, optional
        """
        if return_std and return_cov:
            raise ConfigError(
                "At most one of return_std or return_cov can be requested.")
        X = as_2d(X)
        if not hasattr(self, "X_train_"):
            kernel = kernel_or_default(self.kernel)
            mean = np.zeros(X.shape[0])
            if return_cov:
                return mean, kernel(X)
            if return_std:
                return mean, np.sqrt(kernel.diag(X))
            return mean
        K_trans = self.kernel_(X, self.X_train_)
        mean = K_trans @ self.alpha_
        mean = self._y_train_std * mean + self._y_train_mean
        if mean.ndim > 1 and mean.shape[1] == 1:
            mean = mean[:, 0]
        if not (return_std or return_cov):
            return mean
        V = solve_triangular(self.L_, K_trans.T, lower=True, check_finite=False)
        scale = np.asarray(self._y_train_std) ** 2
        if return_cov:
            cov = self.kernel_(X) - V.T @ V
            cov = np.outer(cov, scale).reshape(*cov.shape, -1) if np.ndim(scale) else cov * scale
            if cov.ndim == 3 and cov.shape[2] == 1:
                cov = cov[:, :, 0]
            return mean, cov
        var = self.kernel_.diag(X) - np.einsum("ij,ij->j", V, V)
        if np.any(var < 0):
            warnings.warn("Predicted variances smaller than 0. Setting those variances to 0.",
                          stacklevel=2)
            var = np.maximum(var, 0.0)
        var = np.outer(var, scale).reshape(*var.shape, -1) if np.ndim(scale) else var * scale
        if var.ndim == 2 and var.shape[1] == 1:
            var = var[:, 0]
        return mean, np.sqrt(var)

    def sample_y(self, X, n_samples: int = 1, random_state=0) -> np.ndarray:
        """Draw functions from the GP (posterior after ``fit``, prior before).

        Returns
        -------
        numpy.ndarray of shape (n_samples_X, n_samples) for one target
        """
        rng = random_state if isinstance(random_state, np.random.RandomState) else \
            np.random.RandomState(random_state)
        mean, cov = self.predict(X, return_cov=True)
        if mean.ndim == 1:
            return rng.multivariate_normal(mean, cov, n_samples).T
        return np.stack([rng.multivariate_normal(mean[:, t], cov[..., t], n_samples).T
                         for t in range(mean.shape[1])], axis=1)


def _inverse_from_cholesky(L: np.ndarray) -> np.ndarray:
    """:math:`K^{-1}` from the lower Cholesky factor (LAPACK potri), symmetrised."""
    inv, info = lapack.dpotri(L, lower=True)
    if info != 0:
        return cho_solve((L, True), np.eye(L.shape[0]), check_finite=False)
    inv = np.tril(inv)  # potri fills the lower triangle only
    inv += inv.T.copy()
    inv[np.diag_indices_from(inv)] *= 0.5
    return inv
