"""Reference data shipped with atomlearn (see ``data/README_*.md`` for provenance).

* :func:`load_ethanol`: 1600 ethanol MD frames, PySCF PBE/def2-SVP labels.
* :func:`load_ethanol_excitations`: the 350 of them with TDA excitation energies and
  oscillator strengths in their info.
* :func:`load_ethanol_hamiltonians`: the 800 of them with their Kohn-Sham matrices
  (def2-SVP, eV) in their info.
* :func:`load_silicon`: 82 strained, rattled 64-atom silicon cells, GFN1-xTB labels.
* :func:`load_silicon_bands`: 65 strained 2-atom silicon cells, PySCF LDA band energies
  (``kpoints``: the 27 fractional mesh k-points; ``hamiltonian_k``: the Kohn-Sham matrices
  there, eV, real and imaginary parts last; 13 cells also carry ``path_kpoints`` and
  ``path_band_energies`` along L-G-X-W-K-G).

Each frame carries its eigenvalues (eV) in ``atoms.info``: ``orbital_energies`` (ethanol's
72 Kohn-Sham levels, silicon's 576 Gamma-point levels) or ``band_energies`` (silicon_bands:
27 k-points x 8 bands, flattened, with ``n_kpoints``), and ``n_electrons``, so targets built
from eigenvalues (a DOS) read them from the structures, as they would from a file.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import ase
import numpy as np

from ..structures.io import read_structures

__all__ = ["data_path", "load_ethanol", "load_ethanol_excitations",
           "load_ethanol_densities", "load_ethanol_hamiltonians", "load_extra",
           "load_silicon", "load_silicon_bands"]

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
    _add_levels(name, frames, index)
    return frames


def _rows(index: str | slice | int, n: int) -> np.ndarray:
    """Rows of the dataset's ``n`` frames that ``index`` selects (ASE index syntax)."""
    rows = np.arange(n)
    if isinstance(index, str):
        if ":" not in index:
            return rows[[int(index)]]
        parts = [int(p) if p else None for p in index.split(":")]
        return rows[slice(*parts)]
    return rows[index] if isinstance(index, slice) else rows[[index]]


def _add_levels(name: str, frames: list[ase.Atoms], index) -> None:
    """Put each frame's eigenvalues (eV) and electron count in its info, where targets
    built from them (a DOS, orbital energies, band energies) read them."""
    from ase.units import Hartree

    extra = load_extra(name)
    key = {"ethanol": "mo_energies", "silicon": "orbital_energies_gamma"}.get(
        name, "band_energies")
    rows = _rows(index, len(extra[key]))
    for atoms, row in zip(frames, rows, strict=True):
        info = atoms.info
        if name == "ethanol":
            info["orbital_energies"] = extra["mo_energies"][row]
            info["n_electrons"] = 2 * int(extra["n_occ"][row])
        elif name == "silicon":
            info["orbital_energies"] = extra["orbital_energies_gamma"][row]
        else:
            info["band_energies"] = extra["band_energies"][row].reshape(-1)
            info["n_kpoints"] = extra["band_energies"].shape[1]
            info["kpoints"] = extra["kpts_frac"].reshape(-1)
            info["n_electrons"] = 2 * int(info["n_occ"])
            # Kohn-Sham matrices (eV), real and imaginary parts last: extended XYZ has
            # no complex arrays
            H = extra["fock_k"][row] * Hartree
            info["hamiltonian_k"] = np.stack([H.real, H.imag], axis=-1).reshape(-1)
            path = np.flatnonzero(extra["path_frames"] == row)
            if len(path):
                info["path_kpoints"] = extra["path_kpts_frac"].reshape(-1)
                info["path_band_energies"] = extra["path_band_energies"][path[0]].reshape(-1)


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


