"""Structure-level models: one interface for every model family (see :class:`Model`)."""

from ._base import MODEL_REGISTRY, Model, load_model, register
from .gpr import SparseGPRModel
from .network import BehlerParrinelloModel, MessagePassingModel
from .sagpr import SymmetryAdaptedGPRModel

__all__ = ["MODEL_REGISTRY", "BehlerParrinelloModel", "MessagePassingModel", "Model",
           "SparseGPRModel", "SymmetryAdaptedGPRModel", "load_model", "register"]
