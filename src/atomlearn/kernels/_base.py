"""Kernel algebra with scikit-learn's names and semantics.

Hyperparameters are named ``<name>`` with bounds ``<name>_bounds`` (``"fixed"`` freezes
them); :attr:`Kernel.theta` holds the logs of the free values, and
``kernel(X, eval_gradient=True)`` returns gradients with respect to ``theta``.

Beyond scikit-learn, every kernel implements :meth:`Kernel.gradient_contraction`, which
returns :math:`\\sum_{ij} G_{ij}\\, \\partial K_{ij} / \\partial \\theta_k` without forming the
(n, n, n_dims) gradient tensor. The log-marginal-likelihood gradient is such a contraction,
so hyperparameter optimisation costs matrix products instead of an einsum over N^2 P
numbers.
"""

from __future__ import annotations

import inspect
from collections import namedtuple

import numpy as np

from ..errors import ConfigError


class Hyperparameter(
    namedtuple("Hyperparameter", ("name", "value_type", "bounds", "n_elements", "fixed"))
):
    """Specification of one kernel hyperparameter (as in scikit-learn).

    Parameters
    ----------
    name : str
        Attribute name on the kernel.
    value_type : str
        ``"numeric"``.
    bounds : pair of floats, array of shape (n_elements, 2), or "fixed"
        Lower and upper bound in the hyperparameter's own (not log) scale.
    n_elements : int
        Number of values (anisotropic length scales have one per feature).
    fixed : bool, optional
        Whether the value is frozen; defaults to ``bounds == "fixed"``.
    """

    __slots__ = ()

    def __new__(cls, name, value_type, bounds, n_elements=1, fixed=None):
        if not isinstance(bounds, str) or bounds != "fixed":
            bounds = np.atleast_2d(np.asarray(bounds, dtype=float))
            if n_elements > 1 and bounds.shape[0] == 1:
                bounds = np.repeat(bounds, n_elements, axis=0)
            elif n_elements > 1 and bounds.shape[0] != n_elements:
                raise ConfigError(
                    f"Bounds of {name!r} must be a pair or {n_elements} pairs (one per "
                    f"element). Got {bounds.shape[0]} pairs instead."
                )
        if fixed is None:
            fixed = isinstance(bounds, str) and bounds == "fixed"
        return super().__new__(cls, name, value_type, bounds, n_elements, fixed)

    def __eq__(self, other):
        return (self.name == other.name and self.value_type == other.value_type
                and np.all(self.bounds == other.bounds)
                and self.n_elements == other.n_elements and self.fixed == other.fixed)

    def __hash__(self):
        return hash((self.name, self.n_elements, self.fixed))


def _check_bounds(kernel: Kernel) -> None:
    for hp in kernel.hyperparameters:
        if hp.fixed:
            continue
        value = np.atleast_1d(getattr(kernel, hp.name))
        low, high = hp.bounds[:, 0], hp.bounds[:, 1]
        if np.any(low <= 0) or np.any(high < low):
            raise ConfigError(
                f"Bounds of {type(kernel).__name__}.{hp.name} must be positive and "
                f"increasing (hyperparameters live in log space). Got {hp.bounds.tolist()}."
            )
        if np.any(value < low) or np.any(value > high):
            raise ConfigError(
                f"{type(kernel).__name__}.{hp.name}={value.tolist()} lies outside its bounds "
                f"{hp.bounds.tolist()}; widen '{hp.name}_bounds' or change the value."
            )


