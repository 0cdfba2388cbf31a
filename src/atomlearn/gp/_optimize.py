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
    if not result.success:
        warnings.warn(
            f"L-BFGS-B did not converge ({result.message}); increase the bounds or the "
            "number of restarts.", stacklevel=3)
    return result.x, float(result.fun)
