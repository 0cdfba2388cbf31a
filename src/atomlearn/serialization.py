"""One versioned model-file format for every model family.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) with:

* ``__metadata__``: a JSON string with ``format_version``, ``atomlearn_version``,
  ``class`` (a registry name, never an import path), ``params`` (constructor parameters),
  ``targets`` (target specs) and model-specific extras;
* the model's arrays (numbers only; network weights are stored the same way).

Files are written to a temporary file and renamed, so a crash never leaves half a model.
Loading uses ``allow_pickle=False`` and looks the class up in a registry, so opening a
file from a stranger executes no code. Older formats are upgraded by the functions in
:data:`UPGRADES` (``n -> n + 1``).
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import ModelFileError

FORMAT_VERSION = 3
MAGIC = "atomlearn-model"

#: ``UPGRADES[n](metadata, arrays) -> (metadata, arrays)`` turns format n into n + 1.
UPGRADES: dict[int, Callable[[dict, dict], tuple[dict, dict]]] = {}


def write_model_file(path: str | os.PathLike, *, cls: str, params: Mapping[str, Any],
                     arrays: Mapping[str, np.ndarray], **metadata: Any) -> Path:
    """Write a model file atomically.

    Parameters
    ----------
    path : str or path-like
        Destination (conventionally ``*.alm``).
    cls : str
        Registry name of the model class.
    params : mapping
        JSON-serialisable constructor parameters.
    arrays : mapping of str to numpy.ndarray
        Numeric state; object arrays are refused.
    **metadata
        Further JSON-serialisable entries (targets, descriptor settings, ...).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    meta = {"magic": MAGIC, "format_version": FORMAT_VERSION,
            "atomlearn_version": __version__, "class": cls, "params": dict(params),
            **metadata}
    clean = {}
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.dtype == object:
            raise TypeError(f"Array {key!r} has dtype object; model files hold numbers only.")
        clean[key] = value
    if "__metadata__" in clean:
        raise ValueError("'__metadata__' is reserved.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, __metadata__=np.array(json.dumps(meta, default=_json_default)),
                     **clean)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_model_file(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and upgrade a model file; return ``(metadata, arrays)``.

    Every array's header is checked against the bytes the archive holds before it is
    read (a corrupted header cannot ask for terabytes), arrays must be numeric and
    finite, and the metadata must be a JSON object.

    Raises
    ------
    ModelFileError
        If the file is missing, not a model file, corrupted, or from a newer atomlearn.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file '{path}' does not exist; check the path.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"'{path}' is not an atomlearn model file (expected an .npz archive written by "
            "'atomlearn fit' or model.save)."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                _check_member(archive, info, path)
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["__metadata__"]))
            arrays = {k: npz[k] for k in npz.files if k != "__metadata__"}
    except ModelFileError:
        raise
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, MemoryError,
            RecursionError, UnicodeDecodeError, NotImplementedError, zlib.error) as err:
        raise ModelFileError(f"'{path}' is not a readable atomlearn model file: "
                             f"{type(err).__name__}: {str(err)[:200]}.") from err
    if not isinstance(meta, dict) or meta.get("magic") != MAGIC:
        raise ModelFileError(f"'{path}' is not an atomlearn model file (no magic marker).")
    for key, value in arrays.items():
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"'{path}' is corrupted: array {key!r} holds NaN or inf.")
    try:
        version = int(meta.get("format_version", -1))
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"'{path}' has no valid format version.") from err
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"'{path}' has model format {version}, newer than this atomlearn "
            f"({__version__}, format {FORMAT_VERSION}); upgrade atomlearn to read it."
        )
    while version < FORMAT_VERSION:
        if version not in UPGRADES:
            raise ModelFileError(f"No upgrade from model format {version} in '{path}'.")
        try:
            meta, arrays = UPGRADES[version](meta, arrays)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise ModelFileError(f"'{path}' (model format {version}) cannot be upgraded: "
                                 f"{type(err).__name__}: {err}.") from err
        version += 1
        meta["format_version"] = version
    return meta, arrays


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    """Refuse an array whose header claims more data than the archive holds, or that is
    not numbers (object or text arrays)."""
    name = info.filename.removesuffix(".npy")
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, _, dtype = reader(fh)
        header = fh.tell() if hasattr(fh, "tell") else 0
    size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if size > info.file_size - min(header, info.file_size):
        raise ModelFileError(
            f"'{path}' is corrupted: array {name!r} claims shape {tuple(shape)} "
            f"({size / 2**30:.3g} GiB) but the file holds {info.file_size} bytes of it.")
    if name != "__metadata__" and dtype.kind not in "biuf":
        raise ModelFileError(f"'{path}' is corrupted: array {name!r} holds {dtype} values; "
                             "model files hold numbers only.")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
