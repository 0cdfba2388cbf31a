"""Typed hyperparameters: each family's dataclass is the one source of its defaults.

:func:`parse` turns a mapping (YAML, ``--set``, or keyword arguments) into such a
dataclass, nested sections included, refusing unknown keys with the section, the valid
keys and the closest match, and options of another family with that family's name. It
never changes the mapping it is given.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

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
    """Build the dataclass ``cls`` from ``raw`` (a mapping or an instance).

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
    if isinstance(raw, cls):
        return dataclasses.replace(raw)
    if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
        raw = dataclasses.asdict(raw)
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"Section '{section or 'options'}' must be a mapping of keys to values. "
            f"Got {type(raw).__name__} {raw!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        where = f"{section}.{key}" if section else str(key)
        if key not in names:
            raise ConfigError(_unknown(str(key), where, section, names, family,
                                       other_families))
        values[key] = coerce(hints[key], value, where, family)
    return cls(**values)


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


def coerce(hint, value, where: str, family: str = ""):
    """Check ``value`` against the type ``hint`` (YAML 1.1 strings like ``1e-6`` become
    numbers); nested dataclasses are parsed."""
    if dataclasses.is_dataclass(hint):
        return parse(hint, value if value is not None else {}, where, family=family)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for option in non_none:
            try:
                return coerce(option, value, where, family)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"Option '{where}' must be a mapping. Got {value!r}.")
        return {str(k): v for k, v in value.items()}
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"Option '{where}' must be a list. Got {value!r}.")
        inner = args[0] if args else Any
        return [coerce(inner, v, f"{where}[{i}]", family) for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"Option '{where}' must be true or false. Got {value!r}.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"Option '{where}' must be an integer. Got {value!r}.")
        return value
    if hint is float:
        if isinstance(value, str):
            try:                      # YAML 1.1 reads 1e-6 (no dot) as a string
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"Option '{where}' must be a number. Got {value!r}.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"Option '{where}' must be a string. Got {value!r}.")
        return value
    return value


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
