"""Operators of crystals in a Bloch basis of atom-centred orbitals: from a k-point mesh to
lattice vectors and back to any k (Wigner-Seitz interpolation), the exact overlap and core
Hamiltonian from PySCF, and the rotation of s and p blocks (Löwdin orthogonalisation is
:func:`~atomlearn.targets.operators.hermitian_power`, shared with molecules).

Convention (PySCF's): the Bloch sum of an orbital of the home cell carries no phase of the
atom's position, so an operator at the fractional k-point ``k`` is
:math:`A(k) = \\sum_T e^{2\\pi i k\\cdot n_T} A(T)` with
:math:`A(T)_{\\mu\\nu} = \\langle\\phi_\\mu(r)|A|\\phi_\\nu(r - T)\\rangle` and ``n_T`` the
integer coordinates of the lattice vector ``T``.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import ase
import numpy as np
from ase.units import Hartree

from ..errors import ConfigError, DataError


@dataclass(frozen=True)
class Orbitals:
    """Which atom and which angular momentum each atomic orbital of a cell has."""

    atom: np.ndarray        # (n_ao,) atom index
    ell: np.ndarray         # (n_ao,) angular momentum

    @property
    def size(self) -> int:
        return len(self.atom)


def pyscf_cell(atoms: ase.Atoms, basis: str, pseudo: str | None):
    """The PySCF cell of a periodic structure (positions and cell in Å)."""
    from pyscf.pbc import gto

    cell = gto.Cell()
    cell.atom = [(s, p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions,
                                        strict=True)]
    cell.a = atoms.cell.array
    cell.unit = "A"
    cell.basis, cell.pseudo, cell.verbose = basis, pseudo, 0
    try:
        with warnings.catch_warnings():    # PySCF's advice for an unknown basis name
            warnings.filterwarnings("ignore", message="Basis may be available")
            cell.build()
    except (KeyError, RuntimeError, ValueError) as err:
        raise ConfigError(f"PySCF cannot build the cell with basis {basis!r} and pseudo "
                          f"{pseudo!r}: {err}. Name a basis and pseudopotential PySCF "
                          "knows for these elements (e.g. 'gth-szv', 'gth-pade').") from None
    return cell


def orbitals(cell) -> Orbitals:
    """Atom and angular momentum of each (spherical) atomic orbital, in PySCF's order."""
    atom, ell = [], []
    for b in range(cell.nbas):
        n = (2 * cell.bas_angular(b) + 1) * cell.bas_nctr(b)
        atom += [cell.bas_atom(b)] * n
        ell += [cell.bas_angular(b)] * n
    return Orbitals(np.array(atom), np.array(ell))


def one_electron(cell, kpoints: np.ndarray, *, core: bool = True):
    """Exact overlap ``S(k)`` and, with ``core``, core Hamiltonian (kinetic energy and
    pseudopotential, eV) at fractional ``kpoints``: ``(n_k, n_ao, n_ao)`` each."""
    from pyscf.pbc import df

    from ..threads import single_thread

    kpts = cell.get_abs_kpts(np.asarray(kpoints, float).reshape(-1, 3))
    shape = (len(kpts), cell.nao, cell.nao)
    with single_thread():
        S = np.asarray(cell.pbc_intor("int1e_ovlp", hermi=1, kpts=kpts)).reshape(shape)
        if not core:
            return S, None
        # the pseudopotential analytically (GDF) on a whole mesh, on the FFT grid elsewhere:
        # they agree to 1e-8 Ha; GDF takes 0.7 s on the 3x3x3 mesh and 10 s on 20 path
        # points, the grid 2.0 s and 1.5 s (2-atom silicon)
        method = df.GDF if _is_mesh(kpoints) else df.FFTDF
        h = (np.asarray(cell.pbc_intor("int1e_kin", hermi=1, kpts=kpts)).reshape(shape)
             + np.asarray(method(cell, kpts).get_pp(kpts)).reshape(shape))
    return S, h * Hartree


