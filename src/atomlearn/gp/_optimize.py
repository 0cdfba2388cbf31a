"""The one hyperparameter optimiser of every GP in atomlearn.

Objectives are scikit-learn's: ``obj_func(theta, eval_gradient=True)`` returns the value
and its gradient with respect to the log-hyperparameters ``theta`` (or only the value with
``eval_gradient=False``). The exact and sparse regressors minimise the negative log
marginal likelihood this way; the structure-level models pass their likelihood or
validation objectives (built from accumulated normal equations, O(M^3) per evaluation).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

from ..errors import ConfigError
from ..kernels import convergence_warning

OPTIMIZERS = ("fmin_l_bfgs_b", "nelder-mead")


def optimize_theta(
    obj_func: Callable,
    theta0: np.ndarray,
    bounds: np.ndarray,
    *,
    optimizer: str | Callable = "fmin_l_bfgs_b",
    n_restarts: int = 0,
    rng: np.random.Generator | np.random.RandomState | None = None,
    starts: Sequence[np.ndarray] = (),
    options: dict | None = None,
) -> tuple[np.ndarray, float]:
    """Minimise ``obj_func`` over log-hyperparameters within ``bounds``.

    Parameters
    ----------
    obj_func : callable
        ``obj_func(theta, eval_gradient=True) -> (value, gradient)`` and
        ``obj_func(theta, eval_gradient=False) -> value``.
    theta0 : array of shape (n_dims,)
        First starting point.
    bounds : array of shape (n_dims, 2)
        Log-space bounds.
    optimizer : {"fmin_l_bfgs_b", "nelder-mead"} or callable
        L-BFGS-B with the analytic gradient, bounded Nelder-Mead (derivative-free, for
        objectives that are only piecewise smooth), or scikit-learn's custom form
        ``optimizer(obj_func, initial_theta, bounds=bounds) -> (theta, value)``.
    n_restarts : int
        Extra runs from points drawn uniformly within ``bounds`` (as scikit-learn does).
    rng : numpy random generator, optional
        Source of the restart points.
    starts : sequence of arrays
        Candidate starting points (e.g. a coarse grid); the best of them and ``theta0``
        starts the first run.
    options : dict, optional
        Passed to :func:`scipy.optimize.minimize`.

    Returns
    -------
    theta : numpy.ndarray
        The best point found.
    value : float
        The objective there.
    """
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 2)
    if starts:
        candidates = [np.asarray(theta0, float), *map(np.asarray, starts)]
        theta0 = min(candidates, key=lambda t: obj_func(t, eval_gradient=False))
    if n_restarts > 0:
        _require_finite(bounds)
    runs = [_run(obj_func, theta0, bounds, optimizer, options)]
    if n_restarts > 0:
        rng = rng if rng is not None else np.random.default_rng()
        for _ in range(n_restarts):
            runs.append(_run(obj_func, rng.uniform(bounds[:, 0], bounds[:, 1]), bounds,
                             optimizer, options))
    best = int(np.argmin([v for _, v in runs]))
    return runs[best]


def check_search_bounds(kernel, n_restarts: int = 0) -> None:
    """Bounds a search can use: finite when it restarts from random points, positive and
    increasing for every free hyperparameter (they are searched in log space)."""
    if n_restarts > 0:
        _require_finite(kernel.bounds)
    kernel.check_bounds()


def _require_finite(bounds: np.ndarray) -> None:
    if not np.isfinite(bounds).all():
        raise ConfigError(
            "Multiple optimizer restarts (n_restarts_optimizer>0) requires that all bounds "
            f"are finite; got log-bounds {np.asarray(bounds).tolist()}.")


def _run(obj_func, theta0, bounds, optimizer, options):
    if callable(optimizer):
        theta, value = optimizer(obj_func, theta0, bounds=bounds)
        return np.asarray(theta, float), float(value)
    if optimizer == "nelder-mead":
        result = minimize(lambda t: obj_func(t, eval_gradient=False), theta0,
                          method="Nelder-Mead", bounds=bounds,
                          options=options or {"xatol": 1e-3, "fatol": 1e-6,
                                              "maxiter": 400})
        return result.x, float(result.fun)
    if optimizer != "fmin_l_bfgs_b":
        raise ConfigError(f"Unknown optimizer {optimizer!r}; valid choices are "
                          f"{OPTIMIZERS} or a callable.")
    result = minimize(obj_func, theta0, method="L-BFGS-B", jac=True, bounds=bounds,
                      options=options)
    if not result.success and not _at_roundoff_optimum(result, bounds):
        warnings.warn(
            f"L-BFGS-B did not converge ({result.message}); increase the bounds or the "
            "number of restarts.", convergence_warning(), stacklevel=4)
    return result.x, float(result.fun)


def _at_roundoff_optimum(result, bounds, gtol: float = 1e-2) -> bool:
    """Whether a failed line search stopped where the projected gradient is below
    ``gtol``: there a 1% change of any hyperparameter moves the objective by less than
    1e-4, and the failure only means round-off (e.g. from threaded BLAS) hid further
    descent."""
    if "ABNORMAL" not in str(result.message) or result.jac is None:
        return False
    g = np.array(result.jac, float)
    lo, hi = np.asarray(bounds, float).T
    # components pushing against an active bound are not descent directions
    g[(result.x <= lo) & (g > 0)] = 0.0
    g[(result.x >= hi) & (g < 0)] = 0.0
    return bool(np.all(np.isfinite(g)) and np.max(np.abs(g)) < gtol)
