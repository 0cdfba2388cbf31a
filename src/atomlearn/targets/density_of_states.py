"""The electronic density of states as a target: labels built from eigenvalues.

A structure's DOS on an energy grid is

.. math:: g(E) = s \\sum_k w_k \\sum_n \\frac{1}{\\sqrt{2\\pi}\\sigma}
          e^{-(E - \\epsilon_{nk} + E_{ref})^2/2\\sigma^2}

with spin factor s (2: each level holds two electrons), k-point weights w_k summing to
one (one k-point for molecules and Gamma-point cells), Gaussian smearing sigma and the
structure's energy reference E_ref. Per structure it is a sum of atomic contributions (the
families learn it as an extensive spectrum); ``normalization: atom`` divides it by the
number of atoms. Eigenvalues are read from ``orbital_energies`` (eV, one list per
structure, an info array) or ``band_energies`` (eV, ``n_kpoints x n_bands``, flattened in
the info with ``n_kpoints``; ``kpoint_weights`` optional), the electron count from
``n_electrons`` (or ``2 n_occ``), or with ``electrons: valence`` from a table of valence
electrons per element.

Energy references (``reference``):

* ``absolute``: eigenvalues as they are (a periodic cell's have no fixed zero);
* ``fermi``: shifted to each structure's Fermi level (``fermi_level`` in the info, else the
  chemical potential of the eigenvalues at 300 K for the electron count);
* ``vbm``: shifted to the highest occupied level;
* ``learned``: shifts optimised with the model (How et al. 2024): starting from ``fermi``,
  each training structure's shift is re-chosen to align its DOS with the DOS predicted
  for it by models fitted to the other structures (``alignment_folds`` folds), for
  ``alignment_iterations - 1`` rounds, before the final fit.

Every reference but ``absolute`` comes with a companion target ``<name>_reference``: the
reference level in eV (an intensive scalar), which the model learns too, so a new
structure's DOS is placed on the absolute scale (its Fermi level, for example).

States below the grid (core levels of a molecule) are left out of the target and counted
(``states_below``); the grid must not cut a level's Gaussian at its lower edge. Where a
structure's computed levels end below the top of the grid, the grid points above its
highest level (less 3 sigma) are missing labels (NaN), never zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ase
import ase.data
import numpy as np

from ..errors import ConfigError, DataError, check_choice
from ..options import parse
from ..structures.io import where
from .energy_grid import EnergyGrid

REFERENCES = ("absolute", "fermi", "vbm", "learned")
NORMALIZATIONS = ("structure", "atom")
ELECTRON_SOURCES = ("info", "valence")
#: Edge margin in smearing widths: a level this close to the grid's ends is cut.
EDGE = 3.0
#: Temperature (K) of the Fermi level of eigenvalues without ``fermi_level`` in the info.
LABEL_TEMPERATURE = 300.0


@dataclass
class DOSOptions(EnergyGrid):
    """A ``dos`` target's options (YAML ``targets: {dos: {...}}``).

    Attributes
    ----------
    e_min, e_max : float
        Energy grid range in eV, relative to the reference.
    spacing : float
        Grid spacing in eV.
    smearing : float
        Gaussian width sigma in eV (at least the spacing).
    reference : {"absolute", "fermi", "vbm", "learned"}
    normalization : {"structure", "atom"}
        States/eV per structure (extensive) or per atom.
    spin : float
        Electrons per level (2 without spin polarisation).
    alignment_iterations : int
        Rounds of the ``learned`` reference, counting the final fit (1: no alignment).
    alignment_folds : int
        Folds of the cross-fitted predictions each alignment round aligns to.
    electrons : {"info", "valence"}
        Where a structure's electron count comes from: ``n_electrons`` (or ``2 n_occ``) in
        its info, or the valence electrons of its elements (:func:`valence_electrons`, for
        eigenvalues of valence electrons only, as pseudopotential codes and xTB give them),
        less its ``charge``.
    """

    e_min: float = -12.0
    e_max: float = 5.0
    spacing: float = 0.05
    smearing: float = 0.2
    reference: str = "fermi"
    normalization: str = "structure"
    spin: float = 2.0
    alignment_iterations: int = 3
    alignment_folds: int = 4
    electrons: str = "info"

    def check(self) -> None:
        check_choice(self.reference, REFERENCES, "DOS energy reference")
        check_choice(self.normalization, NORMALIZATIONS, "DOS normalization")
        check_choice(self.electrons, ELECTRON_SOURCES, "DOS electron count")
        self.check_grid(self.smearing, "DOS smearing")
        if not self.spin > 0:
            raise ConfigError(f"The DOS 'spin' (electrons per level) must be positive; got "
                              f"{self.spin}.")
        if self.alignment_iterations < 1:
            raise ConfigError("'alignment_iterations' must be at least 1; got "
                              f"{self.alignment_iterations}.")
        if self.alignment_folds < 2:
            raise ConfigError("'alignment_folds' must be at least 2; got "
                              f"{self.alignment_folds}.")



def dos_options(spec) -> DOSOptions:
    """The options of a DOS target spec."""
    return parse(DOSOptions, spec.metadata["dos"], f"targets.{spec.name}")


def is_dos(spec) -> bool:
    return spec.metadata.get("builder") == "dos"


# -- eigenvalues ------------------------------------------------------------------------
@dataclass
class Levels:
    """One structure's eigenvalues (eV), k-point weights and electron count."""

    energies: np.ndarray          # (n_k, n_levels)
    weights: np.ndarray           # (n_k,), summing to 1
    n_electrons: float

    @property
    def highest(self) -> float:
        """The highest computed level (the lowest of the k-points' highest levels)."""
        return float(self.energies[:, -1].min())


