"""Hyperparameters by cross-validation: the lecture's "often more practical" route."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, check_choice
from ..kernels import Kernel, clone


def kfold_indices(n_samples: int, n_splits: int = 5, *, shuffle: bool = True,
                  random_state: int | None = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train / validation index pairs of k-fold cross-validation.

    Parameters
    ----------
    n_samples : int
    n_splits : int
        Number of folds, in [2, n_samples].
    shuffle : bool
        Shuffle before splitting (seeded by ``random_state``).

    Returns
    -------
    list of (train, validation) index arrays
    """
    if not 2 <= n_splits <= n_samples:
        raise ConfigError(
            f"'n_splits' must be in [2, n_samples={n_samples}]. Got {n_splits!r} instead.")
    order = (np.random.default_rng(random_state).permutation(n_samples) if shuffle
             else np.arange(n_samples))
    folds = np.array_split(order, n_splits)
    return [(np.sort(np.concatenate(folds[:k] + folds[k + 1:])), np.sort(folds[k]))
            for k in range(n_splits)]


def clone_estimator(estimator):
    """Unfitted copy of an estimator with the same parameters (kernels deep-copied)."""
    params = {k: clone(v) if isinstance(v, Kernel) else v
              for k, v in estimator.get_params(deep=False).items()}
    return type(estimator)(**params)


_SCORES = {
    "rmse": lambda p, y: float(np.sqrt(np.mean((p - y) ** 2))),
    "mae": lambda p, y: float(np.mean(np.abs(p - y))),
}


def cross_val_score(estimator, X, y, *, n_splits: int = 5, metric: str = "rmse",
                    random_state: int | None = 0) -> np.ndarray:
    """Validation error of ``estimator`` on each of ``n_splits`` folds (lower is better)."""
    check_choice(metric, _SCORES, "metric")
    X, y = np.asarray(X, float), np.asarray(y, float)
    scores = []
    for train, val in kfold_indices(len(y), n_splits, random_state=random_state):
        model = clone_estimator(estimator).fit(X[train], y[train])
        scores.append(_SCORES[metric](model.predict(X[val]), y[val]))
    return np.array(scores)


@dataclass
class GridSearchResult:
    """Outcome of :func:`grid_search_cv`."""

    best_params_: dict
    best_score_: float
    best_estimator_: object
    params: list[dict] = field(default_factory=list)
    mean_scores: np.ndarray = field(default_factory=lambda: np.empty(0))
    std_scores: np.ndarray = field(default_factory=lambda: np.empty(0))


def grid_search_cv(estimator, param_grid: Mapping[str, Sequence], X, y, *,
                   n_splits: int = 5, metric: str = "rmse", random_state: int | None = 0,
                   refit: bool = True) -> GridSearchResult:
    """Choose hyperparameters by k-fold cross-validation over a grid.

    Parameters
    ----------
    estimator : GaussianProcessRegressor or SparseGaussianProcessRegressor
        Template; use ``optimizer=None`` so the grid, not the likelihood, decides.
    param_grid : mapping of str to sequence
        Values to try, addressed as in ``set_params`` (``"kernel__k2__length_scale"``,
        ``"alpha"``).
    n_splits : int
        Folds.
    metric : {"rmse", "mae"}
        Validation error to minimise.
    refit : bool
        Fit the best setting on all the data.

    Returns
    -------
    GridSearchResult

    Examples
    --------
    >>> import numpy as np
    >>> from atomlearn.gp import GaussianProcessRegressor
    >>> from atomlearn.kernels import RBF
    >>> X = np.linspace(0, 6, 40)[:, None]
    >>> y = np.sin(X[:, 0])
    >>> res = grid_search_cv(GaussianProcessRegressor(RBF(1.0), optimizer=None),
    ...                      {"kernel__length_scale": [0.01, 1.0], "alpha": [1e-6]}, X, y)
    >>> res.best_params_["kernel__length_scale"]
    1.0
    """
    if not param_grid:
        raise ConfigError("'param_grid' is empty; give at least one parameter to vary.")
    names = list(param_grid)
    combos = [dict(zip(names, values, strict=True))
              for values in itertools.product(*(param_grid[n] for n in names))]
    means, stds = [], []
    for params in combos:
        candidate = clone_estimator(estimator)
        candidate.set_params(**{k: clone(v) if isinstance(v, Kernel) else v
                                for k, v in params.items()})
        scores = cross_val_score(candidate, X, y, n_splits=n_splits, metric=metric,
                                 random_state=random_state)
        means.append(scores.mean())
        stds.append(scores.std())
    best = int(np.argmin(means))
    best_estimator = clone_estimator(estimator).set_params(**combos[best])
    if refit:
        best_estimator.fit(X, y)
    return GridSearchResult(combos[best], float(means[best]), best_estimator, combos,
                            np.array(means), np.array(stds))
