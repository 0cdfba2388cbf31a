"""What is predicted: :class:`TargetSpec` and its predefined constructors."""

from .spec import (
    KINDS,
    TargetSpec,
    band_energies,
    density_coefficients,
    dipole,
    dos,
    energy,
    excitations,
    labelled,
    orbital_energies,
    polarizability,
    read_gradient_labels,
    target_from_options,
    with_gradients,
)

__all__ = [
    "KINDS",
    "TargetSpec",
    "band_energies",
    "density_coefficients",
    "dipole",
    "dos",
    "energy",
    "excitations",
    "labelled",
    "orbital_energies",
    "polarizability",
    "read_gradient_labels",
    "target_from_options",
    "with_gradients",
]
