"""Dot-product kernels: DotProduct (linear) and the normalised polynomial (SOAP) kernel."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import Hyperparameter, Kernel, NormalizedKernelMixin


class DotProduct(Kernel):
    """Linear kernel :math:`k(x, y) = \\sigma_0^2 + x \\cdot y`.

    Raise it to a power (``DotProduct() ** 2``) for a polynomial kernel.

    Parameters
    ----------
    sigma_0 : float
        Inhomogeneity (offset) of the kernel.
    sigma_0_bounds : pair of floats or "fixed"
    """

    def __init__(self, sigma_0=1.0, sigma_0_bounds=(1e-5, 1e5)):
        self.sigma_0 = sigma_0
        self.sigma_0_bounds = sigma_0_bounds

    @property
    def hyperparameter_sigma_0(self):
        return Hyperparameter("sigma_0", "numeric", self.sigma_0_bounds)

    def __call__(self, X, Y=None, eval_gradient=False):
        X = np.asarray(X, dtype=float)
        K = X @ (X if Y is None else np.asarray(Y, dtype=float)).T + self.sigma_0**2
        if not eval_gradient:
            return K
        if Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        if self.hyperparameter_sigma_0.fixed:
            return K, np.empty((K.shape[0], K.shape[0], 0))
        return K, np.full(K.shape + (1,), 2.0 * self.sigma_0**2)

    def gradient_contraction(self, X, G, Y=None, K=None):
        if self.hyperparameter_sigma_0.fixed:
            return np.empty(0)
        return np.array([2.0 * self.sigma_0**2 * G.sum()])

    def diag(self, X):
        X = np.asarray(X, dtype=float)
        return np.einsum("ij,ij->i", X, X) + self.sigma_0**2

    def is_stationary(self):
        return False

    def profile(self, u, order=1):
        one, zero = np.ones_like(u), np.zeros_like(u)
        k = u + self.sigma_0**2
        return (k, one) if order == 1 else (k, one, zero)


class NormalizedDotProduct(NormalizedKernelMixin, Kernel):
    """Normalised polynomial kernel :math:`(\\hat x \\cdot \\hat y)^\\zeta` (the SOAP kernel).

    :math:`\\hat x = x / |x|`; with SOAP power spectra as features this is the kernel of
    GAP and SA-GPR (``covariance_type=dot_product``, ``zeta``). It has no free
    hyperparameters; multiply by ``ConstantKernel`` for an amplitude.

    Parameters
    ----------
    zeta : int
        Power; 1 is linear in the normalised features, 2 and 4 are common for SOAP.
    """

    def __init__(self, zeta=2):
        self.zeta = zeta

    def __call__(self, X, Y=None, eval_gradient=False):
        Xn = normalize_rows(X)
        Yn = Xn if Y is None else normalize_rows(Y)
        K = (Xn @ Yn.T) ** self.zeta
        if eval_gradient:
            return K, np.empty(K.shape + (0,))
        return K

    def gradient_contraction(self, X, G, Y=None, K=None):
        return np.empty(0)

    def is_stationary(self):
        return False

    def profile(self, u, order=1):
        z = self.zeta
        if not (float(z) == int(z) and z >= 1):
            raise ConfigError(f"'zeta' must be a positive integer. Got {z!r}.")
        z = int(z)
        k, dk = u**z, z * u ** (z - 1)
        if order == 1:
            return k, dk
        return k, dk, (z * (z - 1) * u ** (z - 2) if z >= 2 else np.zeros_like(u))

    def __repr__(self):
        return f"NormalizedDotProduct(zeta={self.zeta})"


def normalize_rows(X) -> np.ndarray:
    """Rows of ``X`` divided by their norms (zero rows stay zero)."""
    X = np.asarray(X, dtype=float)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)
