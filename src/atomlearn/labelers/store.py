"""Labels on disk, one file per structure and method, written the moment they exist: a
killed run loses at most the calculation in flight, and a rerun reuses what is there."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from pathlib import Path

import ase
import ase.io
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..files import atomic_path
from .base import CALCULATOR_RESULTS, Labeler, LabelError

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
        """Store ``results`` (energy, forces[, stress], and info arrays) of ``atoms``;
        return the labelled structure as stored (read back: a rerun that finds it gets
        the same numbers)."""
        # the structure and what the method gave, nothing a caller attached to it
        labelled = ase.Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        labelled.info = {k: v for k, v in atoms.info.items() if not k.startswith("_")}
        labelled.info["label_method"] = self.method
        # energy, forces and stress on the calculator; what else the method gave (orbital
        # energies, ...) in the info
        labelled.info.update({k: np.asarray(v) for k, v in results.items()
                              if k not in CALCULATOR_RESULTS})
        labelled.calc = SinglePointCalculator(labelled, **{
            k: v for k, v in results.items() if k in CALCULATOR_RESULTS})
        with atomic_path(self._path(atoms, ".xyz")) as tmp:
            ase.io.write(tmp, labelled, format="extxyz")
        return self.get(atoms)

    def record_failure(self, atoms: ase.Atoms, reason: str) -> None:
        with atomic_path(self._path(atoms, ".failed.json")) as tmp:
            tmp.write_text(json.dumps({"method": self.method, "reason": reason}))


def label_structures(structures: Sequence[ase.Atoms], labeler: Labeler,
                     store: LabelStore, *, retry_failed: bool = False,
                     progress: bool = True, executor: Executor | None = None,
                     timeout: float | None = None, retries: int = 0
                     ) -> list[ase.Atoms | None]:
    """Label every structure (stored labels reused, each new one stored at once).

    Parameters
    ----------
    structures : sequence of ase.Atoms
    labeler : Labeler
    store : LabelStore
    retry_failed : bool
        Try structures whose failure is stored again.
    progress : bool
    executor : concurrent.futures.Executor, optional
        Where the calculations run (:func:`atomlearn.executors.make_executor`); results
        come back to this process, which stores each as it arrives.
    timeout : float, optional
        Seconds a calculation may take (with an executor, which never holds more tasks
        than it runs at once); a late one is recorded as failed and abandoned.
    retries : int
        Times a calculation whose worker failed (not the method: a :class:`LabelError`
        is final) is submitted again.

    Returns
    -------
    list of ase.Atoms or None
        The labelled structures; None where the method failed (the reason is logged and
        stored, and such structures are not tried again unless ``retry_failed``).
    """
    out: list[ase.Atoms | None] = [None] * len(structures)
    todo = []
    for i, atoms in enumerate(structures):
        out[i] = store.get(atoms)
        if out[i] is None and (retry_failed or store.failure(atoms) is None):
            todo.append(i)
        elif out[i] is None:
            log.warning("skipped a structure (%s): %s", atoms.get_chemical_formula(),
                        store.failure(atoms))
    bar = tqdm(total=len(todo), desc=f"labelling ({labeler.method})", unit="structure",
               disable=None if progress else True)

    def failed(i: int, reason: str) -> None:
        store.record_failure(structures[i], reason)
        log.warning("skipped structure %d (%s): %s", i,
                    structures[i].get_chemical_formula(), reason)

    with bar:
        if executor is None:
            for i in todo:
                try:
                    out[i] = store.put(structures[i], labeler(structures[i]))
                except LabelError as err:
                    failed(i, str(err))
                bar.update(1)
            return out
        from ..executors import slots

        for i in todo:
            labeler.check(structures[i], f"structure {i}")
        attempts = dict.fromkeys(todo, 0)
        # no more in flight than the workers run at once: a task starts when submitted,
        # so the timeout measures the calculation, not the queue
        queue, running = list(reversed(todo)), {}
        width = slots(executor)
        while queue or running:
            while queue and len(running) < width:
                i = queue.pop()
                running[executor.submit(labeler, structures[i])] = (i, time.monotonic())
            done, _ = wait(running, timeout=1.0 if timeout else None,
                           return_when=FIRST_COMPLETED)
            for future in done:
                i, _start = running.pop(future)
                try:
                    out[i] = store.put(structures[i], future.result())
                except LabelError as err:
                    failed(i, str(err))
                except Exception as err:      # the worker, not the method, failed
                    attempts[i] += 1
                    if attempts[i] <= retries:
                        queue.append(i)
                        continue
                    failed(i, f"the worker failed {attempts[i]} time(s): "
                              f"{type(err).__name__}: {err}")
                bar.update(1)
            if timeout:
                now = time.monotonic()
                for future, (i, start) in list(running.items()):
                    if now - start > timeout:
                        future.cancel()
                        running.pop(future)
                        failed(i, f"timed out after {timeout:g} s")
                        bar.update(1)
    return out


__all__ = ["LabelStore", "label_structures", "structure_key"]