def read_levels(atoms: ase.Atoms, frame: int, electrons: str = "info") -> Levels:
    """Eigenvalues, k-point weights and electron count of a structure (``electrons``: see
    :class:`DOSOptions`), or a DataError naming what is missing."""
    info = atoms.info
    if "orbital_energies" in info:
        energies = np.atleast_2d(np.asarray(info["orbital_energies"], float))
    elif "band_energies" in info:
        flat = np.asarray(info["band_energies"], float)
        n_k = int(info.get("n_kpoints", 1 if flat.ndim == 1 else len(flat)))
        energies = flat.reshape(n_k, -1)
    else:
        raise DataError(
            f"{where(atoms, frame)} has no eigenvalues: a DOS needs 'orbital_energies' (eV, "
            "one list per structure) or 'band_energies' (eV, n_kpoints x n_bands with "
            "'n_kpoints') in its info.")
    if not np.all(np.isfinite(energies)):
        raise DataError(f"The eigenvalues of {where(atoms, frame)} are not all finite.")
    energies = np.sort(energies, axis=1)
    weights = np.asarray(info.get("kpoint_weights", np.ones(len(energies))), float)
    if weights.shape != (len(energies),) or not np.all(weights > 0):
        raise DataError(f"'kpoint_weights' of {where(atoms, frame)} must be {len(energies)} "
                        f"positive numbers; got {weights.tolist()}.")
    if electrons == "valence":
        n_electrons = valence_count(atoms, frame)
    elif "n_electrons" in info:
        n_electrons = float(info["n_electrons"])
    elif "n_occ" in info:
        n_electrons = 2.0 * float(info["n_occ"])
    else:
        raise DataError(
            f"{where(atoms, frame)} has no electron count: add 'n_electrons' (or 'n_occ') "
            "to its info, or set the DOS option 'electrons: valence' if its eigenvalues are "
            "those of the valence electrons only (pseudopotentials, xTB).")
    return Levels(energies, weights / weights.sum(), n_electrons)


#: (first Z, last Z, electrons in the core below them): noble-gas cores, with the filled
#: d (and f) shells of the p-block and the 5d metals counted in the core.
_CORES = ((1, 2, 0), (3, 10, 2), (11, 18, 10), (19, 30, 18), (31, 36, 28), (37, 48, 36),
          (49, 54, 46), (55, 56, 54), (72, 80, 68), (81, 86, 78), (87, 88, 86))


def valence_count(atoms: ase.Atoms, frame: int) -> float:
    """The valence electrons of a structure's elements less its ``charge`` (info)."""
    try:
        return float(sum(valence_electrons(int(z)) for z in atoms.numbers)
                     - float(atoms.info.get("charge", 0.0)))
    except ValueError as err:
        raise DataError(f"{where(atoms, frame)}: {err}") from err


def valence_electrons(z: int) -> int:
    """Valence electrons of element ``z`` as pseudopotentials usually count them: outside
    the noble-gas core and filled d and f shells (H 1, C 4, O 6, Si 4, Ga 3, Fe 8, Au 11);
    a ValueError for the lanthanides and actinides, whose choice varies."""
    for first, last, core in _CORES:
        if first <= z <= last:
            return z - core
    raise ValueError(f"no valence electron count for element {z} "
                     f"({ase.data.chemical_symbols[z] if 0 < z < 119 else '?'}): the "
                     "lanthanides and actinides vary between pseudopotentials; add "
                     "'n_electrons' to the info instead.")


