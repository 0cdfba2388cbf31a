"""Gaussian process regression: full (exact) and sparse, with scikit-learn's interface."""

from ._base import BaseEstimator, check_is_fitted
from .exact import GaussianProcessRegressor
from .selection import SELECTIONS, select_sparse_points
from .sparse import SparseGaussianProcessRegressor

__all__ = [
    "SELECTIONS",
    "BaseEstimator",
    "GaussianProcessRegressor",
    "SparseGaussianProcessRegressor",
    "check_is_fitted",
    "select_sparse_points",
]
