"""What is predicted: :class:`TargetSpec`, its predefined constructors, and
:class:`Dataset` (structures with the labels of some targets)."""

from .dataset import GRADIENT_UNITS, Dataset
from .spec import (
    GRADIENTS,
    KINDS,
    TargetSpec,
    absorption,
    band_energies,
    density_coefficients,
    dipole,
    dos,
    energy,
    excitation_energies,
    gradient_spec,
    orbital_energies,
    oscillator_strengths,
    polarizability,
    read_gradient_labels,
    read_stress,
    target_from_options,
    with_gradients,
)

__all__ = [
    "GRADIENTS",
    "GRADIENT_UNITS",
    "KINDS",
    "Dataset",
    "TargetSpec",
    "absorption",
    "band_energies",
    "density_coefficients",
    "dipole",
    "dos",
    "energy",
    "excitation_energies",
    "gradient_spec",
    "orbital_energies",
    "oscillator_strengths",
    "polarizability",
    "read_gradient_labels",
    "read_stress",
    "target_from_options",
    "with_gradients",
]
