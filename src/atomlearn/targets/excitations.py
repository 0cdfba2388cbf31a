"""Electronic excitations as targets: excitation energies, oscillator strengths and the
broadened absorption spectrum built from them.

Labels are read from the info arrays ``excitation_energies`` (eV, ascending) and
``oscillator_strengths`` (dimensionless, length gauge) of each structure (or
``REF_<name>``), the lowest ``n_states`` of each. The absorption spectrum on an energy
grid is

.. math:: \\sigma(E) = \\sum_{i \\le n_{states}} f_i\\, g(E - E_i)

with a line shape g of unit area (``gaussian`` with standard deviation ``width``, or
``lorentzian`` with half width at half maximum ``width``), so that it integrates to the sum
of the oscillator strengths (less a Lorentzian's tails beyond the grid).

Delta-learning (``baseline: orbital_differences``): the excitation energies are learned as
corrections to the lowest differences :math:`\\varepsilon_a - \\varepsilon_i` between
virtual and occupied Kohn-Sham orbital energies, read from the info array ``levels``
(``orbital_energies`` from a ground-state calculation, or ``pred_orbital_energies``
written by ``atomlearn predict`` with an orbital-energy model). Sorted differences are
matched to sorted states, so the baseline follows the states' crossings
(:mod:`atomlearn.targets.levels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ase
import numpy as np

from ..errors import ConfigError, DataError, check_choice
from ..options import parse
from ..structures.io import where
from .energy_grid import EnergyGrid

LINES = ("gaussian", "lorentzian")
#: Baselines of Delta-learned excitation energies.
BASELINES = ("none", "orbital_differences")
#: How a model orders the states: as the labels (ascending energy, state by state), or
#: in an order of its own, sorted by its predicted energies for the loss and the output.
ORDERS = ("sorted", "learned")
#: How far (in line widths) an excitation must lie inside the spectrum's grid.
EDGE = 3.0


@dataclass
class AbsorptionOptions(EnergyGrid):
    """An ``absorption`` target's options (YAML ``targets: {absorption: {...}}``).

    Attributes
    ----------
    e_min, e_max, spacing : float
        Energy grid (eV).
    width : float
        Line width (eV): Gaussian standard deviation or Lorentzian half width.
    line : {"gaussian", "lorentzian"}
    n_states : int
        Excitations summed (the lowest ones).
    """

    e_min: float = 4.0
    e_max: float = 14.0
    spacing: float = 0.02
    width: float = 0.25
    line: str = "gaussian"
    n_states: int = 10

    def check(self) -> None:
        check_choice(self.line, LINES, "absorption line shape")
        self.check_grid(self.width, "line width")
        check_states(self.n_states)


def check_states(n_states: int) -> None:
    if n_states < 1:
        raise ConfigError(f"'n_states' must be at least 1; got {n_states}.")


def sorted_by(spec, specs) -> str | None:
    """The target whose values order the states of ``spec`` (``order: learned``: the
    excitation energies among ``specs``), or None."""
    if spec.metadata.get("order", "sorted") != "learned":
        return None
    energies = [s for s in specs if s.metadata.get("builder") == "states"
                and s.unit == "eV" and s.metadata.get("order") == "learned"]
    if not energies or energies[0].shape != spec.shape:
        raise ConfigError(
            f"Target {spec.name!r} has 'order: learned', which sorts its states by the "
            "model's excitation energies: add the target 'excitation_energies' with "
            f"'order: learned' and the same n_states ({spec.shape[0]}).")
    return energies[0].name


def absorption_options(spec) -> AbsorptionOptions:
    """The options of an absorption target spec."""
    return parse(AbsorptionOptions, spec.metadata["absorption"], f"targets.{spec.name}")


def read_states(structures: Sequence[ase.Atoms], name: str, n_states: int) -> np.ndarray:
    """The lowest ``n_states`` values of the info array ``name`` (or ``REF_<name>``) of
    every structure, ``(n_structures, n_states)``, or a DataError naming the frame."""
    out = np.empty((len(structures), n_states))
    for i, atoms in enumerate(structures):
        key = f"REF_{name}" if f"REF_{name}" in atoms.info else name
        if key not in atoms.info:
            raise DataError(f"{where(atoms, i)} has no {name!r} in its info (an array of the "
                            "lowest excitations, one value per state).")
        values = np.atleast_1d(np.asarray(atoms.info[key], float))
        if len(values) < n_states:
            raise DataError(
                f"{where(atoms, i)} has {len(values)} {name.replace('_', ' ')}, fewer than "
                f"the {n_states} states the target expects; lower 'n_states' or leave the "
                "frame out.")
        values = values[:n_states]
        if not np.all(np.isfinite(values)):
            raise DataError(f"The {name.replace('_', ' ')} of {where(atoms, i)} are not all "
                            "finite.")
        if name == "oscillator_strengths" and np.any(values < 0):
            raise DataError(f"{where(atoms, i)} has negative oscillator strengths "
                            f"({values.min():.3g}); they are |transition dipole|^2 x energy "
                            "and cannot be negative.")
        out[i] = values
    return out


def line_shape(x: np.ndarray, width: float, line: str) -> np.ndarray:
    """A line of unit area at offsets ``x`` (eV)."""
    if line == "gaussian":
        return np.exp(-0.5 * (x / width) ** 2) / (np.sqrt(2 * np.pi) * width)
    return width / np.pi / (x**2 + width**2)


def broadened(energies: np.ndarray, strengths: np.ndarray, options: AbsorptionOptions
              ) -> np.ndarray:
    """Absorption spectra ``(n, n_grid)`` of excitations ``(n, n_states)``."""
    x = options.grid[None, None, :] - energies[:, :, None]
    return np.einsum("ns,nsE->nE", strengths, line_shape(x, options.width, options.line))


def read_absorption(spec, structures: Sequence[ase.Atoms]) -> np.ndarray:
    """Absorption spectrum labels of ``structures`` on the spec's grid."""
    options = absorption_options(spec)
    energies = read_states(structures, "excitation_energies", options.n_states)
    strengths = read_states(structures, "oscillator_strengths", options.n_states)
    margin = EDGE * options.width
    for i, e in enumerate(energies):
        low, high = e.min() - (options.e_min + margin), (options.e_max - margin) - e.max()
        if low < 0 or high < 0:
            by, side = (-low, "below") if low < 0 else (-high, "above")
            raise DataError(
                f"The absorption grid [{options.e_min}, {options.e_max}] eV misses an "
                f"excitation of {where(structures[i], i)} {by:.3g} eV {side} its "
                f"{EDGE:g}-width margin ({margin:.3g} eV); widen 'e_min'/'e_max' or lower "
                "'n_states'.")
    return broadened(energies, strengths, options)


__all__ = ["AbsorptionOptions", "BASELINES", "LINES", "ORDERS", "absorption_options", "broadened",
           "line_shape", "read_absorption", "read_states", "sorted_by"]
