"""Reference data shipped with atomlearn (see ``data/README_*.md`` for provenance).

* :func:`load_ethanol`: 1600 ethanol MD frames, PySCF PBE/def2-SVP labels.
* :func:`load_silicon`: 82 strained, rattled 64-atom silicon cells, GFN1-xTB labels.
* :func:`load_silicon_bands`: 26 strained 2-atom silicon cells, PySCF LDA band energies.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import ase
import numpy as np

from ..structures.io import read_structures

__all__ = ["data_path", "load_ethanol", "load_extra", "load_silicon", "load_silicon_bands"]

_NAMES = ("ethanol", "silicon", "silicon_bands")


def data_path(name: str) -> Path:
    """Path of the shipped extended XYZ file ``name`` (``"ethanol"``, ``"silicon"``, ...)."""
    from ..errors import check_choice

    check_choice(name, _NAMES, "dataset")
    return Path(str(resources.files(__package__).joinpath("data", f"{name}.extxyz")))


def load_extra(name: str) -> dict[str, np.ndarray]:
    """Arrays of the dataset's ``<name>-extra.npz`` (orbital energies, density fits, ...)."""
    path = data_path(name).with_name(f"{name}-extra.npz")
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def _load(name: str, index: str | slice | int) -> list[ase.Atoms]:
    frames = read_structures(data_path(name), index=index)
    for atoms in frames:
        if "polarizability" in atoms.info:
            atoms.info["polarizability"] = np.asarray(atoms.info["polarizability"], float)
    return frames


def load_ethanol(index: str | slice | int = ":") -> list[ase.Atoms]:
    """Ethanol MD frames with DFT labels.

    Energies (eV), forces (eV/Å) and dipoles (e·Å) are in each frame's calculator
    results; the polarizability (Å^3, 3x3), HOMO/LUMO/gap (eV) and MD provenance are in
    ``atoms.info``. Level of theory: PySCF PBE/def2-SVP with density fitting.

    Parameters
    ----------
    index : str, int or slice
        Frames to load (ASE index syntax).

    Returns
    -------
    list of ase.Atoms
    """
    return _load("ethanol", index)


def load_silicon(index: str | slice | int = ":") -> list[ase.Atoms]:
    """Periodic 64-atom silicon cells with GFN1-xTB energy (eV), forces (eV/Å), stress
    (eV/Å^3, ASE sign) in the calculator results and band-gap data in ``atoms.info``."""
    return _load("silicon", index)


def load_silicon_bands(index: str | slice | int = ":") -> list[ase.Atoms]:
    """Strained 2-atom silicon cells with PySCF LDA energies; band energies are in
    ``load_extra("silicon_bands")``."""
    return _load("silicon_bands", index)