def load_ethanol_excitations(index: str | slice | int = ":") -> list[ase.Atoms]:
    """The 350 ethanol frames with TDA excitations (``index`` selects among them): each
    carries the 10 lowest singlet ``excitation_energies`` (eV) and their
    ``oscillator_strengths`` in its info (PySCF TDA on the PBE/def2-SVP ground state,
    length gauge), and the 10 lowest ``orbital_pair_strengths`` of its Kohn-Sham orbitals
    (from its shipped Kohn-Sham matrix; :mod:`atomlearn.targets.levels`), beside
    everything :func:`load_ethanol` gives."""
    extra = load_extra("ethanol")
    frames = _load("ethanol", ":")
    pairs = _orbital_pair_strengths()
    out = []
    for k in _rows(index, len(extra["tda_frames"])):
        atoms = frames[int(extra["tda_frames"][k])]
        atoms.info["excitation_energies"] = extra["exc_energies"][k]
        atoms.info["oscillator_strengths"] = extra["osc_strengths"][k]
        atoms.info["orbital_pair_strengths"] = pairs[k]
        out.append(atoms)
    return out


@lru_cache(maxsize=1)
def _orbital_pair_strengths() -> np.ndarray:
    """The 10 lowest Kohn-Sham orbital-pair oscillator strengths of every TDA frame, from
    its shipped Kohn-Sham matrix (every TDA frame has one)."""
    from .. import threads
    from ..targets.levels import orbital_pair_strengths

    tda = load_extra("ethanol")["tda_frames"]
    frames = {int(a.info["md_frame"]): a for a in load_ethanol_hamiltonians(":")}
    with threads.single_thread():
        table = np.array([orbital_pair_strengths(frames[int(t)], frames[int(t)].info[
            "hamiltonian"], "def2-svp") for t in tda])
    table.setflags(write=False)
    return table


def load_ethanol_hamiltonians(index: str | slice | int = ":") -> list[ase.Atoms]:
    """The 800 ethanol frames (every second one) with their converged Kohn-Sham matrix:
    ``hamiltonian`` in the info, (72, 72) in eV, def2-SVP in PySCF's AO order (same SCF
    settings as the labels; ``index`` selects among them), beside everything
    :func:`load_ethanol` gives."""
    from ase.units import Hartree

    path = data_path("ethanol").with_name("ethanol-fock.npz")
    with np.load(path, allow_pickle=False) as npz:
        frames, upper, n_ao = npz["frames"], npz["fock_upper"], int(npz["n_ao"])
    all_frames = _load("ethanol", ":")
    iu = np.triu_indices(n_ao)
    out = []
    for k in _rows(index, len(frames)):
        H = np.zeros((n_ao, n_ao))
        H[iu] = upper[k] * Hartree
        atoms = all_frames[int(frames[k])]
        atoms.info["hamiltonian"] = H + np.triu(H, 1).T
        out.append(atoms)
    return out


def load_ethanol_densities(index: str | slice | int = ":") -> list[ase.Atoms]:
    """The ethanol frames with the coefficients of their PBE density fitted in
    def2-universal-jkfit (Coulomb metric): ``density_coefficients`` in the info, (335,) in
    atomic units, PySCF's order (see :mod:`atomlearn.targets.density`), beside everything
    :func:`load_ethanol` gives."""
    frames = _load("ethanol", index)
    extra = load_extra("ethanol")
    for atoms, row in zip(frames, _rows(index, len(extra["density_coeffs"])), strict=True):
        atoms.info["density_coefficients"] = extra["density_coeffs"][row]
    return frames


def load_silicon(index: str | slice | int = ":") -> list[ase.Atoms]:
    """Periodic 64-atom silicon cells with GFN1-xTB energy (eV), forces (eV/Å), stress
    (eV/Å^3, ASE sign) in the calculator results and band-gap data in ``atoms.info``."""
    return _load("silicon", index)


def load_silicon_bands(index: str | slice | int = ":") -> list[ase.Atoms]:
    """Strained 2-atom silicon cells with PySCF LDA energies; band energies are in
    ``load_extra("silicon_bands")``."""
    return _load("silicon_bands", index)
