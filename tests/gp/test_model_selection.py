import re

import numpy as np
import pytest

from atomlearn.errors import ConfigError
from atomlearn.gp import (
    GaussianProcessRegressor,
    SparseGaussianProcessRegressor,
    cross_val_score,
    grid_search_cv,
    kfold_indices,
)
from atomlearn.kernels import RBF

rng = np.random.default_rng(4)
X = rng.uniform(0, 8, size=(80, 1))
y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=80)


def test_kfold_partitions():
    folds = kfold_indices(23, 4, random_state=1)
    vals = np.concatenate([v for _, v in folds])
    assert sorted(vals.tolist()) == list(range(23))
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == 23
    with pytest.raises(ConfigError, match=re.escape("'n_splits' must be in [2, n_samples=5]")):
        kfold_indices(5, 6)


def test_grid_search_finds_sensible_hyperparameters():
    res = grid_search_cv(GaussianProcessRegressor(RBF(1.0), optimizer=None),
                         {"kernel__length_scale": [0.02, 1.0, 50.0],
                          "alpha": [1e-6, 1e-2, 10.0]}, X, y, n_splits=4)
    assert res.best_params_ == {"kernel__length_scale": 1.0, "alpha": 1e-2}
    assert len(res.params) == 9 and res.mean_scores.min() == res.best_score_
    # the refitted best estimator is close to the noise level on fresh data
    Xt = np.linspace(0.5, 7.5, 50)[:, None]
    assert np.sqrt(np.mean((res.best_estimator_.predict(Xt) - np.sin(Xt[:, 0])) ** 2)) < 0.1


def test_cv_works_for_sparse_model():
    est = SparseGaussianProcessRegressor(RBF(1.0), n_sparse=20, alpha=1e-2, optimizer=None,
                                         random_state=0)
    scores = cross_val_score(est, X, y, n_splits=5)
    assert scores.shape == (5,) and scores.mean() < 0.2
