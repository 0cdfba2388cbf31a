"""Heads: per-atom features -> targets."""

from .energy import EnergyHead

__all__ = ["EnergyHead"]
