"""Heads: per-atom features -> targets."""

from .energy import EnergyHead
from .tensor import DipoleHead, PolarizabilityHead

__all__ = ["DipoleHead", "EnergyHead", "PolarizabilityHead"]
