"""Labels on disk, one file per structure and method, written the moment they exist: a
killed run loses at most the calculation in flight, and a rerun reuses what is there."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import ase
import ase.io
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..files import atomic_path
from .base import Labeler, LabelError

log = logging.getLogger(__name__)


def structure_key(atoms: ase.Atoms, method: str) -> str:
    """A name for the label of ``atoms`` by ``method``: the SHA-256 of the elements,
    positions (to 1e-8 Å), cell, periodicity, total charge and method."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (atoms.positions, atoms.cell.array):
        h.update(np.round(np.asarray(array, float), 8).tobytes())
    h.update(np.asarray(atoms.pbc, bool).tobytes())
    h.update(f"{float(atoms.info.get('charge', 0.0)):.6f}|{method}".encode())
    return h.hexdigest()[:32]


class LabelStore:
    """Labels of one method in a folder: ``<key>.xyz`` (the structure with its energy and
    forces) or ``<key>.failed.json`` (why the method failed on it).

    Parameters
    ----------
    directory : path
        Created if needed; refused if it cannot be written.
    method : str
        The labeller's method string.
    """

    def __init__(self, directory: str | os.PathLike, method: str) -> None:
        self.directory = Path(directory)
        self.method = method
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            probe = self.directory / f".write-test{os.getpid()}"
            probe.write_bytes(b"0")
            probe.unlink()
        except OSError as err:
            raise ConfigError(f"The label folder '{self.directory}' cannot be written "
                              f"({err.strerror or err}); choose another folder.") from err

    def _path(self, atoms: ase.Atoms, suffix: str) -> Path:
        return self.directory / f"{structure_key(atoms, self.method)}{suffix}"

    def get(self, atoms: ase.Atoms) -> ase.Atoms | None:
        """The labelled structure stored for ``atoms``, or None."""
        path = self._path(atoms, ".xyz")
        return ase.io.read(path, format="extxyz") if path.exists() else None

    def failure(self, atoms: ase.Atoms) -> str | None:
        """Why the method failed on ``atoms`` before, or None."""
        path = self._path(atoms, ".failed.json")
        return json.loads(path.read_text())["reason"] if path.exists() else None

    def put(self, atoms: ase.Atoms, results: dict) -> ase.Atoms:
        """Store ``results`` (energy, forces[, stress]) of ``atoms``; return the labelled
        structure as stored (read back: a rerun that finds it gets the same numbers)."""
        # the structure and what the method gave, nothing a caller attached to it
        labelled = ase.Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        labelled.info = {k: v for k, v in atoms.info.items() if not k.startswith("_")}
        labelled.info["label_method"] = self.method
        labelled.calc = SinglePointCalculator(labelled, **results)
        with atomic_path(self._path(atoms, ".xyz")) as tmp:
            ase.io.write(tmp, labelled, format="extxyz")
        return self.get(atoms)

    def record_failure(self, atoms: ase.Atoms, reason: str) -> None:
        with atomic_path(self._path(atoms, ".failed.json")) as tmp:
            tmp.write_text(json.dumps({"method": self.method, "reason": reason}))


def label_structures(structures: Sequence[ase.Atoms], labeler: Labeler,
                     store: LabelStore, *, retry_failed: bool = False,
                     progress: bool = True) -> list[ase.Atoms | None]:
    """Label every structure (stored labels reused, each new one stored at once).

    Returns
    -------
    list of ase.Atoms or None
        The labelled structures; None where the method failed (the reason is logged and
        stored, and such structures are not tried again unless ``retry_failed``).
    """
    out: list[ase.Atoms | None] = []
    bar = tqdm(structures, desc=f"labelling ({labeler.method})", unit="structure",
               disable=None if progress else True)
    for atoms in bar:
        labelled = store.get(atoms)
        if labelled is None:
            reason = None if retry_failed else store.failure(atoms)
            if reason is None:
                try:
                    labelled = store.put(atoms, labeler(atoms))
                except LabelError as err:
                    reason = str(err)
                    store.record_failure(atoms, reason)
            if reason is not None:
                log.warning("skipped a structure (%s): %s", atoms.get_chemical_formula(),
                            reason)
        out.append(labelled)
    return out


__all__ = ["LabelStore", "label_structures", "structure_key"]
