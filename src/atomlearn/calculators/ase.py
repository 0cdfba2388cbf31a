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
from ..threads import single_thread


class ModelCalculator(Calculator):
    """Serve fitted atomlearn models to ASE (energies, forces, stress, dipoles,
    polarizabilities, uncertainties).

    Parameters
    ----------
    model : Model, str or path-like
        A fitted model or the path of a model file.
    *more : Model, str or path-like
        Further models for other targets, e.g. a dipole and a polarizability model next to
        the potential; each property is served by the first model that predicts it.
    device : str
        Device for network models ("cpu", "cuda"); GP models run on the CPU.
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Notes
    -----
    ``implemented_properties`` follow the models' targets: ``energy``, ``free_energy``,
    ``forces``, ``stress`` (periodic cells), ``dipole`` (e·Å, so
    ``atoms.get_dipole_moment()`` works), ``polarizability`` (Å^3) and, for models with
    uncertainties, ``energy_std``, ``forces_std``, ``dipole_std``, ... read with
    ``calc.get_property("forces_std", atoms)``. Uncertainties are computed only when asked
    for, since they cost more than the prediction itself; :meth:`request_std` has the
    next calculation (an MD step's forces) include them in the same pass.
    """

    def __init__(self, model, *more, device: str = "cpu", **kwargs) -> None:
        self.models = [_load(m) for m in (model, *more)]
        self.model = self.models[0]
        self.device = device
        self.served: dict[str, int] = {}       # property -> index of the model serving it
        for k, m in enumerate(self.models):
            targets = m.supported_targets
            props, stds = [], []
            if "energy" in targets:
                props += ["energy", "free_energy"]
                props += [p for p in ("forces", "stress") if p in targets]
                stds += ["energy_std", "forces_std"]
            others = [name for name in targets if name not in props and name != "energy"]
            props += others + (stds + [f"{p}_std" for p in others] if _has_std(m) else [])
            for p in props:
                self.served.setdefault(p, k)
        self.implemented_properties = list(self.served)
        self._std_next = False
        super().__init__(**kwargs)

    def request_std(self) -> None:
        """Compute the standard deviations of the served targets with the next
        calculation (one pass instead of a second one for ``get_property``)."""
        self._std_next = True

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        properties = list(properties or ["energy"])
        if self._std_next:
            self._std_next = False
            properties += [f"{p}_std" for p in properties
                           if f"{p}_std" in self.implemented_properties]
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
        # one structure: small products, where threads only cost (and spin-wait on a
        # busy machine)
        with single_thread():
            for k in sorted({self.served[p] for p in properties}):
                mine = [p for p in properties if self.served[p] == k]
                self._calculate_with(self.models[k], atoms, mine)

    def _calculate_with(self, model, atoms, properties) -> None:
        want_std = any(p.endswith("_std") for p in properties)
        targets = model.supported_targets
        if "energy" in targets:
            wanted = ["energy", "forces"] + (["stress"] if "stress" in properties else [])
        else:
            wanted = [p.removesuffix("_std") for p in properties]
        result = model.predict([atoms], targets=wanted, return_std=want_std)
        pred, std = result if want_std else (result, {})
        if "energy" in pred:
            energy = float(pred["energy"][0])
            self.results["energy"] = energy
            self.results["free_energy"] = energy
        if "forces" in pred:
            self.results["forces"] = np.asarray(pred["forces"], float)
        if "stress" in pred:
            self.results["stress"] = full_3x3_to_voigt_6_stress(pred["stress"][0])
        for name in pred:
            if name not in ("energy", "forces", "stress"):
                self.results[name] = np.asarray(pred[name][0], float)
        for name, value in std.items():
            value = np.asarray(value, float)
            per_atom = name == "forces" or targets.get(name) is not None and \
                targets[name].per_atom
            self.results[f"{name}_std"] = value if per_atom else (
                float(value[0]) if value.ndim == 1 else value[0])


def _load(model):
    if isinstance(model, (str, os.PathLike)):
        from ..models import load_model

        if not os.path.isfile(model):
            raise ModelFileError(f"Model file '{model}' does not exist; check the path.")
        return load_model(model)
    return model


def _has_std(model) -> bool:
    return model.provides_uncertainty
