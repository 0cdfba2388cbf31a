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
import sys
from types import ModuleType


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
