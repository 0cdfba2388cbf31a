"""An ASE calculator around any atomlearn model."""

from __future__ import annotations

import os

import numpy as np
from ase.calculators.calculator import (
    Calculator,
    PropertyNotImplementedError,
    all_changes,
)
from ase.stress import full_3x3_to_voigt_6_stress

from ..errors import ModelFileError


class ModelCalculator(Calculator):
    """Serve a fitted atomlearn model to ASE (energies, forces, stress, uncertainties).

    Parameters
    ----------
    model : Model, str or path-like
        A fitted model or the path of a model file.
    device : str
        Device for network models ("cpu", "cuda"); GP models run on the CPU.
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Notes
    -----
    ``implemented_properties`` follow the model's targets: ``energy``, ``free_energy``,
    ``forces``, ``stress`` (periodic cells) and, for models with uncertainties,
    ``energy_std`` and ``forces_std`` (eV and eV/Å), read with
    ``calc.get_property("forces_std", atoms)``. Uncertainties are computed only when asked
    for, since they cost more than the prediction itself. Properties outside ASE's
    ``all_properties`` (``polarizability``, ...) are also read with ``get_property``.
    """

    def __init__(self, model, *, device: str = "cpu", **kwargs) -> None:
        if isinstance(model, (str, os.PathLike)):
            from ..models import load_model

            if not os.path.isfile(model):
                raise ModelFileError(f"Model file '{model}' does not exist; check the path.")
            model = load_model(model)
        self.model = model
        self.device = device
        targets = model.supported_targets
        props = []
        if "energy" in targets:
            props += ["energy", "free_energy"]
            props += [p for p in ("forces", "stress") if p in targets]
            props += ["energy_std", "forces_std"] if _has_std(model) else []
        props += [name for name in targets if name not in props and name != "energy"]
        self.implemented_properties = props
        super().__init__(**kwargs)

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        properties = list(properties or ["energy"])
        super().calculate(atoms, properties, system_changes)
        for p in properties:
            if p not in self.implemented_properties:
                raise PropertyNotImplementedError(
                    f"Property {p!r} is not implemented by this model; implemented are "
                    f"{self.implemented_properties}.")
        atoms = self.atoms
        if "stress" in properties and not atoms.pbc.all():
            raise PropertyNotImplementedError(
                "Property 'stress' needs a fully periodic cell.")
        wanted = ["energy", "forces"] + (["stress"] if "stress" in properties else [])
        want_std = any(p.endswith("_std") for p in properties)
        result = self.model.predict([atoms], targets=wanted, return_std=want_std)
        pred, std = result if want_std else (result, {})
        energy = float(pred["energy"][0])
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = np.asarray(pred["forces"], float)
        if "stress" in pred:
            self.results["stress"] = full_3x3_to_voigt_6_stress(pred["stress"][0])
        if want_std:
            self.results["energy_std"] = float(std["energy"][0])
            self.results["forces_std"] = np.asarray(std["forces"], float)


def _has_std(model) -> bool:
    return getattr(model, "provides_uncertainty", True)
