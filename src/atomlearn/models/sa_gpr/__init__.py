"""``sa_gpr``: symmetry-adapted sparse GPR of vectors and tensors on lambda-SOAP."""

from .model import SymmetryAdaptedGPRModel

__all__ = ["SymmetryAdaptedGPRModel"]