class Kernel:
    """Base class of all kernels.

    Subclasses store their constructor arguments unchanged, declare hyperparameters as
    ``hyperparameter_<name>`` properties, and implement ``__call__``, ``diag`` and
    ``is_stationary``.
    """

    # -- parameters -------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters; with ``deep``, nested kernels' as ``k1__name``."""
        params = {}
        signature = inspect.signature(type(self).__init__)
        for name, p in signature.parameters.items():
            if name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            params[name] = getattr(self, name)
        if deep:
            for name, value in list(params.items()):
                if isinstance(value, Kernel):
                    for sub, sub_value in value.get_params(deep=True).items():
                        params[f"{name}__{sub}"] = sub_value
        return params

    def set_params(self, **params) -> Kernel:
        """Set parameters; nested ones are addressed as ``k1__length_scale``."""
        valid = self.get_params(deep=True)
        for key, value in params.items():
            head, _, rest = key.partition("__")
            if head not in valid:
                from ..errors import closest

                raise ConfigError(
                    f"Invalid parameter {head!r} for kernel {self!r}; valid parameters are "
                    f"{sorted(k for k in valid if '__' not in k)}.{closest(head, valid)}"
                )
            if rest:
                getattr(self, head).set_params(**{rest: value})
            else:
                setattr(self, head, value)
        return self

    def clone_with_theta(self, theta) -> Kernel:
        """A copy of this kernel with the log-hyperparameters ``theta``."""
        cloned = _deep_clone(self)
        cloned.theta = theta
        return cloned

    @property
    def n_dims(self) -> int:
        """Number of free (log-space) hyperparameters."""
        return self.theta.shape[0]

    @property
    def hyperparameters(self) -> list[Hyperparameter]:
        """All hyperparameter specifications of this kernel."""
        return [getattr(self, attr) for attr in sorted(dir(type(self)))
                if attr.startswith("hyperparameter_")]

    @property
    def theta(self) -> np.ndarray:
        """Logs of the free hyperparameter values, flattened."""
        theta = []
        for hp in self.hyperparameters:
            if not hp.fixed:
                theta.append(np.atleast_1d(getattr(self, hp.name)).astype(float))
        return np.log(np.hstack(theta)) if theta else np.array([])

    @theta.setter
    def theta(self, theta) -> None:
        theta = np.asarray(theta, dtype=float)
        i = 0
        for hp in self.hyperparameters:
            if hp.fixed:
                continue
            if hp.n_elements > 1:
                setattr(self, hp.name, np.exp(theta[i : i + hp.n_elements]))
                i += hp.n_elements
            else:
                setattr(self, hp.name, float(np.exp(theta[i])))
                i += 1
        if i != len(theta):
            raise ConfigError(
                f"theta has {len(theta)} values but the kernel {self!r} has {i} free "
                "hyperparameters."
            )

    @property
    def bounds(self) -> np.ndarray:
        """Log-transformed bounds of the free hyperparameters, shape (n_dims, 2)."""
        bounds = [hp.bounds for hp in self.hyperparameters if not hp.fixed]
        return np.log(np.vstack(bounds)) if bounds else np.empty((0, 2))

    def check_bounds(self) -> None:
        """Raise :class:`ConfigError` when a free value lies outside its bounds."""
        nested = [v for v in self.get_params(deep=False).values() if isinstance(v, Kernel)]
        for value in nested:
            value.check_bounds()
        if not nested:
            _check_bounds(self)

    # -- algebra ----------------------------------------------------------------------
    def __add__(self, b):
        return Sum(self, b if isinstance(b, Kernel) else ConstantKernel(b))

    def __radd__(self, b):
        return Sum(b if isinstance(b, Kernel) else ConstantKernel(b), self)

    def __mul__(self, b):
        return Product(self, b if isinstance(b, Kernel) else ConstantKernel(b))

    def __rmul__(self, b):
        return Product(b if isinstance(b, Kernel) else ConstantKernel(b), self)

    def __pow__(self, b):
        return Exponentiation(self, b)

    def __eq__(self, b):
        if type(self) is not type(b):
            return False
        p, q = self.get_params(deep=False), b.get_params(deep=False)
        return all(np.all(np.asarray(p[k]) == np.asarray(q[k])) if not isinstance(p[k], Kernel)
                   else p[k] == q[k] for k in p)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        parts = []
        for hp in self.hyperparameters:
            value = getattr(self, hp.name)
            parts.append(f"{hp.name}={_fmt(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- evaluation -------------------------------------------------------------------
    def __call__(self, X, Y=None, eval_gradient: bool = False):
        raise NotImplementedError

    def diag(self, X) -> np.ndarray:
        """Diagonal of ``k(X, X)``, shape (n_samples,)."""
        raise NotImplementedError

    def is_stationary(self) -> bool:
        """Whether the kernel depends only on ``x - y``."""
        raise NotImplementedError

    @property
    def requires_vector_input(self) -> bool:
        return True

    def gradient_contraction(self, X, G, Y=None, K=None) -> np.ndarray:
        """Return :math:`\\sum_{ij} G_{ij} \\partial K_{ij}/\\partial\\theta` for each θ.

        Parameters
        ----------
        X : array of shape (n_X, n_features)
        G : array of shape (n_X, n_Y)
            Weights, e.g. ``alpha alpha^T - K^-1`` for the log marginal likelihood.
        Y : array of shape (n_Y, n_features), optional
            Second argument; ``None`` means ``X`` (and includes white noise).
        K : array of shape (n_X, n_Y), optional
            ``k(X, Y)`` if already known, to avoid recomputing it.

        Returns
        -------
        numpy.ndarray of shape (n_dims,)
        """
        if self.n_dims == 0:
            return np.empty(0)
        if Y is None:
            _, dK = self(X, eval_gradient=True)
        else:
            dK = self._cross_gradient(X, Y)
        return np.einsum("ij,ijk->k", G, dK)

    def _cross_gradient(self, X, Y):
        raise NotImplementedError(
            f"{type(self).__name__} has no gradient for k(X, Y) with Y != X."
        )


def _fmt(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{float(arr):.3g}"
    return "[" + ", ".join(f"{v:.3g}" for v in arr.ravel()) + "]"


def _deep_clone(kernel: Kernel) -> Kernel:
    params = kernel.get_params(deep=False)
    cloned = {k: _deep_clone(v) if isinstance(v, Kernel) else
              (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
              for k, v in params.items()}
    return type(kernel)(**cloned)


def clone(kernel: Kernel) -> Kernel:
    """Deep copy of a kernel with the same parameters."""
    return _deep_clone(kernel)


def as_2d(X, name: str = "X") -> np.ndarray:
    """Validate a feature matrix: 2-D, finite, float64."""
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        raise ConfigError(
            f"{name} must be a 2-D array of shape (n_samples, n_features). Got a 1-D array "
            f"of shape {X.shape}; reshape with {name}.reshape(-1, 1) for one feature."
        )
    if X.ndim != 2:
        raise ConfigError(
            f"{name} must be a 2-D array of shape (n_samples, n_features). Got shape {X.shape}."
        )
    if not np.all(np.isfinite(X)):
        raise ConfigError(f"{name} contains NaN or inf; remove or impute those values.")
    return X


# ---------------------------------------------------------------------------------------
class _ScalarKernel(Kernel):
    """A kernel of one positive scalar hyperparameter that needs no feature vectors."""

    def is_stationary(self):
        return True

    @property
    def requires_vector_input(self):
        return False

    def _value_and_gradient(self, K, hyperparameter, eval_gradient):
        if not eval_gradient:
            return K
        if hyperparameter.fixed:
            return K, np.empty((K.shape[0], K.shape[0], 0))
        return K, K[:, :, None].copy()


class ConstantKernel(_ScalarKernel):
    """Constant kernel ``k(x, y) = constant_value`` (the lecture's :math:`s^2`).

    Parameters
    ----------
    constant_value : float
        The constant; as an amplitude factor it is the signal variance :math:`s^2`.
    constant_value_bounds : pair of floats or "fixed"
    """

    def __init__(self, constant_value=1.0, constant_value_bounds=(1e-5, 1e5)):
        self.constant_value = constant_value
        self.constant_value_bounds = constant_value_bounds

    @property
    def hyperparameter_constant_value(self):
        return Hyperparameter("constant_value", "numeric", self.constant_value_bounds)

    def __call__(self, X, Y=None, eval_gradient=False):
        X = np.asarray(X)
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        n_y = X.shape[0] if Y is None else np.asarray(Y).shape[0]
        K = np.full((X.shape[0], n_y), float(self.constant_value))
        return self._value_and_gradient(K, self.hyperparameter_constant_value, eval_gradient)

    def diag(self, X):
        return np.full(np.asarray(X).shape[0], float(self.constant_value))

    def gradient_contraction(self, X, G, Y=None, K=None):
        if self.hyperparameter_constant_value.fixed:
            return np.empty(0)
        return np.array([float(self.constant_value) * G.sum()])

    def __repr__(self):
        return f"{np.sqrt(self.constant_value):.3g}**2"


class WhiteKernel(_ScalarKernel):
    """White noise ``k(x, y) = noise_level`` if x is y, else 0.

    Parameters
    ----------
    noise_level : float
        Noise variance (in target units squared).
    noise_level_bounds : pair of floats or "fixed"
    """

    def __init__(self, noise_level=1.0, noise_level_bounds=(1e-5, 1e5)):
        self.noise_level = noise_level
        self.noise_level_bounds = noise_level_bounds

    @property
    def hyperparameter_noise_level(self):
        return Hyperparameter("noise_level", "numeric", self.noise_level_bounds)

    def __call__(self, X, Y=None, eval_gradient=False):
        X = np.asarray(X)
        if Y is not None:
            if eval_gradient:
                raise ValueError("Gradient can only be evaluated when Y is None.")
            return np.zeros((X.shape[0], np.asarray(Y).shape[0]))
        K = float(self.noise_level) * np.eye(X.shape[0])
        return self._value_and_gradient(K, self.hyperparameter_noise_level, eval_gradient)

    def diag(self, X):
        return np.full(np.asarray(X).shape[0], float(self.noise_level))

    def gradient_contraction(self, X, G, Y=None, K=None):
        if self.hyperparameter_noise_level.fixed:
            return np.empty(0)
        if Y is not None:
            return np.zeros(1)
        return np.array([float(self.noise_level) * G.diagonal().sum()])


# ---------------------------------------------------------------------------------------
class _Pair(Kernel):
    def __init__(self, k1: Kernel, k2: Kernel):
        self.k1 = k1
        self.k2 = k2

    @property
    def hyperparameters(self):
        out = [Hyperparameter(f"k1__{h.name}", h.value_type, h.bounds, h.n_elements, h.fixed)
               for h in self.k1.hyperparameters]
        out += [Hyperparameter(f"k2__{h.name}", h.value_type, h.bounds, h.n_elements, h.fixed)
                for h in self.k2.hyperparameters]
        return out

    @property
    def theta(self):
        return np.append(self.k1.theta, self.k2.theta)

    @theta.setter
    def theta(self, theta):
        n1 = self.k1.n_dims
        self.k1.theta = theta[:n1]
        self.k2.theta = theta[n1:]

    @property
    def bounds(self):
        if self.k1.bounds.size == 0:
            return self.k2.bounds
        if self.k2.bounds.size == 0:
            return self.k1.bounds
        return np.vstack((self.k1.bounds, self.k2.bounds))

    def is_stationary(self):
        return self.k1.is_stationary() and self.k2.is_stationary()

    @property
    def requires_vector_input(self):
        return self.k1.requires_vector_input or self.k2.requires_vector_input


class Sum(_Pair):
    """Sum of two kernels, ``k1 + k2``."""

    def __call__(self, X, Y=None, eval_gradient=False):
        if eval_gradient:
            K1, dK1 = self.k1(X, Y, eval_gradient=True)
            K2, dK2 = self.k2(X, Y, eval_gradient=True)
            return K1 + K2, np.dstack((dK1, dK2))
        return self.k1(X, Y) + self.k2(X, Y)

    def diag(self, X):
        return self.k1.diag(X) + self.k2.diag(X)

    def gradient_contraction(self, X, G, Y=None, K=None):
        return np.append(self.k1.gradient_contraction(X, G, Y),
                         self.k2.gradient_contraction(X, G, Y))

    def __repr__(self):
        return f"{self.k1!r} + {self.k2!r}"


class Product(_Pair):
    """Product of two kernels, ``k1 * k2``."""

    def __call__(self, X, Y=None, eval_gradient=False):
        if eval_gradient:
            K1, dK1 = self.k1(X, Y, eval_gradient=True)
            K2, dK2 = self.k2(X, Y, eval_gradient=True)
            return K1 * K2, np.dstack((dK1 * K2[:, :, None], dK2 * K1[:, :, None]))
        return self.k1(X, Y) * self.k2(X, Y)

    def diag(self, X):
        return self.k1.diag(X) * self.k2.diag(X)

    def gradient_contraction(self, X, G, Y=None, K=None):
        # d(K1 K2) = dK1 K2 + K1 dK2: contract each factor with G weighted by the other.
        parts = []
        K1 = self.k1(X, Y)
        K2 = self.k2(X, Y)
        if self.k1.n_dims:
            parts.append(self.k1.gradient_contraction(X, G * K2, Y, K=K1))
        if self.k2.n_dims:
            parts.append(self.k2.gradient_contraction(X, G * K1, Y, K=K2))
        return np.concatenate(parts) if parts else np.empty(0)

    def __repr__(self):
        return f"{self.k1!r} * {self.k2!r}"


class Exponentiation(Kernel):
    """A kernel raised to a fixed power, ``kernel ** exponent``."""

    def __init__(self, kernel: Kernel, exponent: float):
        self.kernel = kernel
        self.exponent = exponent

    @property
    def hyperparameters(self):
        return [Hyperparameter(f"kernel__{h.name}", h.value_type, h.bounds, h.n_elements,
                               h.fixed) for h in self.kernel.hyperparameters]

    @property
    def theta(self):
        return self.kernel.theta

    @theta.setter
    def theta(self, theta):
        self.kernel.theta = theta

    @property
    def bounds(self):
        return self.kernel.bounds

    def __call__(self, X, Y=None, eval_gradient=False):
        if eval_gradient:
            K, dK = self.kernel(X, Y, eval_gradient=True)
            dK = dK * (self.exponent * K[:, :, None] ** (self.exponent - 1))
            return K**self.exponent, dK
        return self.kernel(X, Y) ** self.exponent

    def diag(self, X):
        return self.kernel.diag(X) ** self.exponent

    def is_stationary(self):
        return self.kernel.is_stationary()

    @property
    def requires_vector_input(self):
        return self.kernel.requires_vector_input

    def gradient_contraction(self, X, G, Y=None, K=None):
        if self.n_dims == 0:
            return np.empty(0)
        K = self.kernel(X, Y)
        return self.kernel.gradient_contraction(
            X, G * (self.exponent * K ** (self.exponent - 1)), Y, K=K)

    def __repr__(self):
        return f"{self.kernel!r} ** {self.exponent}"


__all__ = ["ConstantKernel", "Exponentiation", "Hyperparameter", "Kernel", "Product", "Sum",
           "WhiteKernel", "as_2d", "clone"]
