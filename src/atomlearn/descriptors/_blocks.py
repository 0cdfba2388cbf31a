"""Read the arrays of a metatensor TensorMap through metatensor-core's C API.

metatensor's Python accessors build a wrapper object and a DLPack capsule for every
block, label set and array (15-20 µs each). A spherical expansion of ethanol has 63
blocks, so reading it the public way costs more than featomic's whole calculation, and in
MD that happens every step. :func:`exported_blocks` calls the same C functions
(``mts_tensormap_block_by_id``, ``mts_block_labels``, ``mts_block_data``,
``mts_block_gradient``) and hands out NumPy views of the data, which the caller copies
into its own layout (:func:`exported_blocks`) or keeps while it keeps the tensor
(:func:`pinned_blocks`). If the library's layout ever differs from what is checked here,
it falls back to the public accessors (the two are tested equal).
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Block:
    """Arrays of one block: samples, values and the requested gradients'."""

    samples: np.ndarray | None                            # int32 [n_samples, n_dims]
    values: np.ndarray
    gradients: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


@contextmanager
def exported_blocks(tensor, gradients: Sequence[str] = (),
                    samples_of: Container[int] | None = None) -> Iterator[list[Block]]:
    """Samples, values and ``gradients`` (samples, values) of every block of ``tensor``.

    Arrays may be views into the tensor's memory, valid only inside the ``with`` block:
    copy what is needed before leaving it. ``samples_of``: indices of the blocks whose
    samples are needed (default all); the others get ``None`` samples.
    """
    blocks, release = pinned_blocks(tensor, gradients, samples_of)
    try:
        yield blocks
    finally:
        release()


def pinned_blocks(tensor, gradients: Sequence[str] = (),
                  samples_of: Container[int] | None = None) -> tuple[list[Block], Callable]:
    """:func:`exported_blocks` without the ``with``: the views stay valid until the
    returned ``release()`` is called, and ``release`` keeps ``tensor`` alive until then
    (hand it to :func:`weakref.finalize` of the object that holds the views)."""
    releases: list = []
    try:
        blocks = _read_c(tensor, gradients, releases, samples_of)
    except (AttributeError, ImportError, TypeError, ValueError):   # pragma: no cover
        _release(releases)
        return read_blocks_public(tensor, gradients), lambda: None

    def release(tensor=tensor) -> None:
        _release(releases)
        releases.clear()

    return blocks, release


def _release(releases) -> None:
    for deleter, managed in releases:
        if deleter:
            deleter(managed)


def key_table(tensor) -> tuple[list[str], np.ndarray]:
    """Names and values (int32, one row per block) of the keys of ``tensor``."""
    try:
        c, lib = _types(), tensor._lib
        labels = lib.mts_tensormap_keys(tensor._ptr)
        try:
            names_p = ctypes.POINTER(ctypes.c_char_p)()
            count = c.uintptr_t()
            lib.mts_labels_dimensions(labels, names_p, count)
            names = [names_p[k].decode() for k in range(count.value)]
            return names, _label_values(lib, c, labels)
        finally:
            lib.mts_labels_free(labels)
    except (AttributeError, ImportError, TypeError, ValueError):   # pragma: no cover
        return list(tensor.keys.names), np.array(tensor.keys.values)


def read_blocks_public(tensor, gradients: Sequence[str] = ()) -> list[Block]:
    """:func:`exported_blocks` through metatensor's public accessors (copies)."""
    out = []
    for block in tensor.blocks():
        entry = Block(np.array(block.samples.values), np.array(block.values))
        for name in gradients:
            g = block.gradient(name)
            entry.gradients[name] = (np.array(g.samples.values), np.array(g.values))
        out.append(entry)
    return out


class _C:
    """ctypes types of metatensor-core and DLPack, resolved once."""

    def __init__(self) -> None:
        from ctypes_dlpack import (
            DLDevice,
            DLDeviceType,
            DLManagedTensorVersioned,
            DLPackVersion,
        )
        from metatensor._c_api import c_uintptr_t, mts_array_t, mts_block_t

        self.array_t, self.block_t, self.uintptr_t = mts_array_t, mts_block_t, c_uintptr_t
        self.managed_p = ctypes.POINTER(DLManagedTensorVersioned)
        self.cpu = DLDevice(device_type=DLDeviceType.kDLCPU, device_id=0)
        self.version = DLPackVersion(major=1, minor=0)


_TYPES: _C | None = None


def _types() -> _C:
    global _TYPES
    if _TYPES is None:
        _TYPES = _C()
    return _TYPES


def _read_c(tensor, gradients, releases, samples_of=None):
    c = _types()
    lib, ptr = tensor._lib, tensor._ptr
    out = []
    for i in range(len(tensor)):
        block = ctypes.POINTER(c.block_t)()
        lib.mts_tensormap_block_by_id(ptr, block, i)
        labelled = samples_of is None or i in samples_of
        entry = Block(_labels(lib, c, block) if labelled else None,
                      _array(lib, c, block, releases))
        for name in gradients:
            g = ctypes.POINTER(c.block_t)()
            lib.mts_block_gradient(block, name.encode(), g)
            entry.gradients[name] = (_labels(lib, c, g) if labelled else None,
                                     _array(lib, c, g, releases))
        out.append(entry)
    return out


def _labels(lib, c, block) -> np.ndarray:
    labels = lib.mts_block_labels(block, 0)
    try:
        return _label_values(lib, c, labels)
    finally:
        lib.mts_labels_free(labels)


def _label_values(lib, c, labels) -> np.ndarray:
    values = ctypes.POINTER(ctypes.c_int32)()
    count, size = c.uintptr_t(), c.uintptr_t()
    lib.mts_labels_values_cpu(labels, values, count, size)
    if count.value == 0:
        return np.zeros((0, size.value), np.int32)
    return np.ctypeslib.as_array(values, (count.value, size.value)).copy()


def _array(lib, c, block, releases) -> np.ndarray:
    """A view of the block's data; the DLPack export is released with ``releases``."""
    array = c.array_t()
    lib.mts_block_data(block, array)
    managed = c.managed_p()
    if array.as_dlpack(array.ptr, ctypes.byref(managed), c.cpu, None, c.version) or not managed:
        raise ValueError("metatensor could not export the array")
    contents = managed.contents
    releases.append((contents.deleter, managed))
    t = contents.dl_tensor
    ndim = t.ndim
    shape = tuple(t.shape[:ndim])
    dtype = t.dtype
    if dtype.code != 2 or dtype.bits != 64 or dtype.lanes != 1:
        raise ValueError("not a float64 array")
    if t.strides:
        strides = t.strides[:ndim]
        if strides != _c_strides(shape) and not _c_contiguous(shape, strides):
            raise ValueError("not a C-contiguous array")
    size = math.prod(shape)
    if size == 0:
        return np.zeros(shape)
    buffer = (ctypes.c_double * size).from_address(t.data + t.byte_offset)
    return np.frombuffer(buffer, np.float64).reshape(shape)


@functools.lru_cache(maxsize=256)
def _c_strides(shape: tuple) -> list:
    """Element strides of a C-contiguous array of ``shape`` (the common case, cached)."""
    out, step = [], 1
    for extent in reversed(shape):
        out.append(step)
        step *= extent
    return out[::-1]


def _c_contiguous(shape: tuple, strides: list) -> bool:
    """Whether element ``strides`` describe a C-contiguous array of ``shape``."""
    expected = 1
    for extent, stride in zip(reversed(shape), reversed(strides), strict=True):
        if extent > 1 and stride != expected:
            return False
        expected *= extent
    return True
