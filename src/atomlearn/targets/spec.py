"""Target specifications: the single source for what is read, predicted and written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import ase
import numpy as np

from ..errors import ConfigError, DataError, check_choice
from ..structures import keys as K
from ..structures.io import get_label, has_label, where
from ..structures.keys import KeySpec
from ..structures.units import convert

Kind = Literal["scalar", "vector", "rank2_symmetric", "spectrum", "density_coefficients"]
KINDS = ("scalar", "vector", "rank2_symmetric", "spectrum", "density_coefficients")


@dataclass(frozen=True)
class TargetSpec:
    """What one target is: its name, kind, shape, unit and the derivatives learned with it.

    Parameters
    ----------
    name : str
        Property name (``"energy"``, ``"dipole"``, ...), used for keys and metrics.
    kind : {"scalar", "vector", "rank2_symmetric", "spectrum", "density_coefficients"}
        How the target transforms under rotations, which decides the model head.
    per_atom : bool
        One value per atom (``(n_atoms, *shape)``) instead of per structure.
    unit : str
        Internal unit of the target (eV, e·Å, Å^3, ...).
    shape : tuple of int
        Shape of one value (per structure, or per atom when ``per_atom``).
    gradients : tuple of str
        Derivative observations learned with the target: ``"forces"`` and/or ``"stress"``.
    metadata : dict
        Extra layout information (energy grid of a DOS, basis of density coefficients).
    """

    name: str
    kind: Kind
    per_atom: bool = False
    unit: str = ""
    shape: tuple[int, ...] = ()
    gradients: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_choice(self.kind, KINDS, "target kind")

    def read(
        self,
        structures: Sequence[ase.Atoms],
        keys: KeySpec | None = None,
        *,
        unit: str | None = None,
    ) -> np.ndarray:
        """Read this target's reference values from ``structures``.

        Parameters
        ----------
        structures : sequence of ase.Atoms
            Structures holding the labels.
        keys : KeySpec, optional
            Key lookup rules.
        unit : str, optional
            Unit of the values in the file; converted to :attr:`unit`.

        Returns
        -------
        numpy.ndarray
            Array of shape ``(n_structures, *shape)``, or ``(n_atoms_total, *shape)`` when
            ``per_atom``, in the internal unit.
        """
        rows = [
            get_label(a, self.name, keys, shape=self.shape, per_atom=self.per_atom, frame=i)
            for i, a in enumerate(structures)
        ]
        values = np.concatenate(rows) if self.per_atom else np.stack(rows)
        if self.kind == "rank2_symmetric":
            values = _symmetrised(values, self.name, structures)
        return convert(values, unit, self.unit) if unit else values

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (saved in model files)."""
        return {"name": self.name, "kind": self.kind, "per_atom": self.per_atom,
                "unit": self.unit, "shape": list(self.shape),
                "gradients": list(self.gradients), "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(name=data["name"], kind=data["kind"], per_atom=data["per_atom"],
                   unit=data["unit"], shape=tuple(data["shape"]),
                   gradients=tuple(data["gradients"]), metadata=dict(data["metadata"]))


def _symmetrised(values: np.ndarray, name: str, structures: Sequence[ase.Atoms]) -> np.ndarray:
    import warnings

    asym = np.abs(values - np.swapaxes(values, -1, -2)).max(axis=(-1, -2))
    scale = np.abs(values).max(axis=(-1, -2)) + 1e-300
    worst = int(np.argmax(asym / scale))
    if asym[worst] > 1e-8 * scale[worst]:
        warnings.warn(
            f"Reference {name!r} is not symmetric (largest asymmetry {asym[worst]:.3g} in "
            f"{where(structures[worst], worst)}); using (A + A^T)/2.",
            stacklevel=3,
        )
    return 0.5 * (values + np.swapaxes(values, -1, -2))


def energy(*, forces: bool = True, stress: bool = False, unit: str = "eV") -> TargetSpec:
    """Total energy (eV), optionally learned with forces (eV/Å) and stress (eV/Å^3)."""
    gradients = tuple(g for g, on in (("forces", forces), ("stress", stress)) if on)
    return TargetSpec(K.ENERGY, "scalar", unit=unit, gradients=gradients)


def dipole(unit: str = "e·Å") -> TargetSpec:
    """Dipole moment (e·Å), a vector."""
    return TargetSpec(K.DIPOLE, "vector", unit=unit, shape=(3,))


