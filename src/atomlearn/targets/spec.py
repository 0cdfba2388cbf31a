"""Target specifications: the single source for what is read, learned, predicted and written.

A target is described by its layout, never by its name: ``(kind, per_atom, shape)``
decides the network head and the GP outputs, ``gradients`` the derivative observations
learned with it, ``extensive`` whether atomic contributions add up or average, ``unit``
what the numbers mean and ``weight`` its share of a network's loss. Any name works:
``targets: {gap: {kind: scalar, unit: eV, extensive: false}}`` in YAML learns the
``gap`` found in the structures' info with every family that supports scalars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import ase
import numpy as np

from ..errors import ConfigError, DataError, check_choice, closest
from ..options import coerce
from ..structures import keys as K
from ..structures.io import get_label, where
from ..structures.keys import KeySpec
from ..structures.units import convert

Kind = Literal["scalar", "vector", "rank2_symmetric", "spectrum", "density_coefficients",
               "operator"]
KINDS = ("scalar", "vector", "rank2_symmetric", "spectrum", "density_coefficients",
         "operator")
#: Derivative observations of a per-structure scalar, with their output layout.
GRADIENTS = ("forces", "stress")
#: The shape every value of a kind has (None: any, given by the spec).
_KIND_SHAPES = {"scalar": (), "vector": (3,), "rank2_symmetric": (3, 3), "spectrum": None,
                "density_coefficients": None, "operator": None}


@dataclass(frozen=True)
class TargetSpec:
    """What one target is: its name, layout, unit and the derivatives learned with it.

    Parameters
    ----------
    name : str
        Property name, used for the label keys (``REF_<name>``, ``<name>``), predictions
        (``pred_<name>``) and metrics.
    kind : {"scalar", "vector", "rank2_symmetric", "spectrum", "density_coefficients", \
"operator"}
        How the target transforms under rotations (scalar and spectrum values are
        invariant, vectors rotate as R v, rank-2 tensors as R A R^T, an operator in an
        atom-centred basis block by block with the Wigner matrices of its shells).
    per_atom : bool
        One value per atom (``(n_atoms, *shape)``) instead of one per structure.
    unit : str
        Internal unit of the values (eV, e·Å, Å^3, ...).
    shape : tuple of int
        Shape of one value; fixed by the kind except for spectra.
    gradients : tuple of {"forces", "stress"}
        Derivative observations learned with a per-structure scalar: forces
        :math:`-\\partial y/\\partial r` (eV/Å for an energy) and stress
        :math:`V^{-1}\\partial y/\\partial\\epsilon`.
    extensive : bool
        A per-structure value is the sum of atomic contributions (energy, a DOS per cell)
        or, if False, their mean (a band gap, a DOS per atom).
    weight : float
        Weight of this target's mean squared error in a network's loss (GP families weigh
        targets by their noise levels instead).
    metadata : dict
        Extra layout information (energy grid of a DOS, basis of density coefficients).
    """

    name: str
    kind: Kind
    per_atom: bool = False
    unit: str = ""
    shape: tuple[int, ...] = ()
    gradients: tuple[str, ...] = ()
    extensive: bool = True
    weight: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_choice(self.kind, KINDS, "target kind")
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        object.__setattr__(self, "gradients", tuple(self.gradients))
        required = _KIND_SHAPES[self.kind]
        if required is not None and self.shape != required:
            raise ConfigError(
                f"Target {self.name!r} of kind {self.kind!r} has shape {required} per "
                f"{'atom' if self.per_atom else 'structure'}; got shape {self.shape}. Remove "
                "'shape' or choose kind 'spectrum' for arrays of other shapes.")
        if self.kind == "operator" and (len(self.shape) != 2 or self.shape[0] != self.shape[1]
                                        or "basis" not in self.metadata):
            raise ConfigError(
                f"Target {self.name!r} of kind 'operator' needs its square 'shape' (basis "
                f"functions per structure, e.g. [72, 72]) and its 'basis' (PySCF's name); "
                f"got shape {self.shape} and basis {self.metadata.get('basis')!r}.")
        if self.kind == "density_coefficients" and (
                len(self.shape) != 1 or "basis" not in self.metadata or self.per_atom):
            raise ConfigError(
                f"Target {self.name!r} of kind 'density_coefficients' needs its 'shape' "
                f"(coefficients per structure, e.g. [335]) and its auxiliary 'basis' "
                f"(PySCF's name), per structure; got shape {self.shape}, basis "
                f"{self.metadata.get('basis')!r}, per_atom {self.per_atom}.")
        if self.kind == "spectrum" and not self.shape:
            raise ConfigError(
                f"Target {self.name!r} of kind 'spectrum' needs its 'shape' (e.g. [72] for "
                "72 orbital energies); use kind 'scalar' for one number.")
        for g in self.gradients:
            check_choice(g, GRADIENTS, f"gradient of target {self.name!r}")
        if self.gradients and (self.kind != "scalar" or self.per_atom):
            raise ConfigError(
                f"Target {self.name!r} asks for {list(self.gradients)}, but forces and stress "
                "are derivatives of a per-structure scalar (an energy); it is "
                f"{self.kind!r}{' per atom' if self.per_atom else ''}.")
        if not (np.isfinite(self.weight) and self.weight >= 0):
            raise ConfigError(f"The 'weight' of target {self.name!r} must be a non-negative "
                              f"number. Got {self.weight!r}.")

    @property
    def layout(self) -> tuple[str, bool]:
        """``(kind, per_atom)``: what decides heads and GP outputs."""
        return (self.kind, self.per_atom)

    def expected_shape(self, n_structures: int, n_atoms: int) -> tuple[int, ...]:
        """Shape of the labels of ``n_structures`` structures with ``n_atoms`` atoms."""
        return ((n_atoms if self.per_atom else n_structures), *self.shape)

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

        Raises
        ------
        DataError
            For a missing label, a label of another shape than the kind declares, or
            non-finite values, naming the file and frame.
        """
        builder = self.metadata.get("builder")
        if builder in ("dos", "dos_reference"):        # labels built from eigenvalues
            from . import density_of_states as d

            return (d.read_dos(self, structures) if builder == "dos"
                    else d.read_references(self, structures))
        if builder in ("states", "absorption"):        # from the lowest excitations
            from . import excitations as x

            return (x.read_states(structures, self.name, self.shape[0])
                    if builder == "states" else x.read_absorption(self, structures))
        what = f"for a {self.kind!r} target{' (per atom)' if self.per_atom else ''}"
        rows = [get_label(a, self.name, keys, shape=self.shape, per_atom=self.per_atom,
                          frame=i, expected=what)
                for i, a in enumerate(structures)]
        values = np.concatenate(rows) if self.per_atom else np.stack(rows)
        if self.kind in ("rank2_symmetric", "operator"):
            values = _symmetrised(values, self.name, structures)
        return convert(values, unit, self.unit) if unit else values

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (saved in model files)."""
        return {"name": self.name, "kind": self.kind, "per_atom": self.per_atom,
                "unit": self.unit, "shape": list(self.shape),
                "gradients": list(self.gradients), "extensive": self.extensive,
                "weight": self.weight, "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(name=data["name"], kind=data["kind"], per_atom=data["per_atom"],
                   unit=data["unit"], shape=tuple(data["shape"]),
                   gradients=tuple(data["gradients"]),
                   extensive=bool(data.get("extensive", True)),
                   weight=float(data.get("weight", 1.0)), metadata=dict(data["metadata"]))


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


# -- predefined targets -------------------------------------------------------------------
def energy(*, forces: bool = True, stress: bool = False, unit: str = "eV",
           weight: float = 1.0) -> TargetSpec:
    """Total energy (eV), optionally learned with forces (eV/Å) and stress (eV/Å^3)."""
    gradients = tuple(g for g, on in (("forces", forces), ("stress", stress)) if on)
    return TargetSpec(K.ENERGY, "scalar", unit=unit, gradients=gradients, weight=weight)


def dipole(unit: str = "e·Å", weight: float = 1.0) -> TargetSpec:
    """Dipole moment (e·Å), a vector."""
    return TargetSpec(K.DIPOLE, "vector", unit=unit, shape=(3,), weight=weight)


def polarizability(unit: str = "Å^3", weight: float = 1.0) -> TargetSpec:
    """Static polarizability tensor (Å^3), symmetric rank 2."""
    return TargetSpec(K.POLARIZABILITY, "rank2_symmetric", unit=unit, shape=(3, 3),
                      weight=weight)


def orbital_energies(n_orbitals: int, unit: str = "eV") -> TargetSpec:
    """Kohn-Sham orbital energies (eV), sorted, ``n_orbitals`` per structure."""
    return TargetSpec(K.ORBITAL_ENERGIES, "spectrum", unit=unit, shape=(n_orbitals,),
                      extensive=False)


def gap(baseline: str = "none", levels: str = K.ORBITAL_ENERGIES, unit: str = "eV",
        weight: float = 1.0) -> TargetSpec:
    """The HOMO-LUMO gap (eV) from the info ``gap``.

    ``baseline="homo"`` learns it as the gap plus the highest occupied level of the info
    array ``levels`` and predicts it less that level (:mod:`atomlearn.targets.levels`):
    with ``levels: pred_orbital_energies`` from a Hamiltonian model, the gap of its HOMO
    and a learned LUMO. Every structure to predict must then carry ``levels``.
    """
    check_choice(baseline, ("none", "homo"), "gap baseline")
    metadata = {} if baseline == "none" else {"baseline": baseline, "levels": levels}
    return TargetSpec(K.GAP, "scalar", unit=unit, extensive=False, weight=weight,
                      metadata=metadata)


def hamiltonian(n_ao: int, basis: str = "def2-svp", unit: str = "eV",
                weight: float = 1.0) -> TargetSpec:
    """The Kohn-Sham matrix (eV) in the atom-centred ``basis`` (PySCF's name and AO order:
    atoms in file order, shells in basis order, p as x, y, z, l >= 2 as m = -l..l),
    ``n_ao`` functions per structure. Models of it also predict the orbital energies,
    HOMO, LUMO and gap of the generalised eigenproblem with the exact overlap
    (:func:`operator_outputs`)."""
    return TargetSpec(K.HAMILTONIAN, "operator", unit=unit, shape=(n_ao, n_ao),
                      extensive=False, weight=weight, metadata={"basis": str(basis)})


def operator_outputs(spec: TargetSpec) -> list[TargetSpec]:
    """What follows from a predicted Hamiltonian: its orbital energies (all, ascending)
    and the HOMO, LUMO and gap, in its unit, and the oscillator strengths of the lowest
    occupied-to-virtual orbital pairs (the baseline of Delta-learned strengths,
    :mod:`atomlearn.targets.levels`)."""
    from .operators import N_PAIRS

    levels = TargetSpec(K.ORBITAL_ENERGIES, "spectrum", unit=spec.unit,
                        shape=(spec.shape[0],), extensive=False)
    pairs = TargetSpec(K.ORBITAL_PAIR_STRENGTHS, "spectrum", unit="", shape=(N_PAIRS,),
                       extensive=False)
    return [levels, *(TargetSpec(name, "scalar", unit=spec.unit, extensive=False)
                      for name in (K.HOMO, K.LUMO, K.GAP)), pairs]


def band_energies(n_kpoints: int, n_bands: int, unit: str = "eV") -> TargetSpec:
    """Band energies (eV) at ``n_kpoints`` fixed k-points, ``n_bands`` each."""
    return TargetSpec(K.BAND_ENERGIES, "spectrum", unit=unit, shape=(n_kpoints, n_bands),
                      extensive=False)


def excitation_energies(n_states: int = 10, weight: float = 1.0, baseline: str = "none",
                        levels: str = K.ORBITAL_ENERGIES, order: str = "sorted"
                        ) -> TargetSpec:
    """The lowest ``n_states`` excitation energies (eV) of each structure, ascending, from
    the info array ``excitation_energies`` (:mod:`atomlearn.targets.excitations`).

    ``baseline="orbital_differences"`` learns them as corrections to the lowest
    occupied-to-virtual differences of the orbital energies in the info array ``levels``
    (Delta-learning), which every structure to predict must then carry.

    ``order="learned"`` (networks) lets the model keep the states in an order of its own,
    smooth through crossings, and sorts them by energy for the loss and the output; the
    ``oscillator_strengths`` with the same option follow that order. With a baseline,
    the model's state k starts from the k-th lowest orbital pair and keeps it (and its
    pair strength) wherever it moves the state.
    """
    from .excitations import BASELINES, check_states

    check_states(n_states)
    check_choice(baseline, BASELINES, "excitation-energy baseline")
    metadata = _state_order({"builder": "states"}, order)
    if baseline != "none":
        metadata.update(baseline=baseline, levels=levels)
    return TargetSpec(K.EXCITATION_ENERGIES, "spectrum", unit="eV", shape=(n_states,),
                      extensive=False, weight=weight, metadata=metadata)


def oscillator_strengths(n_states: int = 10, weight: float = 1.0, order: str = "sorted",
                         baseline: str = "none", levels: str = K.ORBITAL_PAIR_STRENGTHS
                         ) -> TargetSpec:
    """The oscillator strengths (dimensionless, sign-free) of the lowest ``n_states``
    excitations, from the info array ``oscillator_strengths``; ``order="learned"`` follows
    the states of ``excitation_energies(order="learned")``. ``baseline="orbital_pairs"``
    learns them as corrections to a per-state line in the Kohn-Sham orbital-pair
    strengths of the info array ``levels`` (:mod:`atomlearn.targets.levels`); in the
    learned order, state k's line is in the k-th lowest pair's strength."""
    from .excitations import check_states

    check_states(n_states)
    check_choice(baseline, ("none", "orbital_pairs"), "oscillator-strength baseline")
    metadata = _state_order({"builder": "states"}, order)
    if baseline != "none":
        metadata.update(baseline=baseline, levels=levels)
    return TargetSpec(K.OSCILLATOR_STRENGTHS, "spectrum", unit="", shape=(n_states,),
                      extensive=False, weight=weight, metadata=metadata)


def _state_order(metadata: dict, order: str) -> dict:
    from .excitations import ORDERS

    check_choice(order, ORDERS, "state order")
    return {**metadata, "order": order} if order != "sorted" else metadata


def absorption(e_min: float = 4.0, e_max: float = 14.0, spacing: float = 0.02,
               width: float = 0.25, line: str = "gaussian", n_states: int = 10,
               weight: float = 1.0) -> TargetSpec:
    """The absorption spectrum (1/eV) on an energy grid: the lowest ``n_states``
    excitations' oscillator strengths broadened by a line of unit area (see
    :class:`atomlearn.targets.excitations.AbsorptionOptions`)."""
    from dataclasses import asdict

    from .excitations import AbsorptionOptions

    options = AbsorptionOptions(e_min, e_max, spacing, width, line, n_states)
    options.check()
    return TargetSpec(K.ABSORPTION, "spectrum", unit="1/eV", shape=(len(options.grid),),
                      extensive=False, weight=weight,
                      metadata={"builder": "absorption", "absorption": asdict(options)})


def density_coefficients(n_coefficients: int, basis: str = "def2-universal-jkfit",
                         normalize: bool = True, weight: float = 1.0) -> TargetSpec:
    """Coefficients (atomic units) of the electron density in the atom-centred auxiliary
    ``basis`` (PySCF's name and order: atoms in file order, shells in basis order, p as
    x, y, z, l >= 2 as m = -l..l), ``n_coefficients`` per structure, so PySCF can use a
    prediction directly (:mod:`atomlearn.targets.density`). With ``normalize`` every
    prediction's l = 0 coefficients are shifted (the smallest change) so the density
    holds exactly the structure's electrons. Models of it also predict the number of
    electrons and the dipole of the density (:func:`density_outputs`)."""
    return TargetSpec(K.DENSITY_COEFFICIENTS, "density_coefficients", unit="",
                      shape=(int(n_coefficients),), extensive=False, weight=weight,
                      metadata={"basis": str(basis), "normalize": bool(normalize)})


def density_outputs(spec: TargetSpec) -> list[TargetSpec]:
    """What follows from predicted density coefficients: the electrons of the density
    and its dipole moment with the nuclei (e Å)."""
    return [TargetSpec(K.DENSITY_ELECTRONS, "scalar", unit="", extensive=True),
            TargetSpec(K.DIPOLE, "vector", unit="e·Å", shape=(3,))]


def dos(e_min: float = -12.0, e_max: float = 5.0, spacing: float = 0.05,
        smearing: float = 0.2, reference: str = "fermi", normalization: str = "structure",
        spin: float = 2.0, alignment_iterations: int = 3, alignment_folds: int = 4,
        electrons: str = "info", weight: float = 1.0) -> TargetSpec:
    """Electronic density of states (states/eV) on an energy grid, built from eigenvalues
    (see :mod:`atomlearn.targets.density_of_states` for every option)."""
    from dataclasses import asdict

    from .density_of_states import DOSOptions

    options = DOSOptions(e_min, e_max, spacing, smearing, reference, normalization, spin,
                         alignment_iterations, alignment_folds, electrons)
    options.check()
    unit = "states/eV" + ("/atom" if normalization == "atom" else "")
    return TargetSpec(K.DOS, "spectrum", unit=unit, shape=(len(options.grid),),
                      extensive=normalization == "structure", weight=weight,
                      metadata={"builder": "dos", "dos": asdict(options)})


def companions(specs: Sequence[TargetSpec]) -> list[TargetSpec]:
    """The specs with the targets they bring: a DOS with an energy reference other than
    ``absolute`` brings ``<name>_reference``, the reference level (eV) of each structure."""
    out = []
    for spec in specs:
        out.append(spec)
        ref = spec.metadata.get("dos", {}).get("reference")
        name = f"{spec.name}_reference"
        if spec.metadata.get("builder") == "dos" and ref != "absolute" and not any(
                s.name == name for s in specs):
            out.append(TargetSpec(name, "scalar", unit="eV", extensive=False,
                                  weight=spec.weight,
                                  metadata={"builder": "dos_reference",
                                            "dos": dict(spec.metadata["dos"])}))
    return out


_FACTORIES = {"energy": energy, "dipole": dipole, "polarizability": polarizability,
              "dos": dos, "excitation_energies": excitation_energies,
              "oscillator_strengths": oscillator_strengths, "absorption": absorption,
              "hamiltonian": hamiltonian, "density_coefficients": density_coefficients,
              "gap": gap}
#: Options of a target declared by its layout in YAML.
GENERIC_OPTIONS = ("kind", "unit", "shape", "per_atom", "extensive", "weight", "forces",
                   "stress")
#: Their types, and those of the predefined targets' options.
OPTION_TYPES = {"kind": str, "unit": str, "shape": list[int], "per_atom": bool,
                "extensive": bool, "weight": float, "forces": bool, "stress": bool,
                "normalize": bool,
                "e_min": float, "e_max": float, "spacing": float, "smearing": float,
                "reference": str, "normalization": str, "spin": float,
                "alignment_iterations": int, "alignment_folds": int, "electrons": str,
                "n_states": int, "width": float, "line": str, "baseline": str,
                "levels": str, "order": str, "n_ao": int, "basis": str}


def target_from_options(name: str, options: Mapping[str, Any] | None = None) -> TargetSpec:
    """A :class:`TargetSpec` from its name and options (a ``targets`` entry of YAML).

    ``energy``, ``dipole`` and ``polarizability`` have predefined layouts (options:
    ``forces``, ``stress``, ``unit``, ``weight``); any other name is declared by its
    layout, e.g. ``{kind: scalar, unit: eV, extensive: false}`` or
    ``{kind: spectrum, shape: [72], unit: eV}``.
    """
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(
            f"Target {name!r} must be a mapping of its options, e.g. 'targets: {{{name}: "
            f"{{kind: scalar, unit: eV}}}}'. Got {options!r}.")
    options = dict(options or {})
    for key, value in options.items():
        if key in OPTION_TYPES:
            options[key] = coerce(OPTION_TYPES[key], value, f"targets.{name}.{key}")
    if name in _FACTORIES and "kind" not in options:
        factory = _FACTORIES[name]
        import inspect

        valid = list(inspect.signature(factory).parameters)
        unknown = [k for k in options if k not in valid]
        if unknown:
            raise ConfigError(
                f"Unknown option '{unknown[0]}' of target {name!r}; valid options are "
                f"{valid}.{closest(unknown[0], valid)}")
        return factory(**options)
    if "kind" not in options:
        raise ConfigError(
            f"Target {name!r} is not predefined (those are {sorted(_FACTORIES)}); declare "
            f"its layout, e.g. 'targets: {{{name}: {{kind: scalar, unit: eV}}}}', with "
            f"'kind' one of {list(KINDS)}.{closest(name, _FACTORIES)}")
    unknown = [k for k in options if k not in GENERIC_OPTIONS]
    if unknown:
        raise ConfigError(
            f"Unknown option '{unknown[0]}' of target {name!r}; valid options are "
            f"{list(GENERIC_OPTIONS)}.{closest(unknown[0], GENERIC_OPTIONS)}")
    gradients = tuple(g for g in GRADIENTS if options.pop(g, False))
    kind = options.pop("kind")
    shape = options.pop("shape", None)
    if shape is None:
        shape = _KIND_SHAPES.get(kind) or ()
    elif isinstance(shape, int):
        shape = (shape,)
    return TargetSpec(name, kind, shape=tuple(shape), gradients=gradients, **options)


def with_gradients(spec: TargetSpec, gradients: Sequence[str]) -> TargetSpec:
    """Copy of ``spec`` with other derivative observations."""
    return replace(spec, gradients=tuple(gradients))


def gradient_spec(name: str, unit: str = "eV") -> TargetSpec:
    """Layout of a derivative output: forces (per atom, vector) or stress (rank 2)."""
    if name == "forces":
        return TargetSpec("forces", "vector", per_atom=True, unit=f"{unit}/Å", shape=(3,))
    return TargetSpec("stress", "rank2_symmetric", unit=f"{unit}/Å^3", shape=(3, 3))


def read_gradient_labels(
    spec: TargetSpec,
    structures: Sequence[ase.Atoms],
    keys: KeySpec | None = None,
) -> dict[str, np.ndarray]:
    """Read the forces (and stress) that go with a scalar target.

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
        out["stress"] = np.stack([read_stress(a, keys, i) for i, a in enumerate(structures)])
    return out


def read_stress(atoms: ase.Atoms, keys: KeySpec | None, frame: int) -> np.ndarray:
    """The stress label of one structure as a 3x3 array (from Voigt or 3x3)."""
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
