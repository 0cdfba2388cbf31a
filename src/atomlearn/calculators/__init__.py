"""ASE calculators: run molecular dynamics and optimisations with atomlearn models."""

from .ase import ModelCalculator

__all__ = ["ModelCalculator"]