def polarizability(unit: str = "Å^3") -> TargetSpec:
    """Static polarizability tensor (Å^3), symmetric rank 2."""
    return TargetSpec(K.POLARIZABILITY, "rank2_symmetric", unit=unit, shape=(3, 3))


def orbital_energies(n_orbitals: int, unit: str = "eV") -> TargetSpec:
    """Kohn-Sham orbital energies (eV), sorted, ``n_orbitals`` per structure."""
    return TargetSpec(K.ORBITAL_ENERGIES, "spectrum", unit=unit, shape=(n_orbitals,))


def dos(grid: Sequence[float], unit: str = "1/eV") -> TargetSpec:
    """Density of states on a fixed energy grid (eV), per structure."""
    grid = [float(x) for x in grid]
    return TargetSpec(K.DOS, "spectrum", unit=unit, shape=(len(grid),),
                      metadata={"energy_grid": grid})


def band_energies(n_kpoints: int, n_bands: int, unit: str = "eV") -> TargetSpec:
    """Band energies (eV) at ``n_kpoints`` fixed k-points, ``n_bands`` each."""
    return TargetSpec(K.BAND_ENERGIES, "spectrum", unit=unit, shape=(n_kpoints, n_bands))


def excitations(n_states: int, unit: str = "eV") -> TargetSpec:
    """Lowest ``n_states`` excitation energies (eV) per structure."""
    return TargetSpec(K.EXCITATIONS, "spectrum", unit=unit, shape=(n_states,))


def density_coefficients(basis: Mapping[str, Any]) -> TargetSpec:
    """Coefficients of the electron density in an atom-centred basis, per atom.

    ``basis`` maps each element to its list of angular momenta, e.g.
    ``{"H": [0, 0, 1], "C": [0, 0, 0, 1, 1, 2]}``; the coefficient layout of an atom is
    its functions in that order, ``2 l + 1`` components each (m = -l..l).
    """
    n_max = max(sum(2 * lam + 1 for lam in ls) for ls in basis.values())
    return TargetSpec(K.DENSITY_COEFFICIENTS, "density_coefficients", per_atom=True,
                      unit="", shape=(n_max,), metadata={"basis": dict(basis)})


_FACTORIES = {
    "energy": energy, "dipole": dipole, "polarizability": polarizability,
}


def target_from_options(name: str, options: Mapping[str, Any] | None = None) -> TargetSpec:
    """Build a predefined :class:`TargetSpec` from its name and options."""
    check_choice(name, _FACTORIES, "target")
    try:
        return _FACTORIES[name](**dict(options or {}))
    except TypeError as err:
        raise ConfigError(f"Invalid options for target {name!r}: {err}.") from err


def with_gradients(spec: TargetSpec, gradients: Sequence[str]) -> TargetSpec:
    """Copy of ``spec`` with other derivative observations."""
    return replace(spec, gradients=tuple(gradients))


def read_gradient_labels(
    spec: TargetSpec,
    structures: Sequence[ase.Atoms],
    keys: KeySpec | None = None,
) -> dict[str, np.ndarray]:
    """Read the forces (and stress) that go with an energy target.

    Returns
    -------
    dict
        ``"forces"``: array of shape (n_atoms_total, 3) in eV/Å; ``"stress"``: array of
        shape (n_structures, 3, 3) in eV/Å^3; only the ones named in ``spec.gradients``.
    """
    out: dict[str, np.ndarray] = {}
    if "forces" in spec.gradients:
        out["forces"] = np.concatenate([
            get_label(a, K.FORCES, keys, shape=(3,), per_atom=True, frame=i)
            for i, a in enumerate(structures)
        ])
    if "stress" in spec.gradients:
        out["stress"] = np.stack([_stress(a, keys, i) for i, a in enumerate(structures)])
    return out


def _stress(atoms: ase.Atoms, keys: KeySpec | None, frame: int) -> np.ndarray:
    raw = get_label(atoms, K.STRESS, keys, frame=frame)
    if raw.shape == (6,):
        from ase.stress import voigt_6_to_full_3x3_stress

        return voigt_6_to_full_3x3_stress(raw)
    if raw.shape in ((3, 3), (9,)):
        return raw.reshape(3, 3)
    raise DataError(
        f"Label 'stress' in {where(atoms, frame)} has shape {raw.shape}; expected (6,) "
        "Voigt or (3, 3)."
    )


def labelled(structures: Sequence[ase.Atoms], name: str, keys: KeySpec | None = None) -> list[int]:
    """Indices of the structures that carry the label ``name``."""
    return [i for i, a in enumerate(structures) if has_label(a, name, keys)]
