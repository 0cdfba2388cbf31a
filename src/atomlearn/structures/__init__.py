"""Structures in and out: extended XYZ through ASE, label keys, units and splits."""

from .io import check_positions, get_label, has_label, read_structures, where, write_predictions
from .keys import KeySpec
from .splits import Split, split_indices
from .units import UNITS, convert

__all__ = [
    "KeySpec",
    "Split",
    "UNITS",
    "check_positions",
    "convert",
    "get_label",
    "has_label",
    "read_structures",
    "split_indices",
    "where",
    "write_predictions",
]
