"""Kernel algebra with scikit-learn's names and semantics.

Hyperparameters are named ``<name>`` with bounds ``<name>_bounds`` (``"fixed"`` freezes
them); :attr:`Kernel.theta` holds the logs of the free values, and
``kernel(X, eval_gradient=True)`` returns gradients with respect to ``theta``. The classes
pass scikit-learn's own kernel and GP tests (``benchmarks/sklearn_compat.py``).

Beyond scikit-learn:

* every kernel implements :meth:`Kernel.gradient_contraction`, which returns
  :math:`\\sum_{ij} G_{ij}\\, \\partial K_{ij} / \\partial \\theta_k` without forming the
  (n, n, n_dims) gradient tensor: the log-marginal-likelihood gradient is such a
  contraction, so hyperparameter optimisation costs matrix products instead of an einsum
  over N^2 P numbers;
* kernels of the normalised dot product :math:`u = \\hat x\\cdot\\hat y` (SOAP's
  :class:`~atomlearn.kernels.NormalizedDotProduct`, :class:`RBF` and :class:`DotProduct` on
  unit vectors, and their sums, products and powers) give :meth:`Kernel.profile`, the
  kernel and its derivatives as functions of u, from which the structure kernels build
  force and stress rows;
* kernels on non-vector inputs (sets of atomic environments) use
  :class:`GenericKernelMixin`, exactly as in scikit-learn.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import warnings
from collections import namedtuple

import numpy as np

from ..errors import ConfigError, ConvergenceWarning, closest, sklearn_compatible


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


def num_samples(X) -> int:
    """Rows of a kernel input: ``X.shape[0]`` for arrays, ``len(X)`` for anything else."""
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(X)


# Kernel values remembered while hyperparameters are optimised (the likelihood and its
# gradient evaluate the same k(X) one after the other). The store lives in a context, not
# on the kernel, so a fitted model never keeps an N x N matrix it does not need.
_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("kernel_memo",
                                                                   default=None)


@contextlib.contextmanager
def remembered_values():
    """Within this block, kernels may reuse k(X) for unchanged inputs and hyperparameters."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def memo() -> dict | None:
    """The active store of :func:`remembered_values`, or None outside it."""
    return _MEMO.get()


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
        for name, p in inspect.signature(type(self).__init__).parameters.items():
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
        if not params:
            return self
        valid = self.get_params(deep=True)
        for key, value in params.items():
            head, _, rest = key.partition("__")
            if head not in valid:
                names = sorted(k for k in valid if "__" not in k)
                raise ConfigError(
                    f"Invalid parameter {head!r} for kernel {self!r}; valid parameters are "
                    f"{names}.{closest(head, names)}"
                )
            if rest:
                getattr(self, head).set_params(**{rest: value})
            else:
                setattr(self, head, value)
        return self

    def clone_with_theta(self, theta) -> Kernel:
        """A copy of this kernel with the log-hyperparameters ``theta``."""
        cloned = clone(self)
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
        theta = [np.atleast_1d(getattr(self, hp.name)) for hp in self.hyperparameters
                 if not hp.fixed]
        return np.log(np.hstack(theta).astype(float)) if theta else np.array([])

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
        if not bounds:
            return np.empty((0, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.vstack(bounds))

    def check_bounds(self) -> None:
        """Raise :class:`ConfigError` when the bounds of a free hyperparameter are not
        positive and increasing (hyperparameters are optimised in log space)."""
        for hp in self.hyperparameters:
            if hp.fixed:
                continue
            low, high = hp.bounds[:, 0], hp.bounds[:, 1]
            if np.any(~(low > 0)) or np.any(~(high >= low)):
                raise ConfigError(
                    f"Bounds of {type(self).__name__}.{hp.name} must be positive and "
                    f"increasing (hyperparameters live in log space). Got "
                    f"{hp.bounds.tolist()}; fix '{hp.name.split('__')[-1]}_bounds'."
                )

    def _check_bounds_params(self) -> None:
        """Warn, after an optimisation, about values that ended at a bound."""
        close = np.isclose(self.bounds, np.atleast_2d(self.theta).T)
        i = 0
        for hp in self.hyperparameters:
            if hp.fixed:
                continue
            for dim in range(hp.n_elements):
                if close[i, 0]:
                    warnings.warn(
                        f"The optimal value found for dimension {dim} of parameter "
                        f"{hp.name} is close to the specified lower bound "
                        f"{hp.bounds[dim][0]}. Decreasing the bound and calling fit again "
                        "may find a better value.", convergence_warning(), stacklevel=3)
                elif close[i, 1]:
                    warnings.warn(
                        f"The optimal value found for dimension {dim} of parameter "
                        f"{hp.name} is close to the specified upper bound "
                        f"{hp.bounds[dim][1]}. Increasing the bound and calling fit again "
                        "may find a better value.", convergence_warning(), stacklevel=3)
                i += 1

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
        for key in set(p) | set(q):
            a_, b_ = p.get(key), q.get(key)
            if isinstance(a_, Kernel) or isinstance(b_, Kernel):
                if a_ != b_:
                    return False
            elif np.any(np.asarray(a_, dtype=object) != np.asarray(b_, dtype=object)):
                return False
        return True

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        parts = [f"{hp.name}={_fmt(getattr(self, hp.name))}" for hp in self.hyperparameters]
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
        """Whether the kernel works only on fixed-length feature vectors."""
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

    def profile(self, u: np.ndarray, order: int = 1) -> tuple[np.ndarray, ...]:
        """The kernel as a function of :math:`u = \\hat x\\cdot\\hat y` for unit vectors.

        Parameters
        ----------
        u : numpy.ndarray
            Dot products of unit-normalised inputs.
        order : {1, 2}
            Number of derivatives to return.

        Returns
        -------
        tuple of numpy.ndarray
            ``(k, dk/du)`` or ``(k, dk/du, d2k/du2)``, each of the shape of ``u``.
        """
        raise ConfigError(
            f"{self!r} is not a function of the normalised dot product of its inputs, so it "
            "cannot be summed over atomic environments with derivatives; use "
            "NormalizedDotProduct (the SOAP kernel), RBF or DotProduct, optionally times a "
            "ConstantKernel."
        )


def convergence_warning() -> type[Warning]:
    """atomlearn's ``ConvergenceWarning``, also scikit-learn's when scikit-learn is loaded
    (see :func:`atomlearn.errors.sklearn_compatible`)."""
    return sklearn_compatible(ConvergenceWarning, "ConvergenceWarning")


def _fmt(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{float(arr):.3g}"
    return "[" + ", ".join(f"{v:.3g}" for v in arr.ravel()) + "]"


def clone(kernel: Kernel) -> Kernel:
    """Deep copy of a kernel with the same parameters (scikit-learn's ``clone``)."""
    params = kernel.get_params(deep=False)
    copied = {k: clone(v) if isinstance(v, Kernel) else
              (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
              for k, v in params.items()}
    return type(kernel)(**copied)


# ---------------------------------------------------------------------------------------
class GenericKernelMixin:
    """Mixin for kernels on inputs that are not fixed-length vectors (sequences, sets of
    atomic environments); as scikit-learn's, estimators then pass ``X`` through unchanged."""

    @property
    def requires_vector_input(self) -> bool:
        return False


class StationaryKernelMixin:
    """Mixin for kernels that depend only on ``x - y``."""

    def is_stationary(self) -> bool:
        return True


class NormalizedKernelMixin:
    """Mixin for kernels with ``k(x, x) = 1``."""

    def diag(self, X) -> np.ndarray:
        return np.ones(num_samples(X))


class _ScalarKernel(StationaryKernelMixin, GenericKernelMixin, Kernel):
    """A kernel of one positive scalar hyperparameter that needs no feature vectors."""

    def _gradient(self, K, hyperparameter, value) -> np.ndarray:
        if hyperparameter.fixed:
            return np.empty((K.shape[0], K.shape[1], 0))
        return value[:, :, None]


class ConstantKernel(_ScalarKernel):
    """Constant kernel ``k(x, y) = constant_value`` (the lecture's :math:`s^2`).

    Parameters
    ----------
    constant_value : float
        The constant; as an amplitude factor it is the prior variance :math:`s^2`
        (:math:`\\delta^2` in GAP's notation).
    constant_value_bounds : pair of floats or "fixed"
    """

    def __init__(self, constant_value=1.0, constant_value_bounds=(1e-5, 1e5)):
        self.constant_value = constant_value
        self.constant_value_bounds = constant_value_bounds

    @property
    def hyperparameter_constant_value(self):
        return Hyperparameter("constant_value", "numeric", self.constant_value_bounds)

    def __call__(self, X, Y=None, eval_gradient=False):
        if Y is None:
            Y = X
        elif eval_gradient:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        K = np.full((num_samples(X), num_samples(Y)), self.constant_value,
                    dtype=np.result_type(float, np.asarray(self.constant_value).dtype))
        if eval_gradient:
            return K, self._gradient(K, self.hyperparameter_constant_value, K.copy())
        return K

    def diag(self, X):
        return np.full(num_samples(X), self.constant_value,
                       dtype=np.result_type(float, np.asarray(self.constant_value).dtype))

    def gradient_contraction(self, X, G, Y=None, K=None):
        if self.hyperparameter_constant_value.fixed:
            return np.empty(0)
        return np.array([float(self.constant_value) * G.sum()])

    def profile(self, u, order=1):
        c = np.full_like(u, float(self.constant_value), dtype=float)
        zero = np.zeros_like(c)
        return (c, zero) if order == 1 else (c, zero, zero)

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
        if Y is not None and eval_gradient:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        if Y is not None:
            return np.zeros((num_samples(X), num_samples(Y)))
        K = float(self.noise_level) * np.eye(num_samples(X))
        if eval_gradient:
            return K, self._gradient(K, self.hyperparameter_noise_level, K.copy())
        return K

    def diag(self, X):
        return np.full(num_samples(X), float(self.noise_level))

    def gradient_contraction(self, X, G, Y=None, K=None):
        if self.hyperparameter_noise_level.fixed:
            return np.empty(0)
        if Y is not None:
            return np.zeros(1)
        return np.array([float(self.noise_level) * G.diagonal().sum()])

    def __repr__(self):
        return f"WhiteKernel(noise_level={self.noise_level:.3g})"


# ---------------------------------------------------------------------------------------
class KernelOperator(Kernel):
    """Base class of kernels that combine two kernels, ``k1`` and ``k2``."""

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

    def check_bounds(self):
        self.k1.check_bounds()
        self.k2.check_bounds()

    def __eq__(self, b):
        if type(self) is not type(b):
            return False
        return ((self.k1 == b.k1 and self.k2 == b.k2)
                or (self.k1 == b.k2 and self.k2 == b.k1))

    __hash__ = object.__hash__

    def is_stationary(self):
        return self.k1.is_stationary() and self.k2.is_stationary()

    @property
    def requires_vector_input(self):
        return self.k1.requires_vector_input or self.k2.requires_vector_input


class Sum(KernelOperator):
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

    def profile(self, u, order=1):
        return tuple(a + b for a, b in zip(self.k1.profile(u, order),
                                           self.k2.profile(u, order), strict=True))

    def __repr__(self):
        return f"{self.k1!r} + {self.k2!r}"


class Product(KernelOperator):
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

    def profile(self, u, order=1):
        a, b = self.k1.profile(u, order), self.k2.profile(u, order)
        out = (a[0] * b[0], a[1] * b[0] + a[0] * b[1])
        if order == 2:
            out += (a[2] * b[0] + 2.0 * a[1] * b[1] + a[0] * b[2],)
        return out

    def __repr__(self):
        return f"{self.k1!r} * {self.k2!r}"


class KernelWrapper(Kernel):
    """Base of kernels built on one inner kernel (``kernel``), whose hyperparameters are
    theirs, addressed as ``kernel__<name>``."""

    @property
    def inner_kernel(self) -> Kernel:
        return self.kernel

    @property
    def hyperparameters(self):
        return [Hyperparameter(f"kernel__{h.name}", h.value_type, h.bounds, h.n_elements,
                               h.fixed) for h in self.inner_kernel.hyperparameters]

    @property
    def theta(self):
        return self.inner_kernel.theta

    @theta.setter
    def theta(self, theta):
        self.inner_kernel.theta = theta

    @property
    def bounds(self):
        return self.inner_kernel.bounds

    def check_bounds(self):
        self.inner_kernel.check_bounds()


class Exponentiation(KernelWrapper):
    """A kernel raised to a fixed power, ``kernel ** exponent``."""

    def __init__(self, kernel: Kernel, exponent: float):
        self.kernel = kernel
        self.exponent = exponent

    def __eq__(self, b):
        return (type(self) is type(b) and self.kernel == b.kernel
                and self.exponent == b.exponent)

    __hash__ = object.__hash__

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

    def profile(self, u, order=1):
        p, k = self.exponent, self.kernel.profile(u, order)
        out = (k[0] ** p, p * k[0] ** (p - 1) * k[1])
        if order == 2:
            out += (p * (p - 1) * k[0] ** (p - 2) * k[1] ** 2 + p * k[0] ** (p - 1) * k[2],)
        return out

    def __repr__(self):
        return f"{self.kernel!r} ** {self.exponent}"


__all__ = ["ConstantKernel", "Exponentiation", "GenericKernelMixin", "Hyperparameter",
           "Kernel", "KernelOperator", "KernelWrapper", "NormalizedKernelMixin", "Product",
           "StationaryKernelMixin", "Sum", "WhiteKernel", "clone", "convergence_warning",
           "memo", "num_samples", "remembered_values"]