def mesh_size(kpoints: np.ndarray) -> tuple[int, int, int]:
    """``(n1, n2, n3)`` of a Gamma-centred Monkhorst-Pack mesh of fractional k-points,
    refused unless the points are that whole mesh."""
    k = np.asarray(kpoints, float).reshape(-1, 3)
    frac = np.mod(np.round(k, 10), 1.0)
    n = tuple(len(np.unique(np.round(frac[:, i], 8))) for i in range(3))
    grid = np.round(frac * np.array(n))
    if (len(k) != int(np.prod(n)) or np.abs(frac * np.array(n) - grid).max() > 1e-6
            or len({tuple(g) for g in grid.astype(int) % np.array(n)}) != len(k)):
        raise DataError(f"The {len(k)} k-points are not a whole Gamma-centred "
                        "Monkhorst-Pack mesh (n1 x n2 x n3 points j/n_i); a Hamiltonian "
                        "model needs one to go to lattice vectors and back.")
    return n


def _is_mesh(kpoints: np.ndarray) -> bool:
    try:
        mesh_size(kpoints)
    except DataError:
        return False
    return True


def mesh_vectors(n: tuple[int, int, int]) -> np.ndarray:
    """Integer lattice vectors of one supercell of the mesh, ``(n1*n2*n3, 3)``."""
    return np.array(list(itertools.product(*(range(m) for m in n))))


def to_lattice(A_k: np.ndarray, kpoints: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``A(T)`` on the mesh's lattice vectors from ``A(k)`` on the mesh (inverse of
    :func:`interpolate` at the mesh points)."""
    phase = np.exp(-2j * np.pi * np.asarray(kpoints).reshape(-1, 3) @ vectors.T)
    return np.einsum("k...,kt->t...", A_k, phase) / len(phase)


def interpolation_phases(atoms: ase.Atoms, kpoints: np.ndarray, vectors: np.ndarray,
                         n: tuple[int, int, int]) -> np.ndarray:
    """Phases ``(n_k, n_T, n_atoms, n_atoms)`` that carry ``A(T)`` of the mesh's lattice
    vectors to any fractional k: each (T, atom i, atom j) stands for its shortest image
    ``T + n * m`` (the Wigner-Seitz choice), shared equally between equally short ones,
    so the sum reproduces ``A(k)`` exactly on the mesh and interpolates between."""
    k = np.asarray(kpoints, float).reshape(-1, 3)
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) * np.array(n)
    cell, pos = atoms.cell.array, atoms.positions
    out = np.zeros((len(k), len(vectors), len(atoms), len(atoms)), complex)
    for t, T in enumerate(vectors):
        images = T + shifts
        for i, j in itertools.product(range(len(atoms)), repeat=2):
            dist = np.linalg.norm(images @ cell + pos[j] - pos[i], axis=1)
            near = images[dist < dist.min() + 1e-5 * max(dist.min(), 1.0)]
            out[:, t, i, j] = np.exp(2j * np.pi * k @ near.T).mean(axis=1)
    return out


def interpolate(A_T: np.ndarray, phases: np.ndarray, orbs: Orbitals) -> np.ndarray:
    """``A(k)`` ``(n_k, n_ao, n_ao)`` from ``A(T)`` and :func:`interpolation_phases`."""
    p = phases[:, :, orbs.atom][:, :, :, orbs.atom]
    return np.einsum("ktmn,tmn->kmn", p, A_T)


def frame(atoms: ase.Atoms) -> np.ndarray:
    """The rotation ``Q`` (3 x 3) of a cell into its standard (lower-triangular) form:
    Cartesian vectors of the cell's own frame are ``r @ Q.T``."""
    return np.asarray(atoms.cell.standard_form()[1])


def orbital_rotation(Q: np.ndarray, orbs: Orbitals) -> np.ndarray:
    """The orthogonal matrix ``D`` (n_ao x n_ao) that rotates operator blocks of s and p
    orbitals (PySCF's p order x, y, z) by ``Q``: ``A' = D A D^T``."""
    if (orbs.ell > 1).any():
        raise ConfigError("Rotating crystal operators supports s and p orbitals (a minimal "
                          f"basis like 'gth-szv'); this basis has l up to {orbs.ell.max()}.")
    D = np.zeros((orbs.size, orbs.size))
    mu = 0
    while mu < orbs.size:
        if orbs.ell[mu] == 0:
            D[mu, mu], mu = 1.0, mu + 1
        else:
            D[mu:mu + 3, mu:mu + 3], mu = Q, mu + 3
    return D
