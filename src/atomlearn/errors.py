"""Exceptions raised by atomlearn.

Every user-facing error derives from :class:`AtomlearnError`, so the command line can
turn it into one clear line and exit code 2.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable


class AtomlearnError(Exception):
    """Base class of the errors a user can fix (bad data, bad options, bad files)."""


class ConfigError(AtomlearnError, ValueError):
    """Raised when an options file or an option value is invalid."""


class DataError(AtomlearnError, ValueError):
    """Raised when structures or labels are missing, malformed or not finite."""


class ModelFileError(AtomlearnError, ValueError):
    """Raised when a model file cannot be read, has an unknown format or class."""


class NotFittedError(AtomlearnError, ValueError, AttributeError):
    """Raised when a model is used before ``fit``."""


class ConvergenceWarning(UserWarning):
    """Warned when an optimisation stops at a bound or without converging."""


def sklearn_compatible(cls: type, name: str) -> type:
    """``cls``, or a subclass of it and of scikit-learn's class ``name`` (in
    ``sklearn.exceptions``) when scikit-learn is already loaded, so that scikit-learn's
    ``except NotFittedError`` and warning filters see atomlearn's errors and warnings too.
    scikit-learn is never imported for this (it costs about a second)."""
    theirs = getattr(sys.modules.get("sklearn.exceptions"), name, None)
    if theirs is None or issubclass(cls, theirs):
        return cls
    key = (cls, theirs)
    if key not in _DUAL:
        _DUAL[key] = type(cls.__name__, (cls, theirs), {"__module__": cls.__module__,
                                                         "__doc__": cls.__doc__})
    return _DUAL[key]


_DUAL: dict[tuple[type, type], type] = {}


def closest(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest valid choice, or an empty string."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def check_choice(value: str, choices: Iterable[str], what: str) -> str:
    """Raise a :class:`ConfigError` listing the valid choices when ``value`` is not one."""
    choices = list(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ConfigError(
            f"Unknown {what} {value!r}; valid choices are {valid}.{closest(value, choices)}"
        )
    return value
