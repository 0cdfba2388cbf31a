"""Stationary kernels: RBF (squared exponential), Matern, RationalQuadratic, ExpSineSquared.

Squared distances are computed as :math:`|x|^2 + |y|^2 - 2 x\\cdot y` (one DGEMM) instead of
pairwise differences, which is what makes building large kernel matrices run near the
machine's matrix-product rate.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.special import gammaln, kve

from ..errors import ConfigError
from ._base import (
    Hyperparameter,
    Kernel,
    NormalizedKernelMixin,
    StationaryKernelMixin,
    _fmt,
    memo,
)


def squared_distances(X, Y=None) -> np.ndarray:
    """Pairwise squared Euclidean distances by one matrix product, clipped at zero.

    Parameters
    ----------
    X : array of shape (n_X, n_features)
    Y : array of shape (n_Y, n_features), optional (``None`` means ``X``)

    Returns
    -------
    numpy.ndarray of shape (n_X, n_Y)
    """
    xx = np.einsum("ij,ij->i", X, X)
    if Y is None:
        D = -2.0 * (X @ X.T)
        D += xx[:, None]
        D += xx[None, :]
        np.fill_diagonal(D, 0.0)
    else:
        yy = np.einsum("ij,ij->i", Y, Y)
        D = -2.0 * (X @ Y.T)
        D += xx[:, None]
        D += yy[None, :]
    np.maximum(D, 0.0, out=D)
    return D


def _fingerprint(X):
    """Cheap content hash of an input array (O(n) against the kernel's O(n^2))."""
    X = np.ascontiguousarray(X)
    return (X.shape, zlib.crc32(X.view(np.uint8).ravel()))


def _stack_gradients(K, parts) -> np.ndarray:
    """(n, n, n_free) gradient from ``(hyperparameter, d K / d log value)`` pairs, in
    hyperparameter order, skipping fixed ones (gradients are computed lazily)."""
    grads = [fn() for hp, fn in parts if not hp.fixed]
    return np.dstack(grads) if grads else np.empty((K.shape[0], K.shape[0], 0))


class _LengthScale(NormalizedKernelMixin, StationaryKernelMixin, Kernel):
    """Shared handling of (an)isotropic length scales."""

    @property
    def anisotropic(self) -> bool:
        return bool(np.iterable(self.length_scale) and len(self.length_scale) > 1)

    @property
    def hyperparameter_length_scale(self):
        n = len(self.length_scale) if self.anisotropic else 1
        return Hyperparameter("length_scale", "numeric", self.length_scale_bounds, n)

    def _scaled(self, X, Y=None):
        ls = np.asarray(self.length_scale, dtype=float)
        if ls.ndim == 1 and ls.shape[0] == 1:
            ls = ls[0]
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if ls.ndim == 1 and X.shape[1] != ls.shape[0]:
            raise ValueError(
                f"Anisotropic kernel must have the same number of dimensions as data "
                f"({ls.shape[0]}!={X.shape[1]}): give one length scale per feature or a "
                "scalar."
            )
        return X / ls, None if Y is None else np.atleast_2d(np.asarray(Y, dtype=float)) / ls


class _Isotropic(NormalizedKernelMixin, StationaryKernelMixin, Kernel):
    """Kernels with one scalar length scale."""

    def _squared_distances(self, X, Y):
        if np.iterable(self.length_scale):
            raise IsotropicOnlyError(
                f"{type(self).__name__} kernel only supports isotropic version, please use a "
                f"single scalar for length_scale (got {self.length_scale!r}).")
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return squared_distances(X, None if Y is None else np.atleast_2d(
            np.asarray(Y, dtype=float)))


class IsotropicOnlyError(ConfigError, AttributeError):
    """Raised when a kernel with one length scale is given several (scikit-learn raises an
    AttributeError here)."""


class RBF(_LengthScale):
    """Squared-exponential kernel :math:`k(x, y) = \\exp(-|x - y|^2 / 2\\sigma_l^2)`.

    The lecture's :math:`s^2 \\exp(-|x-x_m|^2/2\\sigma_l^2)` is
    ``ConstantKernel(s**2) * RBF(sigma_l)``.

    Parameters
    ----------
    length_scale : float or array of shape (n_features,)
        :math:`\\sigma_l`, one per feature for an anisotropic kernel (feature units).
    length_scale_bounds : pair of floats or "fixed"
    """

    def __init__(self, length_scale=1.0, length_scale_bounds=(1e-5, 1e5)):
        self.length_scale = length_scale
        self.length_scale_bounds = length_scale_bounds

    def __call__(self, X, Y=None, eval_gradient=False):
        Xs, Ys = self._scaled(X, Y)
        if not eval_gradient:
            K = self._value(X, Y, Xs, Ys)
            return K.copy() if Y is None and memo() is not None else K
        if Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        D = squared_distances(Xs, Ys)
        K = np.exp(-0.5 * D)
        if self.hyperparameter_length_scale.fixed:
            return K, np.empty((K.shape[0], K.shape[0], 0))
        if not self.anisotropic:
            return K, (K * D)[:, :, None]
        diff = (Xs[:, None, :] - Xs[None, :, :]) ** 2
        return K, diff * K[..., None]

    def _value(self, X, Y, Xs, Ys) -> np.ndarray:
        # While hyperparameters are optimised the log-likelihood gradient needs k(X) right
        # after the likelihood did: reuse it for the same inputs and length scale (callers
        # get copies). Outside that context nothing is kept.
        store = memo() if Y is None else None
        key = None
        if store is not None:
            key = (id(self), _fingerprint(X), np.asarray(self.length_scale, float).tobytes())
            if key in store:
                return store[key]
        K = squared_distances(Xs, Ys)
        K *= -0.5
        np.exp(K, out=K)
        if store is not None:
            store.clear()            # one matrix at a time: memory stays O(N^2)
            store[key] = K
        return K

    def profile(self, u, order=1):
        if self.anisotropic:
            return super().profile(u, order)
        inv = 1.0 / float(np.ravel(self.length_scale)[0]) ** 2
        k = np.exp((u - 1.0) * inv)            # |x - y|^2 = 2 - 2u for unit vectors
        return (k, k * inv) if order == 1 else (k, k * inv, k * inv * inv)

    def gradient_contraction(self, X, G, Y=None, K=None):
        if self.hyperparameter_length_scale.fixed:
            return np.empty(0)
        Xs, Ys = self._scaled(X, Y)
        if K is None:
            K = self._value(X, Y, Xs, Ys)
        H = G * K
        Ys = Xs if Ys is None else Ys
        # sum_ij H_ij (x_id - y_jd)^2 = x_d^2 . H 1 + y_d^2 . H^T 1 - 2 x_d^T H y_d
        per_dim = ((Xs**2).T @ H.sum(axis=1) + (Ys**2).T @ H.sum(axis=0)
                   - 2.0 * np.einsum("id,id->d", Xs, H @ Ys))
        return per_dim if self.anisotropic else np.array([per_dim.sum()])

    def _cross_gradient(self, X, Y):
        Xs, Ys = self._scaled(X, Y)
        K = np.exp(-0.5 * squared_distances(Xs, Ys))
        if self.anisotropic:
            return (Xs[:, None, :] - Ys[None, :, :]) ** 2 * K[..., None]
        return (K * squared_distances(Xs, Ys))[:, :, None]


class Matern(_LengthScale):
    """Matérn kernel with smoothness ``nu`` (0.5, 1.5, 2.5, inf closed form; else Bessel).

    Parameters
    ----------
    length_scale : float or array of shape (n_features,)
    length_scale_bounds : pair of floats or "fixed"
    nu : float
        Smoothness; not optimised.
    """

    def __init__(self, length_scale=1.0, length_scale_bounds=(1e-5, 1e5), nu=1.5):
        self.length_scale = length_scale
        self.length_scale_bounds = length_scale_bounds
        self.nu = nu

    def __repr__(self):
        return f"Matern(length_scale={_fmt(self.length_scale)}, nu={self.nu:.3g})"

    def _value(self, d):
        nu = self.nu
        if nu == 0.5:
            return np.exp(-d)
        if nu == 1.5:
            t = np.sqrt(3.0) * d
            return (1.0 + t) * np.exp(-t)
        if nu == 2.5:
            t = np.sqrt(5.0) * d
            return (1.0 + t + t**2 / 3.0) * np.exp(-t)
        if np.isinf(nu):
            return np.exp(-0.5 * d**2)
        # general nu in log space: t^nu K_nu(t) overflows and underflows separately for
        # large nu (nu = 20 gave NaN on the diagonal); the limit at t = 0 is 1
        t = np.sqrt(2.0 * nu) * d
        positive = t > 0
        K = np.ones_like(t)
        tp = t[positive]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            log_k = ((1.0 - nu) * np.log(2.0) - gammaln(nu) + nu * np.log(tp)
                     + np.log(kve(nu, tp)) - tp)
        limit = np.where(tp < 1.0, 1.0, 0.0)       # where K_nu over- or underflows
        K[positive] = np.where(np.isfinite(log_k), np.exp(np.minimum(log_k, 0.0)), limit)
        return K

    def __call__(self, X, Y=None, eval_gradient=False):
        Xs, Ys = self._scaled(X, Y)
        d = np.sqrt(squared_distances(Xs, Ys))
        K = self._value(d)
        if not eval_gradient:
            return K
        if Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        if self.hyperparameter_length_scale.fixed:
            return K, np.empty((K.shape[0], K.shape[0], 0))
        if self.anisotropic:
            D2 = (Xs[:, None, :] - Xs[None, :, :]) ** 2
        else:
            D2 = d[:, :, None] ** 2
        nu = self.nu
        if nu == 0.5:
            safe = np.where(d > 0, d, 1.0)[..., None]
            dK = np.where(d[..., None] > 0, np.exp(-d)[..., None] * D2 / safe, 0.0)
        elif nu == 1.5:
            dK = 3.0 * D2 * np.exp(-np.sqrt(3.0) * d)[..., None]
        elif nu == 2.5:
            t = np.sqrt(5.0) * d
            dK = (5.0 / 3.0) * D2 * ((1.0 + t) * np.exp(-t))[..., None]
        elif np.isinf(nu):
            dK = D2 * K[..., None]
        else:
            return K, _numeric_gradient(self, X)
        return K, dK


def _numeric_gradient(kernel, X, eps=1e-8):
    theta = kernel.theta
    K0 = kernel.clone_with_theta(theta)(X)
    out = np.empty(K0.shape + (len(theta),))
    for k in range(len(theta)):
        t = theta.copy()
        t[k] += eps
        out[..., k] = (kernel.clone_with_theta(t)(X) - K0) / eps
    return out


class RationalQuadratic(_Isotropic):
    """Rational quadratic kernel :math:`(1 + d^2 / 2\\alpha\\sigma_l^2)^{-\\alpha}`.

    A scale mixture of RBF kernels; ``alpha`` sets the weight of large vs small scales.

    Parameters
    ----------
    length_scale, alpha : float
    length_scale_bounds, alpha_bounds : pair of floats or "fixed"
    """

    def __init__(self, length_scale=1.0, alpha=1.0, length_scale_bounds=(1e-5, 1e5),
                 alpha_bounds=(1e-5, 1e5)):
        self.length_scale = length_scale
        self.alpha = alpha
        self.length_scale_bounds = length_scale_bounds
        self.alpha_bounds = alpha_bounds

    @property
    def hyperparameter_length_scale(self):
        return Hyperparameter("length_scale", "numeric", self.length_scale_bounds)

    @property
    def hyperparameter_alpha(self):
        return Hyperparameter("alpha", "numeric", self.alpha_bounds)

    def __call__(self, X, Y=None, eval_gradient=False):
        D = self._squared_distances(X, Y)
        l2 = self.length_scale**2
        base = 1.0 + D / (2.0 * self.alpha * l2)
        K = base**-self.alpha
        if not eval_gradient:
            return K
        if Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        return K, _stack_gradients(K, [
            (self.hyperparameter_alpha,
             lambda: K * (-self.alpha * np.log(base) + D / (2.0 * l2 * base))),
            (self.hyperparameter_length_scale, lambda: D * K / (l2 * base)),
        ])


class ExpSineSquared(_Isotropic):
    """Periodic kernel :math:`\\exp(-2 \\sin^2(\\pi d / p) / \\sigma_l^2)`.

    Parameters
    ----------
    length_scale : float
        :math:`\\sigma_l`.
    periodicity : float
        Period :math:`p` in feature units.
    length_scale_bounds, periodicity_bounds : pair of floats or "fixed"
    """

    def __init__(self, length_scale=1.0, periodicity=1.0, length_scale_bounds=(1e-5, 1e5),
                 periodicity_bounds=(1e-5, 1e5)):
        self.length_scale = length_scale
        self.periodicity = periodicity
        self.length_scale_bounds = length_scale_bounds
        self.periodicity_bounds = periodicity_bounds

    @property
    def hyperparameter_length_scale(self):
        return Hyperparameter("length_scale", "numeric", self.length_scale_bounds)

    @property
    def hyperparameter_periodicity(self):
        return Hyperparameter("periodicity", "numeric", self.periodicity_bounds)

    def __call__(self, X, Y=None, eval_gradient=False):
        d = np.sqrt(self._squared_distances(X, Y))
        arg = np.pi * d / self.periodicity
        sin_arg = np.sin(arg)
        l2 = self.length_scale**2
        K = np.exp(-2.0 * sin_arg**2 / l2)
        if not eval_gradient:
            return K
        if Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        return K, _stack_gradients(K, [
            (self.hyperparameter_length_scale, lambda: 4.0 / l2 * sin_arg**2 * K),
            (self.hyperparameter_periodicity,
             lambda: 4.0 * arg / l2 * np.cos(arg) * sin_arg * K),
        ])
