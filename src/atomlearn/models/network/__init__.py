"""``bpnn`` and ``mpnn``: neural networks (PyTorch) behind the model layer.

The classes live in :mod:`.model` (which imports PyTorch); :mod:`.hypers` does not.
"""

_CLASSES = ("BehlerParrinelloModel", "MessagePassingModel", "NetworkModel")


def __getattr__(name: str):
    if name in _CLASSES:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_CLASSES)
