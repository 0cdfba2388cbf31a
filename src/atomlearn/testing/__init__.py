"""Reusable checks shipped with atomlearn: rotations and finite differences."""

from .finite_difference import numeric_gradient
from .rotations import random_rotation, rotate

__all__ = ["numeric_gradient", "random_rotation", "rotate"]
