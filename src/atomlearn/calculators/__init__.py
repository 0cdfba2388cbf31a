"""ASE calculators: run molecular dynamics and optimisations with atomlearn models."""

from .ase import ModelCalculator
from .watch import UncertaintyWatch

__all__ = ["ModelCalculator", "UncertaintyWatch"]
