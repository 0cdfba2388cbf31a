"""Full Gaussian process regression by Cholesky (Rasmussen & Williams, Alg. 2.1)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import cho_solve, cholesky, lapack, solve_triangular

from ..errors import ConfigError
from ..kernels import Kernel, remembered_values
from ._base import (
    BaseEstimator,
    check_is_fitted,
    check_X,
    check_X_y,
    default_kernel,
    is_vector_kernel,
    kernel_or_default,
    num_rows,
)
from ._optimize import check_search_bounds, optimize_theta


class PredictRequestError(ConfigError, RuntimeError):
    """Raised when ``predict`` is asked for both the std and the covariance (scikit-learn
    raises a RuntimeError here)."""


class GaussianProcessRegressor(BaseEstimator):
    """Gaussian process regression, the lecture's function-space view.

    The posterior at test points is
    :math:`p(y_*|y_N) = \\mathcal N(K_{*N}(K_{NN}+\\sigma^2 I)^{-1} y_N,\\;
    K_{**} - K_{*N}(K_{NN}+\\sigma^2 I)^{-1}K_{N*})`, computed with the Cholesky factor of
    :math:`K_{NN} + \\sigma^2 I`. Same parameters, attributes and numbers as
    :class:`sklearn.gaussian_process.GaussianProcessRegressor` (its own test file passes
    against this class: ``benchmarks/sklearn_compat.py``), but the log-marginal-likelihood
    gradient is a kernel contraction (matrix products) instead of an einsum over the
    (N, N, n_dims) gradient tensor, and :math:`K^{-1}` comes from LAPACK's ``potri``.

    Parameters
    ----------
    kernel : Kernel, optional
        Prior covariance; default ``ConstantKernel(1.0) * RBF(1.0)`` with free
        hyperparameters (the prior of an unfitted model keeps them fixed at 1).
    alpha : float or array of shape (n_samples,)
        Added to the diagonal of the kernel matrix: the noise variance :math:`\\sigma^2`
        (the lecture's :math:`\\eta` for a unit-amplitude kernel), in target units squared.
    optimizer : "fmin_l_bfgs_b", callable or None
        Maximises the log marginal likelihood over ``kernel.theta``; a callable is used as
        ``optimizer(obj_func, initial_theta, bounds=bounds) -> (theta, value)`` with
        ``obj_func(theta, eval_gradient=True)``; ``None`` keeps the kernel's
        hyperparameters.
    n_restarts_optimizer : int
        Extra optimiser runs from points drawn log-uniformly within the bounds.
    normalize_y : bool
        Subtract the mean and divide by the standard deviation of ``y`` before fitting.
    copy_X_train : bool
        Keep a copy of the training inputs.
    n_targets : int, optional
        Number of target columns: fixes the output shapes of the prior before ``fit``
        and is checked against ``y``.
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
    n_features_in_ : int
        Width of the training inputs (vector inputs only).

    Examples
    --------
    >>> import numpy as np
    >>> from atomlearn.kernels import RBF
    >>> X = np.linspace(0, 5, 20)[:, None]
    >>> gp = GaussianProcessRegressor(RBF(1.0), alpha=1e-6).fit(X, np.sin(X[:, 0]))
    >>> float(abs(gp.predict(np.array([[2.5]]))[0] - np.sin(2.5))) < 1e-3
    True
    """

    _predicts_unfitted = True

    def __init__(self, kernel: Kernel | None = None, *, alpha=1e-10,
                 optimizer="fmin_l_bfgs_b", n_restarts_optimizer: int = 0,
                 normalize_y: bool = False, copy_X_train: bool = True,
                 n_targets: int | None = None, random_state=None) -> None:
        self.kernel = kernel
        self.alpha = alpha
        self.optimizer = optimizer
        self.n_restarts_optimizer = n_restarts_optimizer
        self.normalize_y = normalize_y
        self.copy_X_train = copy_X_train
        self.n_targets = n_targets
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X, y) -> GaussianProcessRegressor:
        """Fit the GP (and its hyperparameters, if ``optimizer``) to ``X``, ``y``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features), or a list of objects for kernels on
            non-vector inputs
        y : array of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        self.kernel_ = kernel_or_default(self.kernel)
        X, y = check_X_y(self, X, y, vector_input=self.kernel_.requires_vector_input)
        n_seen = y.shape[1] if y.ndim == 2 else 1
        if self.n_targets is not None and n_seen != self.n_targets:
            raise ValueError(
                "The number of targets seen in `y` is different from the parameter "
                f"`n_targets`. Got {n_seen} != {self.n_targets}.")
        self._rng = _random_state(self.random_state)
        if self.normalize_y:
            self._y_train_mean = np.mean(y, axis=0)
            std = np.atleast_1d(np.std(y, axis=0))
            std[std == 0.0] = 1.0
            self._y_train_std = std if y.ndim == 2 else std[0]
            y = (y - self._y_train_mean) / self._y_train_std
        else:
            shape = (y.shape[1],) if y.ndim == 2 else ()
            self._y_train_mean = np.zeros(shape)
            self._y_train_std = np.ones(shape)
        alpha = np.asarray(self.alpha, dtype=float)
        if alpha.ndim and alpha.shape[0] not in (1, y.shape[0]):
            raise ValueError(
                "alpha must be a scalar or an array with same number of entries as y "
                f"({alpha.shape[0]} != {y.shape[0]}).")
        self._alpha = alpha[0] if alpha.ndim and alpha.shape[0] == 1 else alpha
        self.X_train_ = (np.copy(X) if self.copy_X_train and isinstance(X, np.ndarray)
                         else X)
        self.y_train_ = np.copy(y)

        if self.optimizer is not None and self.kernel_.n_dims > 0:
            check_search_bounds(self.kernel_, self.n_restarts_optimizer)

            def obj_func(theta, eval_gradient=True):
                if eval_gradient:
                    lml, grad = self.log_marginal_likelihood(theta, eval_gradient=True,
                                                             clone_kernel=False)
                    return -lml, -grad
                return -self.log_marginal_likelihood(theta, clone_kernel=False)

            with remembered_values():
                theta, value = optimize_theta(
                    obj_func, self.kernel_.theta, self.kernel_.bounds,
                    optimizer=self.optimizer, n_restarts=self.n_restarts_optimizer,
                    rng=self._rng)
            self.kernel_.theta = theta
            self.kernel_._check_bounds_params()
            self.log_marginal_likelihood_value_ = -value
        else:
            self.log_marginal_likelihood_value_ = self.log_marginal_likelihood(
                self.kernel_.theta, clone_kernel=False)

        K = self.kernel_(self.X_train_)
        K[np.diag_indices_from(K)] += self._alpha
        try:
            self.L_ = cholesky(K, lower=True, check_finite=False)
        except np.linalg.LinAlgError as err:
            raise np.linalg.LinAlgError(
                f"The kernel, {self.kernel_}, is not returning a positive definite matrix. "
                "Try gradually increasing the 'alpha' parameter of your "
                f"GaussianProcessRegressor estimator. It is {self.alpha!r} now; for noisy "
                "data add a WhiteKernel.") from err
        self.alpha_ = cho_solve((self.L_, True), self.y_train_, check_finite=False)
        return self

    def log_marginal_likelihood(self, theta=None, eval_gradient: bool = False,
                                clone_kernel: bool = True):
        """Log marginal likelihood :math:`\\log p(y|X,\\theta)` (R&W eq. 2.30), summed over
        targets.

        Parameters
        ----------
        theta : array of shape (n_dims,), optional
            Log-hyperparameters; ``None`` returns the fitted value.
        eval_gradient : bool
            Also return the gradient with respect to ``theta`` (R&W eq. 5.9).
        clone_kernel : bool
            Evaluate on a copy of the kernel (``False`` sets ``kernel_.theta``).

        Returns
        -------
        float, or (float, numpy.ndarray of shape (n_dims,))
        """
        if theta is None:
            if eval_gradient:
                raise ValueError("Gradient can only be evaluated for theta!=None")
            check_is_fitted(self, "log_marginal_likelihood_value_")
            return self.log_marginal_likelihood_value_
        if clone_kernel:
            kernel = self.kernel_.clone_with_theta(theta)
        else:
            kernel = self.kernel_
            kernel.theta = theta
        X, y = self.X_train_, self.y_train_
        K = kernel(X)
        K[np.diag_indices_from(K)] += self._alpha
        try:
            L = cholesky(K, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return (-np.inf, np.zeros_like(theta)) if eval_gradient else -np.inf
        y2 = y[:, None] if y.ndim == 1 else y
        alpha = cho_solve((L, True), y2, check_finite=False)
        # a NumPy float, as scikit-learn returns (a Python float would make
        # ``lml - np.float32(eps)`` a float32 under NumPy 2's promotion rules)
        lml = (-0.5 * np.einsum("ik,ik->k", y2, alpha) - np.log(np.diag(L)).sum()
               - 0.5 * K.shape[0] * np.log(2 * np.pi)).sum()
        if not eval_gradient:
            return lml
        # G = sum_k alpha_k alpha_k^T - n_targets K^-1; dLML/dθ = 1/2 sum_ij G_ij dK_ij/dθ
        G = alpha @ alpha.T
        G -= y2.shape[1] * _inverse_from_cholesky(L)
        K[np.diag_indices_from(K)] -= self._alpha        # back to k(X) for reuse
        return lml, 0.5 * kernel.gradient_contraction(X, G, K=K)

    # -- prediction -------------------------------------------------------------------
    def predict(self, X, *, return_std: bool = False, return_cov: bool = False):
        """Posterior mean, and optionally its standard deviation or covariance.

        Before ``fit``, returns the prior (zero mean, kernel covariance).

        Parameters
        ----------
        X : array of shape (n_samples, n_features), or a list of objects
        return_std, return_cov : bool
            At most one of them.

        Returns
        -------
        mean : numpy.ndarray of shape (n_samples,) or (n_samples, n_targets)
        std : numpy.ndarray of the shape of ``mean``, optional
        cov : numpy.ndarray of shape (n_samples, n_samples) or
            (n_samples, n_samples, n_targets), optional
        """
        if return_std and return_cov:
            raise PredictRequestError(
                "At most one of return_std or return_cov can be requested.")
        fitted = hasattr(self, "X_train_")
        kernel = self.kernel_ if fitted else (
            default_kernel(free=False) if self.kernel is None else self.kernel)
        X = check_X(self, X, vector_input=is_vector_kernel(kernel))
        if not fitted:
            return self._prior(kernel, X, return_std, return_cov)
        K_trans = kernel(X, self.X_train_)
        mean = self._y_train_std * (K_trans @ self.alpha_) + self._y_train_mean
        if mean.ndim == 2 and mean.shape[1] == 1:
            mean = mean[:, 0]
        if not (return_std or return_cov):
            return mean
        V = solve_triangular(self.L_, K_trans.T, lower=True, check_finite=False)
        scale = np.asarray(self._y_train_std, float) ** 2
        if return_cov:
            cov = kernel(X) - V.T @ V
            return mean, _per_target(cov, scale, mean)
        var = kernel.diag(X).copy()
        var -= np.einsum("ij,ji->i", V.T, V)
        if np.any(var < 0):
            warnings.warn("Predicted variances smaller than 0. Setting those variances to 0.",
                          stacklevel=2)
            var = np.maximum(var, 0.0)
        return mean, np.sqrt(_per_target(var, scale, mean))

    def _prior(self, kernel, X, return_std, return_cov):
        n_targets = self.n_targets if self.n_targets is not None else 1
        n = num_rows(X)
        mean = np.zeros((n, n_targets)).squeeze() if n_targets > 1 else np.zeros(n)
        if return_cov:
            cov = kernel(X)
            return mean, (np.repeat(cov[..., None], n_targets, axis=-1) if n_targets > 1
                          else cov)
        if return_std:
            var = kernel.diag(X)
            return mean, np.sqrt(np.repeat(var[:, None], n_targets, axis=1)
                                 if n_targets > 1 else var)
        return mean

    def sample_y(self, X, n_samples: int = 1, random_state=0) -> np.ndarray:
        """Draw functions from the GP (posterior after ``fit``, prior before).

        Returns
        -------
        numpy.ndarray of shape (n_samples_X, n_samples), or
            (n_samples_X, n_targets, n_samples) for several targets
        """
        rng = _random_state(random_state)
        mean, cov = self.predict(X, return_cov=True)
        if mean.ndim == 1:
            return rng.multivariate_normal(mean, cov, n_samples).T
        return np.stack([rng.multivariate_normal(mean[:, t], cov[..., t], n_samples).T
                         for t in range(mean.shape[1])], axis=1)


def _per_target(value: np.ndarray, scale: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Variances of the normalised GP in the units of each target column: one trailing
    axis per target, none when the mean has one column (scikit-learn squeezes it)."""
    if mean.ndim == 1:
        return value * float(np.ravel(scale)[0])
    return value[..., None] * scale


def _random_state(seed):
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    return np.random.RandomState(seed)


def _inverse_from_cholesky(L: np.ndarray) -> np.ndarray:
    """:math:`K^{-1}` from the lower Cholesky factor (LAPACK potri), symmetrised."""
    inv, info = lapack.dpotri(L, lower=True)
    if info != 0:
        return cho_solve((L, True), np.eye(L.shape[0]), check_finite=False)
    inv = np.tril(inv)  # potri fills the lower triangle only
    inv += inv.T.copy()
    inv[np.diag_indices_from(inv)] *= 0.5
    return inv
