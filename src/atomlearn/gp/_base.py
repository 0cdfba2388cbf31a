"""Estimator plumbing shared by the GP regressors (scikit-learn conventions)."""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import ConfigError, NotFittedError
from ..kernels import Kernel, clone


class BaseEstimator:
    """``get_params``/``set_params``/``repr`` from the constructor signature (sklearn)."""

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
                from ..errors import closest

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

    def __sklearn_tags__(self):  # lets sklearn's estimator checks treat us as a regressor
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor", target_tags=TargetTags(required=True),
                    regressor_tags=RegressorTags())


def check_is_fitted(estimator, attribute: str) -> None:
    """Raise :class:`NotFittedError` if ``estimator`` lacks the fitted ``attribute``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def validate_xy(X, y, *, name: str = "GaussianProcessRegressor"):
    """Validate training data once at the boundary; return float64 ``X`` (2-D) and ``y``."""
    from ..kernels._base import as_2d

    X = as_2d(X)
    y = np.asarray(y, dtype=float)
    if y.ndim not in (1, 2):
        raise ConfigError(
            f"y must have shape (n_samples,) or (n_samples, n_targets). Got {y.shape}."
        )
    if y.shape[0] != X.shape[0]:
        raise ConfigError(
            f"X and y have different numbers of samples: {X.shape[0]} and {y.shape[0]}."
        )
    if X.shape[0] == 0:
        raise ConfigError(f"{name} needs at least one training sample. Got 0.")
    if not np.all(np.isfinite(y)):
        raise ConfigError("y contains NaN or inf; remove those samples or fix the labels.")
    return X, y


def default_kernel() -> Kernel:
    """``ConstantKernel(1.0, "fixed") * RBF(1.0, "fixed")``, scikit-learn's default."""
    from ..kernels import RBF, ConstantKernel

    return ConstantKernel(1.0, constant_value_bounds="fixed") * RBF(
        1.0, length_scale_bounds="fixed")


def cholesky_or_raise(K: np.ndarray, what: str, value: float) -> np.ndarray:
    """Lower Cholesky factor of ``K``, or an error that names the regulariser to raise."""
    from scipy.linalg import LinAlgError, cholesky

    try:
        return cholesky(K, lower=True, check_finite=False)
    except LinAlgError as err:
        raise np.linalg.LinAlgError(
            f"The kernel matrix is not positive definite. Increase '{what}' (currently "
            f"{value!r}), e.g. to {max(float(np.max(value)) * 100, 1e-8):.0e}, or use a "
            "WhiteKernel for noisy data."
        ) from err


def kernel_or_default(kernel: Kernel | None) -> Kernel:
    return default_kernel() if kernel is None else clone(kernel)
