"""Units: atomlearn works in eV, Å, e·Å and Å³ inside; conversion happens only at I/O."""

from __future__ import annotations

import numpy as np
from ase import units as _u

from ..errors import ConfigError, closest

#: Size of each unit in atomlearn's internal units (eV, Å, e, fs), grouped by dimension.
UNITS: dict[str, tuple[str, float]] = {
    # energy
    "eV": ("energy", 1.0),
    "meV": ("energy", 1e-3),
    "Hartree": ("energy", _u.Hartree),
    "Ha": ("energy", _u.Hartree),
    "kcal/mol": ("energy", _u.kcal / _u.mol),
    "kJ/mol": ("energy", _u.kJ / _u.mol),
    "Ry": ("energy", _u.Rydberg),
    # length
    "Angstrom": ("length", 1.0),
    "Å": ("length", 1.0),
    "Bohr": ("length", _u.Bohr),
    "nm": ("length", 10.0),
    # force
    "eV/Angstrom": ("force", 1.0),
    "eV/Å": ("force", 1.0),
    "meV/Å": ("force", 1e-3),
    "Hartree/Bohr": ("force", _u.Hartree / _u.Bohr),
    "kcal/mol/Angstrom": ("force", _u.kcal / _u.mol),
    # stress
    "eV/Å^3": ("stress", 1.0),
    "GPa": ("stress", _u.GPa),
    # dipole
    "e*Angstrom": ("dipole", 1.0),
    "e·Å": ("dipole", 1.0),
    "e*Bohr": ("dipole", _u.Bohr),
    "Debye": ("dipole", _u.Debye),
    # polarizability
    "Angstrom^3": ("polarizability", 1.0),
    "Å^3": ("polarizability", 1.0),
    "Bohr^3": ("polarizability", _u.Bohr**3),
    # dimensionless
    "": ("dimensionless", 1.0),
}


def convert(value, from_unit: str, to_unit: str):
    """Convert ``value`` from ``from_unit`` to ``to_unit``.

    Parameters
    ----------
    value : float or array_like
        Quantity expressed in ``from_unit``.
    from_unit, to_unit : str
        Names from :data:`UNITS` (for example ``"Hartree"``, ``"eV"``, ``"Debye"``).

    Returns
    -------
    float or numpy.ndarray
        The same quantity in ``to_unit``.

    Raises
    ------
    ConfigError
        For an unknown unit or units of different dimensions.

    Examples
    --------
    >>> round(convert(1.0, "Hartree", "eV"), 4)
    27.2114
    """
    for unit in (from_unit, to_unit):
        if unit not in UNITS:
            raise ConfigError(
                f"Unknown unit {unit!r}; known units are {', '.join(repr(u) for u in UNITS)}."
                f"{closest(unit, UNITS)}"
            )
    (dim_from, size_from), (dim_to, size_to) = UNITS[from_unit], UNITS[to_unit]
    if dim_from != dim_to:
        raise ConfigError(
            f"Cannot convert {from_unit!r} ({dim_from}) to {to_unit!r} ({dim_to})."
        )
    if from_unit == to_unit:
        return value
    return np.asarray(value) * (size_from / size_to) if not np.isscalar(value) else (
        value * size_from / size_to
    )
