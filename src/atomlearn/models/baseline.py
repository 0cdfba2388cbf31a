"""The per-element composition baseline shared by every family (metatrain's
``CompositionModel``): each element contributes a fixed amount to a target, fitted by
least squares on the training composition (or given, e.g. isolated-atom energies); the
families learn what is left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ase
import numpy as np

from ..errors import ConfigError, check_choice
from ..targets import Dataset, TargetSpec


def composition(structures: Sequence[ase.Atoms], species: Sequence[int]) -> np.ndarray:
    """Atoms of each element in each structure, shape (n_structures, n_species)."""
    lookup = np.full(max(species) + 1, -1)
    lookup[np.asarray(species)] = np.arange(len(species))
    out = np.zeros((len(structures), len(species)))
    for s, atoms in enumerate(structures):
        np.add.at(out[s], lookup[atoms.numbers], 1.0)
    return out


class CompositionBaseline:
    """Per-element offsets of every target that has an invariant part.

    * per-structure scalars and spectra: :math:`y \\approx \\sum_Z n_Z b_Z` (or the mean
      over atoms for intensive targets), one offset per element and component;
    * per-atom scalars and spectra: the mean value of each element;
    * symmetric rank-2 tensors: the isotropic part :math:`\\sum_Z n_Z b_Z\\, I`;
    * vectors: none (a composition has no direction).

    Parameters
    ----------
    setting : "fit", "none" or mapping of element symbol to value
        Least squares, no baseline, or given values for a per-structure scalar target
        (e.g. isolated-atom energies in eV).
    """

    def __init__(self, setting: str | Mapping[str, float] = "fit") -> None:
        self.setting = setting

    def fit(self, data: Dataset, species: Sequence[int]) -> CompositionBaseline:
        self.species_ = [int(z) for z in species]
        self.offsets_: dict[str, np.ndarray] = {}
        if isinstance(self.setting, Mapping):
            scalars = [s for s in data.specs.values() if s.layout == ("scalar", False)]
            if len(scalars) != 1:
                raise ConfigError(
                    "Given baseline values (a value per element) apply to one per-structure "
                    f"scalar target; this model has {sorted(data.specs)}. Use 'fit' or "
                    "'none'.")
            symbols = [ase.data.chemical_symbols[z] for z in self.species_]
            missing = [s for s in symbols if s not in self.setting]
            if missing:
                raise ConfigError(f"'baseline' has no value for {missing}; give one per "
                                  f"element {symbols} or use 'fit'.")
            self.offsets_[scalars[0].name] = np.array([float(self.setting[s])
                                                      for s in symbols])
            return self
        check_choice(str(self.setting), ("fit", "none"), "baseline")
        if self.setting == "none":
            return self
        counts = composition(data.structures, self.species_)
        for name, spec in data.specs.items():
            y = data.labels[name]
            if spec.kind in ("scalar", "spectrum"):
                if spec.per_atom:
                    numbers = np.concatenate([a.numbers for a in data.structures])
                    self.offsets_[name] = np.stack([np.nanmean(y[numbers == z], axis=0)
                                                    for z in self.species_])
                else:
                    A = counts if spec.extensive else counts / counts.sum(1, keepdims=True)
                    flat = _least_squares(A, y.reshape(len(y), -1))
                    if spec.metadata.get("order") == "learned":
                        # states the model orders itself: one offset for all of them
                        flat[:] = flat.mean(1, keepdims=True)
                    self.offsets_[name] = flat.reshape(len(self.species_), *spec.shape)
            elif spec.kind == "rank2_symmetric" and not spec.per_atom:
                A = counts if spec.extensive else counts / counts.sum(1, keepdims=True)
                iso = np.trace(y, axis1=1, axis2=2) / 3.0
                self.offsets_[name] = np.linalg.lstsq(A, iso, rcond=None)[0]
        return self

    def predict(self, structures: Sequence[ase.Atoms], spec: TargetSpec) -> np.ndarray | None:
        """The baseline of ``spec`` for ``structures`` (None if it has none)."""
        offsets = self.offsets_.get(spec.name)
        if offsets is None:
            return None
        if spec.per_atom:
            lookup = {z: k for k, z in enumerate(self.species_)}
            numbers = np.concatenate([a.numbers for a in structures])
            return offsets[[lookup[int(z)] for z in numbers]]
        counts = composition(structures, self.species_)
        if not spec.extensive:
            counts /= counts.sum(1, keepdims=True)
        if spec.kind == "rank2_symmetric":
            return (counts @ offsets)[:, None, None] * np.eye(3)
        return (counts @ offsets.reshape(len(self.species_), -1)).reshape(
            len(structures), *spec.shape)

    def residual(self, data: Dataset) -> Dataset:
        """``data`` with the baseline subtracted from every target that has one."""
        labels = {}
        for name, spec in data.specs.items():
            base = self.predict(data.structures, spec)
            if base is not None:
                labels[name] = data.labels[name] - base
        return data.with_labels(labels)

    def state(self) -> dict[str, np.ndarray]:
        return {f"baseline/{name}": v for name, v in self.offsets_.items()}

    @classmethod
    def from_state(cls, setting, species, arrays: Mapping[str, np.ndarray]
                   ) -> CompositionBaseline:
        out = cls(setting)
        out.species_ = [int(z) for z in species]
        out.offsets_ = {k.removeprefix("baseline/"): v for k, v in arrays.items()
                        if k.startswith("baseline/")}
        return out


def _least_squares(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``lstsq(A, Y)`` column by column over the rows each column has (a DOS is missing
    (NaN) above a structure's computed levels): one solve per pattern of missing rows."""
    finite = np.isfinite(Y)
    if finite.all():
        return np.linalg.lstsq(A, Y, rcond=None)[0]
    out = np.zeros((A.shape[1], Y.shape[1]))
    patterns, which = np.unique(finite, axis=1, return_inverse=True)
    for k, rows in enumerate(patterns.T):
        cols = np.flatnonzero(which.ravel() == k)
        if rows.any():
            out[:, cols] = np.linalg.lstsq(A[rows], Y[np.ix_(rows, cols)], rcond=None)[0]
    return out
