"""featomic and metatensor, imported without PyTorch unless PyTorch is already loaded.

metatensor imports PyTorch when it can, only to accept torch tensors as block data
(``try: import torch except ImportError``). atomlearn hands it NumPy arrays only, and
that import costs 1-3 s and about 200 MB: more than a whole GP fit of a small data set or
the start of ``atomlearn predict``. So unless something already imported torch, featomic
is imported the way it is on a machine without torch; torch itself stays importable
afterwards for the network models.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")


def _import(name: str) -> ModuleType:
    if name in sys.modules or "torch" in sys.modules:
        return importlib.import_module(name)
    sys.modules["torch"] = None          # makes `import torch` raise ImportError
    try:
        return importlib.import_module(name)
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


def featomic() -> ModuleType:
    """The ``featomic`` module."""
    return _import("featomic")


def clebsch_gordan() -> ModuleType:
    """The ``featomic.clebsch_gordan`` module."""
    return _import("featomic.clebsch_gordan")


def metatensor() -> ModuleType:
    """The ``metatensor`` module."""
    return _import("metatensor")


def quietly(call: Callable[[], T]) -> tuple[T | None, str | None]:
    """Run ``call`` with the process's stderr captured (featomic's Rust panics write
    there); return its result and None, or None and featomic's error message."""
    FeatomicError = featomic().FeatomicError
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            return call(), None
        except FeatomicError as err:
            return None, str(err).removeprefix("internal featomic error: ")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
