"""Representations: atomic environments -> per-atom feature tensors."""

from .behler_parrinello import SymmetryFunctions

__all__ = ["SymmetryFunctions"]
