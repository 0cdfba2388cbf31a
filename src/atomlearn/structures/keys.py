"""Canonical property names and where they live in an extended XYZ file.

Names that face ASE use ASE's spellings; the others are atomlearn's own. Reference labels
are looked up, in order, under the key the user named, under ``REF_<name>``, under
``<name>`` itself and in the results of the frame's ASE calculator. Predictions are
written as ``pred_<name>`` and ``pred_<name>_std``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

ENERGY: Final[str] = "energy"
FORCES: Final[str] = "forces"
STRESS: Final[str] = "stress"
DIPOLE: Final[str] = "dipole"
POLARIZABILITY: Final[str] = "polarizability"
ORBITAL_ENERGIES: Final[str] = "orbital_energies"
HAMILTONIAN: Final[str] = "hamiltonian"
HOMO: Final[str] = "homo"
LUMO: Final[str] = "lumo"
GAP: Final[str] = "gap"
DOS: Final[str] = "dos"
BAND_ENERGIES: Final[str] = "band_energies"
VBM: Final[str] = "vbm"
CBM: Final[str] = "cbm"
EXCITATION_ENERGIES: Final[str] = "excitation_energies"
OSCILLATOR_STRENGTHS: Final[str] = "oscillator_strengths"
ORBITAL_PAIR_STRENGTHS: Final[str] = "orbital_pair_strengths"
ABSORPTION: Final[str] = "absorption"
DENSITY_COEFFICIENTS: Final[str] = "density_coefficients"
DENSITY_ELECTRONS: Final[str] = "density_electrons"


@dataclass(frozen=True)
class KeySpec:
    """Where reference labels are read from and where predictions are written.

    Parameters
    ----------
    ref_prefix : str
        Prefix of reference keys (``REF_energy``).
    pred_prefix : str
        Prefix of prediction keys (``pred_energy``, ``pred_energy_std``).
    overrides : dict of str to str
        Explicit key per property name, e.g. ``{"energy": "dft_energy"}``; searched first.
    """

    ref_prefix: str = "REF_"
    pred_prefix: str = "pred_"
    overrides: dict[str, str] = field(default_factory=dict)

    def candidates(self, name: str) -> list[str]:
        """Keys searched for the reference label ``name``, in order."""
        if name in self.overrides:
            return [self.overrides[name]]
        return [f"{self.ref_prefix}{name}", name]

    def prediction(self, name: str, std: bool = False) -> str:
        """Key of the prediction of ``name`` (``pred_name`` or ``pred_name_std``)."""
        return f"{self.pred_prefix}{name}{'_std' if std else ''}"
