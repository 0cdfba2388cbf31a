"""Typed hyperparameters: each family's dataclass is the one source of its defaults.

:func:`parse` turns a mapping (YAML, ``--set``, or keyword arguments) into such a
dataclass through :mod:`atomlearn.options`, refusing options of another family with that
family's name and renamed options with their replacement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .. import options
from ..errors import ConfigError, closest

#: Options that moved or went, by dotted name, with copy-pasteable replacements.
RENAMED = {
    "model.reference": "Use 'model.baseline' instead (same values: fit, none, or a value "
                       "per element).",
    "model.amplitude": "Use 'model.kernel.delta' instead (the prior scale).",
    "model.calibration_fraction": "Use 'model.validation_fraction' instead.",
    "model.energy_weight": "Use the target's 'weight' instead, e.g. 'targets: {energy: "
                           "{forces: true, weight: 100}}'.",
    "model.tensor_weight": "Use the target's 'weight' instead, e.g. 'targets: {dipole: "
                           "{weight: 1}}'.",
    "model.aggregation": "Use the target's 'extensive' instead (sum: true, mean: false).",
    "model.descriptor": "PaiNN has no fixed descriptor: use 'model.cutoff' (and n_rbf, "
                        "n_features, n_interactions) instead.",
    "model.descriptor.type": "The descriptor of this family is fixed; delete the key.",
    "data.validation_fraction": "Use 'model.validation_fraction' instead (the model's "
                                "held-out share).",
}


def parse(cls: type, raw: Any, section: str, *, family: str = "",
          other_families: Mapping[str, type] | None = None):
    """Build a family's hyperparameter dataclass ``cls`` from ``raw`` (a mapping or an
    instance; :func:`atomlearn.options.parse`), naming the family an unknown key belongs
    to and the replacement of a renamed one.

    Parameters
    ----------
    cls : dataclass type
    raw : mapping or cls instance
    section : str
        Dotted name of the section, for messages (``"model"``, ``"model.descriptor"``).
    family : str
        Model family the section belongs to, for messages.
    other_families : mapping of str to dataclass type, optional
        Hyperparameters of the other families, to say where an unknown key belongs.
    """
    def unknown(key, where, section, names):
        return _unknown(key, where, section, names, family, other_families)

    return options.parse(cls, raw, section, unknown=unknown)


def _unknown(key, where, section, names, family, other_families) -> str:
    owner = ""
    if family and other_families:
        owners = [name for name, hyp in other_families.items()
                  if name != family and key in {f.name for f in dataclasses.fields(hyp)}]
        if owners:
            owner = (f" '{key}' is an option of model type(s) {owners}, not of "
                     f"{family!r}.")
    renamed = f" {RENAMED[where]}" if where in RENAMED else ""
    of = f" for model type {family!r}" if family else ""
    return (f"Unknown option '{where}'{of}; valid keys in '{section or 'options'}' are "
            f"{', '.join(repr(n) for n in names)}.{owner}{renamed}"
            f"{closest(key, names) if not (owner or renamed) else ''}")


def to_dict(hypers) -> dict[str, Any]:
    """JSON-ready nested dict of a hypers dataclass."""
    return dataclasses.asdict(hypers)


def check_positive(value, name: str, *, strict: bool = True) -> None:
    """Refuse a non-positive (or negative) number, naming the option."""
    if value is None:
        return
    ok = value > 0 if strict else value >= 0
    if not ok:
        raise ConfigError(f"Option '{name}' must be {'positive' if strict else 'non-negative'}"
                          f". Got {value!r}.")
