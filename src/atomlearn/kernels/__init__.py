"""Kernels with scikit-learn's names and semantics (see :mod:`atomlearn.kernels._base`)."""

from ._base import (
    ConstantKernel,
    Exponentiation,
    Hyperparameter,
    Kernel,
    Product,
    Sum,
    WhiteKernel,
    clone,
)
from .dot_product import DotProduct, NormalizedDotProduct, normalize_rows
from .stationary import RBF, ExpSineSquared, Matern, RationalQuadratic, squared_distances
from .structure import AtomSumKernel

__all__ = [
    "RBF",
    "AtomSumKernel",
    "ConstantKernel",
    "DotProduct",
    "ExpSineSquared",
    "Exponentiation",
    "Hyperparameter",
    "Kernel",
    "Matern",
    "NormalizedDotProduct",
    "Product",
    "RationalQuadratic",
    "Sum",
    "WhiteKernel",
    "clone",
    "normalize_rows",
    "squared_distances",
]
