"""Neural networks (PyTorch): representations, heads, response and training."""

from .batch import AtomicBatch, make_batch
from .features import AtomicFeatures
from .heads import DipoleHead, InvariantHead, PolarizabilityHead, make_head
from .layers import MLP, cosine_cutoff
from .model import AtomisticNetwork
from .representations import PaiNN, SymmetryFunctions
from .response import compute_forces
from .training import TrainingError, train

__all__ = [
    "MLP",
    "PaiNN",
    "PolarizabilityHead",
    "AtomicBatch",
    "AtomicFeatures",
    "AtomisticNetwork",
    "DipoleHead",
    "InvariantHead",
    "SymmetryFunctions",
    "TrainingError",
    "compute_forces",
    "cosine_cutoff",
    "make_batch",
    "make_head",
    "train",
]
