"""Kernels with scikit-learn's names and semantics (see :mod:`atomlearn.kernels._base`)."""

from ._base import (
    ConstantKernel,
    Exponentiation,
    GenericKernelMixin,
    Hyperparameter,
    Kernel,
    KernelOperator,
    KernelWrapper,
    NormalizedKernelMixin,
    Product,
    StationaryKernelMixin,
    Sum,
    WhiteKernel,
    clone,
    convergence_warning,
    memo,
    remembered_values,
)
from .dot_product import DotProduct, NormalizedDotProduct, normalize_rows
from .equivariant import EquivariantEnvironments, SymmetryAdaptedKernel
from .stationary import RBF, ExpSineSquared, Matern, RationalQuadratic, squared_distances
from .structure import AtomicEnvironments, AtomSumKernel

__all__ = [
    "RBF",
    "AtomSumKernel",
    "AtomicEnvironments",
    "ConstantKernel",
    "EquivariantEnvironments",
    "DotProduct",
    "ExpSineSquared",
    "Exponentiation",
    "GenericKernelMixin",
    "Hyperparameter",
    "Kernel",
    "KernelOperator",
    "KernelWrapper",
    "Matern",
    "NormalizedDotProduct",
    "NormalizedKernelMixin",
    "Product",
    "StationaryKernelMixin",
    "RationalQuadratic",
    "Sum",
    "SymmetryAdaptedKernel",
    "WhiteKernel",
    "clone",
    "convergence_warning",
    "memo",
    "normalize_rows",
    "remembered_values",
    "squared_distances",
]