def reference_level(levels: Levels, atoms: ase.Atoms, reference: str, spin: float) -> float:
    """The absolute energy (eV) the structure's DOS is placed relative to."""
    if reference == "absolute":
        return 0.0
    if reference == "vbm":
        n_occ = int(round(levels.n_electrons / spin))
        return float(levels.energies[:, n_occ - 1].max())
    if "fermi_level" in atoms.info:
        return float(atoms.info["fermi_level"])
    return fermi_level_of_levels(levels, LABEL_TEMPERATURE, spin)


def smeared(levels: Levels, grid: np.ndarray, shift: float, options: DOSOptions,
            n_atoms: int) -> np.ndarray:
    """The smeared DOS of the levels on ``grid`` (relative to ``shift``), NaN above the
    highest computed level less 3 sigma."""
    sigma = options.smearing
    x = (grid[None, None, :] - (levels.energies[:, :, None] - shift)) / sigma
    inside = np.abs(x) < 8.0
    g = np.where(inside, np.exp(-0.5 * np.where(inside, x, 0.0) ** 2), 0.0)
    dos = options.spin * np.einsum("k,knE->E", levels.weights, g) / (np.sqrt(2 * np.pi)
                                                                      * sigma)
    dos[grid > levels.highest - shift - EDGE * sigma] = np.nan
    return dos / n_atoms if options.normalization == "atom" else dos


# -- occupations ----------------------------------------------------------------------
K_B = 8.617333262e-5            # Boltzmann's constant, eV/K


def fermi_dirac(energies: np.ndarray, mu: float, temperature: float) -> np.ndarray:
    r"""Occupation :math:`1/(1 + e^{(E-\mu)/k_BT})` (a step at T = 0), overflow-free."""
    if temperature <= 0:
        return (energies < mu).astype(float) + 0.5 * (energies == mu)
    return 0.5 * (1.0 - np.tanh((energies - mu) / (2.0 * K_B * temperature)))


def chemical_potential(count, n_electrons: float, low: float, high: float) -> float:
    """The mu with ``count(mu) == n_electrons`` for a count increasing in mu (bisection
    to 1e-10 eV; brackets widened as needed)."""
    from scipy.optimize import brentq

    for _ in range(100):
        if count(low) <= n_electrons:
            break
        low -= 10.0
    for _ in range(100):
        if count(high) >= n_electrons:
            break
        high += 10.0
    if not count(low) <= n_electrons <= count(high):
        raise ValueError(f"No chemical potential holds {n_electrons:g} electrons: the "
                         f"levels hold {count(low):g} to {count(high):g}.")
    if count(low) == n_electrons:
        return low
    return float(brentq(lambda mu: count(mu) - n_electrons, low, high, xtol=1e-10))


def fermi_level_of_levels(levels: Levels, temperature: float, spin: float) -> float:
    """Chemical potential of discrete levels for their electron count at ``temperature``
    (the middle of the gap of an insulator at low temperature)."""
    e = levels.energies
    w = levels.weights[:, None]

    def count(mu):
        return spin * float(np.sum(w * fermi_dirac(e, mu, temperature)))

    if temperature <= 0 or levels.n_electrons / spin == int(levels.n_electrons / spin):
        n = int(round(levels.n_electrons / spin))
        if e.shape[0] == 1 and 0 < n < e.shape[1]:
            homo, lumo = e[0, n - 1], e[0, n]
            if temperature <= 0 or lumo - homo > 40 * K_B * temperature:
                return float(0.5 * (homo + lumo))
    return chemical_potential(count, levels.n_electrons, float(e.min()) - 1.0,
                              float(e.max()) + 1.0)


# -- labels -----------------------------------------------------------------------------
def read_dos(spec, structures: Sequence[ase.Atoms], shifts: np.ndarray | None = None
             ) -> np.ndarray:
    """DOS labels of ``structures`` on the spec's grid, ``(n_structures, n_grid)``, NaN
    where a structure has no computed levels; ``shifts`` replaces the references."""
    options = dos_options(spec)
    grid = options.grid
    out = np.empty((len(structures), len(grid)))
    for i, atoms in enumerate(structures):
        levels = read_levels(atoms, i, options.electrons)
        ref = (reference_level(levels, atoms, options.reference, options.spin)
               if shifts is None else float(shifts[i]))
        _check_grid(levels, ref, options, atoms, i)
        out[i] = smeared(levels, grid, ref, options, len(atoms))
    return out


