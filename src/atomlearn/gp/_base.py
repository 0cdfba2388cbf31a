"""Estimator plumbing shared by the GP regressors (scikit-learn conventions).

scikit-learn itself is not imported here (it costs about a second at start-up); the input
checks follow its ``check_array``/``validate_data`` semantics and messages, and the
estimator tags are built only when scikit-learn asks for them.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import ConfigError, NotFittedError, closest, sklearn_compatible
from ..kernels import Kernel, clone


class BaseEstimator:
    """``get_params``/``set_params``/``repr``/``score`` from the constructor signature."""

    #: Whether ``predict`` works before ``fit`` (the GP prior).
    _predicts_unfitted = False
    #: Whether ``y`` may have several columns.
    _multi_output = True

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [n for n, p in sig.parameters.items()
                if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def get_params(self, deep: bool = True) -> dict:
        out = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(out.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params().items()})
        return out

    def set_params(self, **params):
        names = self._param_names()
        for key, value in params.items():
            head, _, rest = key.partition("__")
            if head not in names:
                raise ConfigError(
                    f"Invalid parameter {head!r} for {type(self).__name__}; valid "
                    f"parameters are {names}.{closest(head, names)}"
                )
            if rest:
                getattr(self, head).set_params(**{rest: value})
            else:
                setattr(self, head, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    def score(self, X, y, sample_weight=None) -> float:
        """Coefficient of determination :math:`R^2` of ``predict(X)`` (averaged uniformly
        over targets), as scikit-learn's regressors define it."""
        y = np.asarray(y, dtype=float)
        pred = np.asarray(self.predict(X), dtype=float).reshape(y.shape)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        y2, p2 = y.reshape(len(y), -1), pred.reshape(len(y), -1)
        residual = (w[:, None] * (y2 - p2) ** 2).sum(axis=0)
        mean = np.average(y2, axis=0, weights=w)
        total = (w[:, None] * (y2 - mean) ** 2).sum(axis=0)
        r2 = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0),
                      np.where(residual > 0, 0.0, 1.0))
        return float(np.mean(r2))

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags

        vector = getattr(self, "kernel", None) is None or self.kernel.requires_vector_input
        return Tags(estimator_type="regressor",
                    target_tags=TargetTags(required=True, multi_output=self._multi_output,
                                           single_output=True),
                    regressor_tags=RegressorTags(),
                    input_tags=InputTags(two_d_array=vector, string=not vector),
                    requires_fit=not self._predicts_unfitted)


def check_is_fitted(estimator, attribute: str) -> None:
    """Raise :class:`NotFittedError` if ``estimator`` lacks the fitted ``attribute``."""
    if not hasattr(estimator, attribute):
        raise sklearn_compatible(NotFittedError, "NotFittedError")(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def check_X(estimator, X, *, vector_input: bool = True, reset: bool = False):
    """Validate inputs once at the boundary (scikit-learn's ``check_array`` rules).

    Vector inputs become float64 arrays of shape (n_samples, n_features); ``reset`` records
    ``n_features_in_``, otherwise their width is checked against it. Other inputs (for
    kernels with :class:`~atomlearn.kernels.GenericKernelMixin`) pass unchanged.
    """
    name = type(estimator).__name__
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError(
            f"Sparse data was passed to {name}, but dense data is required: sparse input is "
            "not supported. Use X.toarray() to convert to a dense numpy array.")
    if not vector_input:
        if num_rows(X) == 0:
            raise ValueError(f"Found array with 0 sample(s) while a minimum of 1 is "
                             f"required by {name}.")
        return X
    X = _as_float_array(X, "X")
    if X.ndim < 2:
        raise ValueError(
            f"Expected a 2-D array of shape (n_samples, n_features), got a {X.ndim}-D array "
            f"of shape {X.shape} instead. Reshape your data either using X.reshape(-1, 1) "
            "if your data has a single feature or X.reshape(1, -1) if it contains a single "
            "sample.")
    if X.ndim > 2:
        raise ValueError(f"Found array with dim {X.ndim}, while dim <= 2 is required by "
                         f"{name}.")
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                         f"of 1 is required by {name}.")
    if X.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                         f"of 1 is required by {name}.")
    _check_finite(X, "X", name)
    if reset:
        estimator.n_features_in_ = X.shape[1]
    elif hasattr(estimator, "n_features_in_") and X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input.")
    return X


def check_X_y(estimator, X, y, *, vector_input: bool = True):
    """Validate training data; return ``X`` (see :func:`check_X`) and float64 ``y`` of
    shape (n_samples,) or (n_samples, n_targets)."""
    name = type(estimator).__name__
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None.")
    X = check_X(estimator, X, vector_input=vector_input, reset=True)
    y = _as_float_array(y, "y")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_targets). Got "
                         f"{y.shape}.")
    _check_finite(y, "y", name)
    n = num_rows(X)
    if y.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"[{n}, {y.shape[0]}] (X and y).")
    return X, y


def num_rows(X) -> int:
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(X)


def _as_float_array(a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if np.iscomplexobj(a):
        raise ValueError(f"Complex data not supported: {what} has dtype {a.dtype}.")
    try:
        return a.astype(np.float64, copy=False)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{what} must be numeric: {err}") from err


def _check_finite(a: np.ndarray, what: str, name: str) -> None:
    if not np.all(np.isfinite(a)):
        kind = "NaN" if np.isnan(a).any() else "infinity or a value too large"
        raise ValueError(f"Input {what} contains {kind}; {name} needs finite values. "
                         "Remove or impute those samples.")


def default_kernel(free: bool = True) -> Kernel:
    """``ConstantKernel(1.0) * RBF(1.0)``, scikit-learn's default: with free
    hyperparameters for fitting, fixed ones for the prior of an unfitted model."""
    from ..kernels import RBF, ConstantKernel

    if free:
        return ConstantKernel(1.0) * RBF(1.0)
    return ConstantKernel(1.0, constant_value_bounds="fixed") * RBF(
        1.0, length_scale_bounds="fixed")


def kernel_or_default(kernel: Kernel | None) -> Kernel:
    return default_kernel() if kernel is None else clone(kernel)


def is_vector_kernel(kernel: Kernel | None) -> bool:
    return kernel is None or kernel.requires_vector_input
