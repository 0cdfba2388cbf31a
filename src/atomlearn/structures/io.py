"""Reading and writing structures (extended XYZ through ASE) and their labels."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import ase
import ase.io
import numpy as np

from ..errors import DataError
from .keys import KeySpec


def read_structures(path: str | os.PathLike, index: str | int | slice = ":") -> list[ase.Atoms]:
    """Read structures from an extended XYZ (or any ASE-readable) file.

    Parameters
    ----------
    path : str or path-like
        File to read.
    index : str, int or slice
        ASE index of the frames to read (``":"`` for all).

    Returns
    -------
    list of ase.Atoms
        The frames, with positions in Å. Labels stay in ``atoms.info``, ``atoms.arrays``
        or the frame's calculator, as ASE read them.

    Raises
    ------
    DataError
        If the file is missing, empty, not readable, or has non-finite positions.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Structure file '{path}' does not exist; check the path.")
    try:
        frames = ase.io.read(path, index=index)
    except Exception as err:  # ASE raises many types for malformed files
        raise DataError(
            f"Could not read '{path}' as extended XYZ: {err}. Check that the file is "
            "extended XYZ (a count line, a comment line with Properties=..., then atoms)."
        ) from err
    if isinstance(frames, ase.Atoms):
        frames = [frames]
    if len(frames) == 0:
        raise DataError(f"Structure file '{path}' holds no frames.")
    for i, atoms in enumerate(frames):
        atoms.info.setdefault("_source", f"{path}")
        atoms.info.setdefault("_frame", i)
        check_positions(atoms, where=f"'{path}' (frame {i})")
    return frames


def where(atoms: ase.Atoms, fallback: int | None = None) -> str:
    """Describe a frame as ``'file' (frame i)`` for error messages."""
    source = atoms.info.get("_source")
    frame = atoms.info.get("_frame", fallback)
    return f"'{source}' (frame {frame})" if source else f"structure {frame}"


#: Atoms closer than this (Å) are refused: no chemistry has them, and descriptors of
#: coinciding atoms have undefined gradients (NaN forces).
MIN_DISTANCE = 0.1


def check_positions(atoms: ase.Atoms, where: str) -> None:
    """Raise :class:`DataError` if positions or the cell contain NaN or inf, or two atoms
    are closer than :data:`MIN_DISTANCE`."""
    if not np.all(np.isfinite(atoms.positions)):
        bad = int(np.argwhere(~np.isfinite(atoms.positions))[0, 0])
        raise DataError(
            f"Positions in {where} are not finite (atom {bad}); fix or remove the frame."
        )
    if not np.all(np.isfinite(atoms.cell.array)):
        raise DataError(f"The cell in {where} is not finite; fix or remove the frame.")
    pair = _overlapping_pair(atoms)
    if pair is not None:
        i, j, d = pair
        raise DataError(
            f"Atoms {i} and {j} in {where} are {d:.3g} Å apart (closer than "
            f"{MIN_DISTANCE} Å): overlapping atoms have no defined descriptor or forces; "
            "fix or remove the frame.")


def _overlapping_pair(atoms: ase.Atoms) -> tuple[int, int, float] | None:
    if len(atoms) < 2 and not atoms.pbc.any():
        return None
    if atoms.pbc.any():
        from ase.neighborlist import neighbor_list

        i, j, d = neighbor_list("ijd", atoms, MIN_DISTANCE, self_interaction=False)
    else:
        from scipy.spatial import cKDTree

        pairs = cKDTree(atoms.positions).query_pairs(MIN_DISTANCE, output_type="ndarray")
        i, j = pairs.T
        d = np.linalg.norm(atoms.positions[i] - atoms.positions[j], axis=1)
    if len(i) == 0:
        return None
    return int(i[0]), int(j[0]), float(d[0])


def has_label(atoms: ase.Atoms, name: str, keys: KeySpec | None = None) -> bool:
    """Whether a reference label ``name`` can be found on ``atoms``."""
    keys = keys or KeySpec()
    results = atoms.calc.results if atoms.calc is not None else {}
    for key in keys.candidates(name):
        if key in atoms.info or key in atoms.arrays or key in results:
            return True
    return False


