"""What is predicted: :class:`TargetSpec`, its predefined constructors, and
:class:`Dataset` (structures with the labels of some targets)."""

from .dataset import GRADIENT_UNITS, Dataset
from .spec import (
    GRADIENTS,
    KINDS,
    TargetSpec,
    band_energies,
    density_coefficients,
    dipole,
    dos,
    energy,
    excitations,
    gradient_spec,
    orbital_energies,
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
    "band_energies",
    "density_coefficients",
    "dipole",
    "dos",
    "energy",
    "excitations",
    "gradient_spec",
    "orbital_energies",
    "polarizability",
    "read_gradient_labels",
    "read_stress",
    "target_from_options",
    "with_gradients",
]
