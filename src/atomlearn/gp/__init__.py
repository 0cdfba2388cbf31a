"""Gaussian process regression: full (exact) and sparse, with scikit-learn's interface."""

from ._base import BaseEstimator, check_is_fitted
from ._optimize import optimize_theta
from .exact import GaussianProcessRegressor
from .model_selection import (
    GridSearchResult,
    cross_val_score,
    grid_search_cv,
    kfold_indices,
)
from .selection import SELECTIONS, select_sparse_points
from .sparse import SparseGaussianProcessRegressor

__all__ = [
    "SELECTIONS",
    "BaseEstimator",
    "GaussianProcessRegressor",
    "GridSearchResult",
    "SparseGaussianProcessRegressor",
    "check_is_fitted",
    "cross_val_score",
    "grid_search_cv",
    "kfold_indices",
    "optimize_theta",
    "select_sparse_points",
]
