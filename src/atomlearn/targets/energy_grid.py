"""The energy grid of a spectrum target (a DOS, an absorption spectrum): its options and
the checks every such grid needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass
class EnergyGrid:
    """Grid points from ``e_min`` to ``e_max`` (eV), ``spacing`` apart."""

    e_min: float
    e_max: float
    spacing: float

    def check_grid(self, width: float, width_name: str) -> None:
        """Refuse a grid that is empty or too coarse for lines of ``width`` (eV; named
        ``width_name`` in the messages, e.g. "DOS smearing")."""
        if not self.spacing > 0 or not width > 0:
            raise ConfigError(f"The grid spacing and the {width_name} must be positive; got "
                              f"{self.spacing} and {width} eV.")
        if width < self.spacing:
            raise ConfigError(
                f"The {width_name} ({width} eV) is smaller than the grid spacing "
                f"({self.spacing} eV): lines would fall between grid points. Use a spacing "
                f"of at most {width / 2:g} eV or a wider {width_name.split()[-1]}.")
        if not self.e_max - self.e_min >= 2 * self.spacing:
            raise ConfigError(f"The energy grid needs e_max > e_min; got [{self.e_min}, "
                              f"{self.e_max}] eV.")

    @property
    def grid(self) -> np.ndarray:
        """The energies (eV) of the grid points."""
        n = int(round((self.e_max - self.e_min) / self.spacing)) + 1
        return self.e_min + self.spacing * np.arange(n)
