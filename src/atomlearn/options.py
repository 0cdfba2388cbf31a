"""Typed options: dataclasses built from mappings (YAML, ``--set``, keyword arguments).

:func:`parse` turns a mapping into a dataclass, nested sections included, checking every
value against its type annotation (:func:`coerce`) and refusing unknown keys with the
section, the valid keys and the closest match. It never changes the mapping it is given.
Each layer that reads options (targets, model families, the run's configuration) declares
them as a dataclass and parses them here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigError, closest

#: ``unknown(key, where, section, names) -> message`` for a key the dataclass lacks.
Unknown = Callable[[str, str, str, list], str]


def parse(cls: type, raw: Any, section: str, *, unknown: Unknown | None = None):
    """Build the dataclass ``cls`` from ``raw`` (a mapping or an instance).

    Parameters
    ----------
    cls : dataclass type
    raw : mapping or cls instance
    section : str
        Dotted name of the section, for messages (``"model"``, ``"model.descriptor"``).
    unknown : callable, optional
        Message for an unknown key (default: the valid keys and the closest one).
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
            raise ConfigError((unknown or unknown_key)(str(key), where, section, names))
        values[key] = coerce(hints[key], value, where, unknown)
    return cls(**values)


def unknown_key(key: str, where: str, section: str, names: list) -> str:
    """The default message for an unknown key."""
    return (f"Unknown option '{where}'; valid keys in '{section or 'options'}' are "
            f"{', '.join(repr(n) for n in names)}.{closest(key, names)}")


def coerce(hint, value, where: str, unknown: Unknown | None = None):
    """Check ``value`` against the type ``hint`` (YAML 1.1 strings like ``1e-6`` become
    numbers; NaN and infinite numbers are refused); nested dataclasses are parsed."""
    if dataclasses.is_dataclass(hint):
        return parse(hint, value if value is not None else {}, where, unknown=unknown)
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
                return coerce(option, value, where, unknown)
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
        return [coerce(inner, v, f"{where}[{i}]", unknown) for i, v in enumerate(value)]
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
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"Option '{where}' must be a finite number. Got {value!r}.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"Option '{where}' must be a string. Got {value!r}.")
        return value
    return value
