"""Representations: atomic environments -> per-atom features."""

from .behler_parrinello import SymmetryFunctions
from .painn import PaiNN

__all__ = ["PaiNN", "SymmetryFunctions"]
