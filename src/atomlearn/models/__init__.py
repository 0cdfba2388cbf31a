"""Structure-level models: one interface for every model family (see :class:`Model`)."""

from ._base import MODEL_REGISTRY, Model, load_model, register
from .gpr import SparseGPRModel

__all__ = ["MODEL_REGISTRY", "Model", "SparseGPRModel", "load_model", "register"]
