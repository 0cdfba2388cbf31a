"""The structure-level model interface that the CLI and the calculator rely on."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import ase
import numpy as np

from ..errors import ModelFileError
from ..serialization import read_model_file
from ..targets import TargetSpec


@runtime_checkable
class Model(Protocol):
    """What every model family (GP or NN) provides.

    * ``fit(structures, targets=None) -> self``: targets default to the labels found on
      the structures (``REF_<name>``, ``<name>`` or calculator results).
    * ``predict(structures, *, targets=None, return_std=False)``: a dict of arrays per
      target name (energy ``(n_structures,)``, forces ``(n_atoms_total, 3)``, dipole
      ``(n_structures, 3)``, ...), or ``(means, stds)`` with ``return_std``.
    * ``supported_targets``: dict of name to :class:`TargetSpec`.
    * ``save(path)`` and ``classmethod load(path)``.
    """

    @property
    def supported_targets(self) -> dict[str, TargetSpec]: ...

    def fit(self, structures: Sequence[ase.Atoms],
            targets: Mapping[str, np.ndarray] | None = None) -> Model: ...

    def predict(self, structures: Sequence[ase.Atoms], *, targets=None,
                return_std: bool = False) -> Any: ...

    def save(self, path: str | os.PathLike) -> None: ...


#: Model classes by the name used in options files and model files.
MODEL_REGISTRY: dict[str, type] = {}
#: Families registered when their module is first needed (the networks import PyTorch,
#: which GP users should not wait for).
LAZY_MODELS: dict[str, str] = {"bpnn": "atomlearn.models.network",
                               "mpnn": "atomlearn.models.network"}


def model_types() -> list[str]:
    """Every model family name, loaded or not."""
    return sorted(set(MODEL_REGISTRY) | set(LAZY_MODELS))


def model_class(name: str) -> type:
    """The class registered as ``name``, importing its module if needed."""
    if name not in MODEL_REGISTRY and name in LAZY_MODELS:
        import importlib

        importlib.import_module(LAZY_MODELS[name])
    return MODEL_REGISTRY[name]


def register(name: str):
    """Class decorator adding a model family to :data:`MODEL_REGISTRY`."""
    def wrap(cls):
        cls.registry_name = name
        MODEL_REGISTRY[name] = cls
        return cls
    return wrap


def load_model(path: str | os.PathLike):
    """Load any atomlearn model file (no code from the file is executed)."""
    meta, arrays = read_model_file(path)
    name = meta.get("class")
    if name not in model_types():
        raise ModelFileError(
            f"Model file '{path}' holds an unknown model class {name!r}; known classes are "
            f"{model_types()}."
        )
    return model_class(name)._from_file(meta, arrays)
