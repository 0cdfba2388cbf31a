"""Reusable checks shipped with atomlearn: rotations, finite differences, and the
conformance checks every model family passes (:mod:`atomlearn.testing.conformance`)."""

from .finite_difference import check_network_forces, numeric_gradient
from .operators import check_operator_symmetries
from .rotations import orbital_rotation, random_rotation, rotate

__all__ = ["check_network_forces", "check_operator_symmetries", "numeric_gradient",
           "orbital_rotation", "random_rotation", "rotate"]
