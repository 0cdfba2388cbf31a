"""Structure-level models: one interface for every model family (see :class:`Model`).

The network models import PyTorch; they are loaded on first use
(``atomlearn.models.MessagePassingModel``, ``load_model`` of a network file, or
``model_class("mpnn")``).
"""

from ._base import (
    LAZY_MODELS,
    MODEL_REGISTRY,
    Model,
    load_model,
    model_class,
    model_types,
    register,
)
from .gpr import SparseGPRModel
from .sagpr import SymmetryAdaptedGPRModel

_NETWORKS = ("BehlerParrinelloModel", "MessagePassingModel", "NetworkPotential")


def __getattr__(name: str):
    if name in _NETWORKS:
        from . import network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LAZY_MODELS", "MODEL_REGISTRY", "BehlerParrinelloModel", "MessagePassingModel",
           "Model", "SparseGPRModel", "SymmetryAdaptedGPRModel", "load_model", "model_class",
           "model_types", "register"]