def get_label(
    atoms: ase.Atoms,
    name: str,
    keys: KeySpec | None = None,
    *,
    shape: tuple[int, ...] | None = None,
    per_atom: bool = False,
    frame: int | None = None,
    expected: str = "",
) -> np.ndarray:
    """Read the reference label ``name`` of one structure.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure.
    name : str
        Property name (``"energy"``, ``"forces"``, ...).
    keys : KeySpec, optional
        Key lookup rules; default ``REF_<name>``, then ``<name>``, then calculator results.
    shape : tuple of int, optional
        Expected shape per structure, or per atom when ``per_atom`` (then the full shape
        is ``(n_atoms, *shape)``). Flat values of the right size are reshaped.
    per_atom : bool
        Whether the label has one row per atom.
    frame : int, optional
        Frame number for error messages.
    expected : str, optional
        What the shape belongs to, for error messages (e.g. "for a 'vector' target").

    Returns
    -------
    numpy.ndarray
        The label as float64.

    Raises
    ------
    DataError
        If the label is missing, has the wrong shape, or is not finite.
    """
    keys = keys or KeySpec()
    results = atoms.calc.results if atoms.calc is not None else {}
    value = None
    for key in keys.candidates(name):
        for store in (atoms.arrays, atoms.info, results):
            if key in store:
                value = store[key]
                break
        if value is not None:
            break
    loc = where(atoms, frame)
    if value is None:
        tried = ", ".join(repr(k) for k in keys.candidates(name))
        raise DataError(
            f"No label {name!r} in {loc}: looked for {tried} in info, arrays and calculator "
            f"results. Add it to the file or name its key with 'data.keys.{name}'."
        )
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"Label {name!r} in {loc} is not numeric: {value!r}.") from err
    if shape is not None:
        shape_of = (len(atoms), *shape) if per_atom else tuple(shape)
        if array.shape != shape_of:
            if array.size == int(np.prod(shape_of)):
                array = array.reshape(shape_of)
            else:
                raise DataError(
                    f"Label {name!r} in {loc} has shape {array.shape}; expected {shape_of}"
                    f"{' (one row per atom)' if per_atom else ''}"
                    f"{' ' + expected if expected else ''}. Fix the label or the target's "
                    "declared kind and shape."
                )
    if not np.all(np.isfinite(array)):
        raise DataError(
            f"Label {name!r} in {loc} contains NaN or inf; fix or remove the frame."
        )
    return array


def write_predictions(
    path: str | os.PathLike,
    structures: Sequence[ase.Atoms],
    predictions: Mapping[str, np.ndarray],
    std: Mapping[str, np.ndarray] | None = None,
    *,
    keys: KeySpec | None = None,
    per_atom: Mapping[str, bool] | None = None,
) -> None:
    """Write structures with their predictions as ``pred_<name>`` (and ``pred_<name>_std``).

    Parameters
    ----------
    path : str or path-like
        Output extended XYZ file; written atomically (temporary file, then rename).
    structures : sequence of ase.Atoms
        The structures that were predicted (not modified).
    predictions, std : mapping of str to numpy.ndarray
        Per-structure arrays of shape ``(n_structures, ...)``, or per-atom arrays of shape
        ``(n_atoms_total, ...)`` for names flagged in ``per_atom``.
    keys : KeySpec, optional
        Output key rules.
    per_atom : mapping of str to bool, optional
        Which predictions have one row per atom (``forces``).
    """
    keys = keys or KeySpec()
    per_atom = dict(per_atom or {})
    offsets = np.cumsum([0] + [len(a) for a in structures])
    out = []
    for s, atoms in enumerate(structures):
        atoms = atoms.copy()
        atoms.calc = None
        for tag in ("_source", "_frame"):
            atoms.info.pop(tag, None)
        for is_std, table in ((False, predictions), (True, std or {})):
            for name, values in table.items():
                key = keys.prediction(name, std=is_std)
                if per_atom.get(name, False):
                    atoms.arrays[key] = np.asarray(values[offsets[s] : offsets[s + 1]])
                else:
                    value = np.asarray(values[s])
                    atoms.info[key] = value.item() if value.ndim == 0 else value
        out.append(atoms)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    ase.io.write(tmp, out, format="extxyz")
    os.replace(tmp, path)
