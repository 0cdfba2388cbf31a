"""Labelled structures: the reference values of a model's targets, read once."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import ase
import numpy as np

from ..errors import ConfigError, DataError
from ..structures.io import has_label, where
from ..structures.keys import KeySpec
from ..structures.units import convert
from .spec import TargetSpec, read_gradient_labels, read_stress

#: Internal units of the derivative labels.
GRADIENT_UNITS = {"forces": "eV/Å", "stress": "eV/Å^3"}


@dataclass
class Dataset:
    """Structures with the reference labels of some targets.

    Attributes
    ----------
    structures : list of ase.Atoms
    specs : dict of str to TargetSpec
        The targets whose labels are held.
    labels : dict of str to numpy.ndarray
        One array per target, ``(n_structures, *shape)`` or ``(n_atoms_total, *shape)``
        when per atom, in internal units; the derivative labels of a scalar target as
        ``"forces"`` (n_atoms_total, 3) and ``"stress"`` (n_structures, 3, 3), NaN where a
        structure has none.
    """

    structures: list[ase.Atoms]
    specs: dict[str, TargetSpec]
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    # -- reading ----------------------------------------------------------------------
    @classmethod
    def read(cls, structures: Sequence[ase.Atoms], specs: Sequence[TargetSpec], *,
             keys: KeySpec | None = None, units: Mapping[str, str] | None = None,
             labels: Mapping[str, np.ndarray] | None = None,
             missing_gradients: str = "error") -> Dataset:
        """Read (or check the given) labels of ``specs`` for ``structures``.

        Parameters
        ----------
        structures : sequence of ase.Atoms
        specs : sequence of TargetSpec
        keys : KeySpec, optional
            Where the labels are found.
        units : mapping of str to str, optional
            Units of the labels in the file, converted to the internal ones.
        labels : mapping of str to array, optional
            Labels given directly (in internal units) instead of read.
        missing_gradients : {"error", "warn", "allow"}
            What structures without forces (or, for periodic cells, stress) mean: an error,
            or NaN rows that a model leaves out, with a warning or without (for labels a
            model checks again).

        Raises
        ------
        DataError
            For missing labels (naming file, frame and key), labels of the wrong shape
            for their declared kind, non-finite values, or no structures.
        """
        structures = list(structures)
        if not structures:
            raise DataError("No structures were given.")
        data = cls(structures, {s.name: s for s in specs})
        units = dict(units or {})
        given = dict(labels or {})
        n_atoms = int(data.offsets[-1])
        for spec in specs:
            if spec.name in given:
                value = np.asarray(given[spec.name], float)
                if spec.kind == "rank2_symmetric":
                    value = 0.5 * (value + np.swapaxes(value, -1, -2))
            else:
                value = spec.read(structures, keys, unit=units.get(spec.name))
            expected = spec.expected_shape(len(structures), n_atoms)
            if value.shape != expected:
                raise DataError(
                    f"Labels of target {spec.name!r} ({spec.kind!r}"
                    f"{', per atom' if spec.per_atom else ''}) must have shape {expected}; "
                    f"got {value.shape}.")
            # a DOS marks grid points above a structure's computed levels as missing (NaN)
            missing_allowed = spec.metadata.get("builder") == "dos"
            if not np.all(np.isfinite(value) | (missing_allowed & np.isnan(value))):
                raise DataError(f"Labels of target {spec.name!r} contain NaN or inf; fix or "
                                "remove those structures.")
            data.labels[spec.name] = value
            for g in spec.gradients:
                data.labels[g] = data._gradient_labels(g, given, keys, units,
                                                       missing_gradients)
        return data

    def _gradient_labels(self, name, given, keys, units, missing) -> np.ndarray:
        n = len(self.structures)
        n_atoms = int(self.offsets[-1])
        shape = (n_atoms, 3) if name == "forces" else (n, 3, 3)
        if name in given:
            value = np.asarray(given[name], float)
            if value.shape != shape:
                raise DataError(f"{name!r} labels must have shape {shape}; got {value.shape}.")
        else:
            value = self._read_gradient(name, shape, keys or KeySpec(), units)
        present = (np.array([np.isfinite(value[self.atom_rows(i)]).all() for i in range(n)])
                   if name == "forces" else np.isfinite(value).all(axis=(1, 2)))
        missing_frames = np.flatnonzero(~present)
        if len(missing_frames):
            first = int(missing_frames[0])
            why = "no forces" if name == "forces" else "no stress or are not periodic"
            text = (f"{len(missing_frames)} of {n} training frames have {why} (first: "
                    f"{where(self.structures[first], first)})")
            if missing == "error" or not present.any():
                raise DataError(
                    f"{text}; add them, or leave {name!r} out of the target's gradients"
                    + (", or set 'model.require_forces: false' to fit those frames' "
                       "energies only" if missing == "error" and name == "forces" else "")
                    + ".")
            if missing == "warn":
                rest = ("their energies are fitted without forces" if name == "forces" else
                        f"fitting stress on the other {int(present.sum())}")
                warnings.warn(f"{text}; {rest}.", stacklevel=4)
        return value

    def _read_gradient(self, name, shape, keys, units) -> np.ndarray:
        usable = [i for i, a in enumerate(self.structures)
                  if has_label(a, name, keys) and (name == "forces" or a.pbc.all())]
        value = np.full(shape, np.nan)
        if not usable:
            return value
        if name == "forces":
            from .spec import energy

            part = read_gradient_labels(energy(forces=True),
                                        [self.structures[i] for i in usable], keys)["forces"]
            value[np.concatenate([self.atom_rows(i) for i in usable])] = part
        else:
            value[usable] = np.stack([read_stress(self.structures[i], keys, i)
                                      for i in usable])
        return convert(value, units[name], GRADIENT_UNITS[name]) if name in units else value

    # -- layout -----------------------------------------------------------------------
    @property
    def n_structures(self) -> int:
        return len(self.structures)

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms of each structure, shape (n_structures,)."""
        return np.array([len(a) for a in self.structures])

    @property
    def offsets(self) -> np.ndarray:
        """First atom row of each structure, and the total, shape (n_structures + 1,)."""
        return np.concatenate([[0], np.cumsum(self.n_atoms)])

    @property
    def species(self) -> list[int]:
        """Sorted atomic numbers present."""
        return sorted({int(z) for a in self.structures for z in a.numbers})

    def atom_rows(self, structure: int) -> np.ndarray:
        o = self.offsets
        return np.arange(o[structure], o[structure + 1])

    def per_atom_names(self) -> set[str]:
        return {n for n, s in self.specs.items() if s.per_atom} | (
            {"forces"} if "forces" in self.labels else set())

    def has_gradient(self, name: str) -> np.ndarray:
        """Which structures carry ``name`` labels (forces or stress), shape (n_structures,)."""
        if name not in self.labels:
            return np.zeros(self.n_structures, bool)
        value = self.labels[name]
        if name == "forces":
            finite = np.isfinite(value).all(axis=1)
            return np.array([finite[self.atom_rows(i)].all() if len(self.atom_rows(i)) else
                             False for i in range(self.n_structures)])
        return np.isfinite(value).all(axis=(1, 2))

    # -- subsets ----------------------------------------------------------------------
    def digest(self) -> str:
        """SHA-256 of the structures (numbers, positions, cells, periodicity) and the
        labels: what a checkpoint must have been trained on to be resumed."""
        h = hashlib.sha256()
        for atoms in self.structures:
            for array in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc):
                h.update(np.ascontiguousarray(array).tobytes())
        for name in sorted(self.labels):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.labels[name], float).tobytes())
        return h.hexdigest()

    def subset(self, index: Sequence[int]) -> Dataset:
        """The structures ``index`` with their labels (per-atom labels sliced along)."""
        index = np.asarray(index, int)
        rows = (np.concatenate([self.atom_rows(i) for i in index]) if len(index)
                else np.zeros(0, int))
        per_atom = self.per_atom_names()
        labels = {k: (v[rows] if k in per_atom else v[index]) for k, v in self.labels.items()}
        return Dataset([self.structures[i] for i in index], self.specs, labels)

    def select(self, names: Sequence[str]) -> Dataset:
        """The same structures with the targets ``names`` only (and their gradients)."""
        specs = {n: self.specs[n] for n in names}
        keep = set(names) | {g for s in specs.values() for g in s.gradients}
        return Dataset(self.structures, specs,
                       {k: v for k, v in self.labels.items() if k in keep})

    def with_labels(self, labels: Mapping[str, np.ndarray]) -> Dataset:
        """The same structures with some labels replaced (e.g. residuals)."""
        return Dataset(self.structures, self.specs, {**self.labels, **labels})

    def held_out_indices(self, n_held_out: int, seed: int) -> np.ndarray | None:
        """Sorted indices of ``n_held_out`` structures drawn by a seeded permutation (the
        rest train); None for 0."""
        if n_held_out == 0:
            return None
        if not 1 <= n_held_out < self.n_structures:
            raise ConfigError(
                f"A held-out share of {n_held_out} of {self.n_structures} structures leaves "
                "none on one side; change 'validation_fraction' or use more structures.")
        order = np.random.default_rng(seed).permutation(self.n_structures)
        return np.sort(order[:n_held_out])

    def split(self, held_out: np.ndarray) -> tuple[Dataset, Dataset]:
        """``(train, held_out)`` datasets for the held-out indices."""
        train = np.setdiff1d(np.arange(self.n_structures), held_out)
        return self.subset(train), self.subset(held_out)


__all__ = ["GRADIENT_UNITS", "Dataset"]
