"""Hyperparameter optimisation: minimise -LML with L-BFGS-B from several starts."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize


def optimize_theta(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta0: np.ndarray,
    bounds: np.ndarray,
    *,
    optimizer: str | Callable | None = "fmin_l_bfgs_b",
    n_restarts: int = 0,
    rng: np.random.Generator | np.random.RandomState | None = None,
) -> tuple[np.ndarray, float]:
    """Minimise ``objective`` (value, gradient) over log-hyperparameters.

    The first run starts at ``theta0``; each restart starts at a point drawn uniformly
    within ``bounds`` (log space), as scikit-learn does.

    Returns
    -------
    theta : numpy.ndarray
        The best point found.
    value : float
        The objective there.
    """
    runs = [_run(objective, theta0, bounds, optimizer)]
    if n_restarts > 0:
        if not np.isfinite(bounds).all():
            from ..errors import ConfigError

            raise ConfigError("Multiple optimizer restarts need finite hyperparameter bounds.")
        rng = rng if rng is not None else np.random.default_rng()
        for _ in range(n_restarts):
            start = rng.uniform(bounds[:, 0], bounds[:, 1])
            runs.append(_run(objective, start, bounds, optimizer))
    values = [v for _, v in runs]
    best = int(np.argmin(values))
    return runs[best]


def _run(objective, theta0, bounds, optimizer):
    if callable(optimizer):
        return optimizer(objective, theta0, bounds)
    result = minimize(objective, theta0, method="L-BFGS-B", jac=True, bounds=bounds)
    if not result.success and not _at_roundoff_optimum(result, bounds):
        warnings.warn(
            f"L-BFGS-B did not converge ({result.message}); increase the bounds or the "
            "number of restarts.", stacklevel=3)
    return result.x, float(result.fun)


def _at_roundoff_optimum(result, bounds, gtol: float = 1e-2) -> bool:
    """Whether a failed line search stopped where the projected gradient is below
    ``gtol``: there a 1% change of any hyperparameter moves the LML by less than 1e-4, and
    the failure only means round-off (e.g. from threaded BLAS) hid further descent."""
    if "ABNORMAL" not in str(result.message) or result.jac is None:
        return False
    g = np.array(result.jac, float)
    lo, hi = np.asarray(bounds, float).T
    # components pushing against an active bound are not descent directions
    g[(result.x <= lo) & (g > 0)] = 0.0
    g[(result.x >= hi) & (g < 0)] = 0.0
    return bool(np.all(np.isfinite(g)) and np.max(np.abs(g)) < gtol)
