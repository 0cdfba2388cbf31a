"""Reusable checks shipped with atomlearn: rotations and finite differences."""

from .finite_difference import check_network_forces, numeric_gradient
from .rotations import random_rotation, rotate

__all__ = ["check_network_forces", "numeric_gradient", "random_rotation", "rotate"]