def read_references(spec, structures: Sequence[ase.Atoms]) -> np.ndarray:
    """The reference levels (eV) of a ``<dos>_reference`` companion target."""
    options = dos_options(spec)
    return np.array([reference_level(read_levels(a, i, options.electrons), a,
                                     options.reference, options.spin)
                     for i, a in enumerate(structures)])


def states_below(spec, structures: Sequence[ase.Atoms]) -> int:
    """Levels below the grid (left out of the target) per structure: the same for all,
    or a DataError."""
    options = dos_options(spec)
    counts = set()
    for i, atoms in enumerate(structures):
        levels = read_levels(atoms, i, options.electrons)
        ref = reference_level(levels, atoms, options.reference, options.spin)
        counts.add(int(np.sum(levels.energies[0] - ref < options.e_min)))
    if len(counts) > 1:
        raise DataError(f"The structures have different numbers of levels below the DOS "
                        f"grid ({sorted(counts)}); lower 'e_min' so that the grid holds "
                        "every level that varies.")
    return counts.pop()


def electron_counts(spec, structures: Sequence[ase.Atoms]) -> dict:
    """What a DOS model keeps of its training structures' electrons, to place the Fermi
    level of structures without ``n_electrons``: the valence count of each element (least
    squares on the composition) and the levels below the grid."""
    species = sorted({int(z) for a in structures for z in a.numbers})
    counts = np.array([[np.sum(a.numbers == z) for z in species] for a in structures], float)
    n = np.array([read_levels(a, i, dos_options(spec).electrons).n_electrons
                  for i, a in enumerate(structures)])
    valence = np.linalg.lstsq(counts, n, rcond=None)[0]
    return {"valence": {str(z): float(np.round(v, 6)) for z, v in zip(species, valence,
                                                                      strict=True)},
            "states_below": states_below(spec, structures)}


def _check_grid(levels: Levels, ref: float, options: DOSOptions, atoms, frame: int) -> None:
    rel = levels.energies - ref
    cut = rel[(rel > options.e_min - EDGE * options.smearing)
              & (rel < options.e_min + EDGE * options.smearing)]
    if len(cut):
        raise DataError(
            f"The DOS grid starts at {options.e_min} eV, {float(cut.min() - options.e_min):+.3g}"
            f" eV from a level of {where(atoms, frame)} (relative to its reference): the "
            f"grid must start {EDGE:g} smearing widths ({EDGE * options.smearing:.3g} eV) "
            "below every level it holds. Lower 'e_min' (or raise it above the level).")
    n_levels = levels.energies.shape[1]
    if levels.n_electrons / options.spin > n_levels + 1e-9:
        raise DataError(
            f"{where(atoms, frame)} has {levels.n_electrons:g} electrons but only {n_levels} "
            f"computed levels ({n_levels * options.spin:g} electrons); check 'n_electrons' "
            "and the eigenvalues.")


# -- the learned reference --------------------------------------------------------------
def aligned_shifts(spec, structures: Sequence[ase.Atoms], predicted: np.ndarray,
                   shifts: np.ndarray, window: float = 1.0, keep_mean: bool = True
                   ) -> np.ndarray:
    """Each structure's reference re-chosen within ``window`` eV to best match its DOS
    labels to ``predicted`` (squared error over the grid points it has), then, with
    ``keep_mean``, moved together so that their mean stays where it was (in training the
    shifts have one free constant; without it, the optimal shift of each structure)."""
    options = dos_options(spec)
    grid = options.grid
    trial = np.linspace(-window, window, int(round(2 * window / options.spacing)) + 1)
    new = np.empty(len(structures))
    for i, atoms in enumerate(structures):
        levels = read_levels(atoms, i, options.electrons)
        errors = []
        for t in trial:
            dos = smeared(levels, grid, shifts[i] + t, options, len(atoms))
            ok = np.isfinite(dos)
            errors.append(np.mean((dos[ok] - predicted[i, ok]) ** 2))
        k = int(np.argmin(errors))
        # a parabola through the best trial and its neighbours: sub-grid precision
        if 0 < k < len(trial) - 1:
            a, b, c = errors[k - 1], errors[k], errors[k + 1]
            denom = a - 2 * b + c
            step = 0.5 * (a - c) / denom if denom > 0 else 0.0
            new[i] = shifts[i] + trial[k] + step * (trial[1] - trial[0])
        else:
            new[i] = shifts[i] + trial[k]
    return new - (new.mean() - shifts.mean()) if keep_mean else new


__all__ = ["DOSOptions", "Levels", "REFERENCES", "aligned_shifts", "dos_options",
           "electron_counts", "is_dos",
           "read_dos", "read_levels", "read_references", "reference_level",
           "smeared", "states_below", "valence_count", "valence_electrons"]
