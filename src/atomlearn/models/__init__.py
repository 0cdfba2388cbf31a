"""Structure-level models: one layer every family shares (see :class:`StructureModel`).

======================  ==================================  ===========================
family (``type``)       learns (kind, per structure/atom)    uncertainty
======================  ==================================  ===========================
``sparse_gpr``          scalar (+ forces, stress), spectrum;  DTC variance, calibrated
                        scalar and spectrum per atom
``sa_gpr``              vector, rank2_symmetric, operator     DTC variance, calibrated
                        (a Kohn-Sham matrix, with its levels) (none for operators)
``band_gpr``            band energies (n_k, n_bands) of       exact GP variance
                        crystals, at any k-point (by their    (Hamiltonian route: LOO-
                        Kohn-Sham matrices, or directly)      calibrated)
``bpnn``                scalar (+ forces), spectrum,          committees (``n_models``)
                        vector; scalar/spectrum per atom
``mpnn``                as bpnn, and rank2_symmetric,         committees (``n_models``)
                        density coefficients, operator
======================  ==================================  ===========================

The network families import PyTorch; they are loaded on first use (``model_class("mpnn")``,
``atomlearn.models.MessagePassingModel`` or loading a network's file). Each family's
hyperparameters are one dataclass (:func:`family_hypers`), importable without PyTorch.
"""

from __future__ import annotations

import importlib
import os

import ase
import numpy as np

from ..errors import ModelFileError, check_choice
from ..serialization import read_model_file
from .base import StructureModel

#: Model classes by the name used in options files and model files.
MODEL_REGISTRY: dict[str, type[StructureModel]] = {}
#: The folder of every family: ``<folder>.model`` defines the class, ``<folder>.hypers``
#: its hyperparameter dataclass (importable without PyTorch).
FAMILIES: dict[str, str] = {"sparse_gpr": "atomlearn.models.sparse_gpr",
                            "sa_gpr": "atomlearn.models.sa_gpr",
                            "band_gpr": "atomlearn.models.band_gpr",
                            "bpnn": "atomlearn.models.network",
                            "mpnn": "atomlearn.models.network"}
#: Families whose module imports PyTorch: registered when first needed.
LAZY_MODELS = {name: FAMILIES[name] for name in ("bpnn", "mpnn")}

# the model-file format this layer writes, and the upgrade of older files
from . import upgrade as _upgrade  # noqa: E402,F401


def model_types() -> list[str]:
    """Every model family name, loaded or not."""
    return sorted(set(MODEL_REGISTRY) | set(FAMILIES))


def model_class(name: str) -> type[StructureModel]:
    """The class registered as ``name``, importing its module if needed."""
    check_choice(name, model_types(), "model type")
    if name not in MODEL_REGISTRY:
        importlib.import_module(f"{FAMILIES[name]}.model")
    return MODEL_REGISTRY[name]


def family_hypers(name: str) -> type:
    """The hyperparameter dataclass of family ``name`` (no PyTorch import)."""
    check_choice(name, model_types(), "model type")
    return importlib.import_module(f"{FAMILIES[name]}.hypers").HYPERS[name]


def register(name: str):
    """Class decorator adding a model family to :data:`MODEL_REGISTRY`."""
    def wrap(cls):
        cls.registry_name = name
        MODEL_REGISTRY[name] = cls
        return cls
    return wrap


def load_model(path: str | os.PathLike) -> StructureModel:
    """Load any atomlearn model file (no code from the file is executed).

    Raises
    ------
    ModelFileError
        For an unreadable, corrupted or inconsistent file, naming it and what is wrong.
    """
    meta, arrays = read_model_file(path)
    name = meta.get("class")
    if not isinstance(name, str) or name not in model_types():
        raise ModelFileError(
            f"Model file '{path}' holds an unknown model class {name!r}; known classes are "
            f"{model_types()}.")
    try:
        model = model_class(name)._from_file(meta, arrays)
        # arrays of consistent shapes can still disagree with the options (a descriptor
        # size, an activation): predict one small structure before anyone relies on it
        model.predict([model._probe_structure()], return_std=model.provides_uncertainty)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError,
            RecursionError, ZeroDivisionError) as err:
        what = f"missing entry {err}" if isinstance(err, KeyError) else (
            f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}")
        raise ModelFileError(f"Model file '{path}' holds a {name} model that cannot be "
                             f"restored ({what}); it is corrupted or was edited. Refit it."
                             ) from err
    return model


def _probe(species, specs) -> ase.Atoms:
    """A small molecule with one atom of every element of a model, 1.5 Å apart, carrying
    evenly spaced orbital energies for targets Delta-learned from them."""
    numbers = [int(z) for z in species][:8] or [1]
    probe = ase.Atoms(numbers=numbers, positions=[[1.5 * k, 0.2 * (k % 2), 0.0]
                                                  for k in range(len(numbers))])
    for spec in specs:
        if "levels" in spec.metadata:
            probe.info[spec.metadata["levels"]] = np.arange(
                float(sum(numbers) + int(np.prod(spec.shape)) + 1))
    return probe


from .band_gpr import BandGPRModel  # noqa: E402
from .sa_gpr import SymmetryAdaptedGPRModel  # noqa: E402
from .sparse_gpr import SparseGPRModel  # noqa: E402

_NETWORKS = ("BehlerParrinelloModel", "MessagePassingModel", "NetworkModel")


def __getattr__(name: str):
    if name in _NETWORKS:
        from .network import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FAMILIES", "LAZY_MODELS", "MODEL_REGISTRY", "BandGPRModel", "BehlerParrinelloModel",
           "MessagePassingModel", "NetworkModel", "SparseGPRModel", "StructureModel",
           "SymmetryAdaptedGPRModel", "family_hypers", "load_model", "model_class",
           "model_types", "register"]
