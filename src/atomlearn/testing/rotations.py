"""Random rotations for symmetry tests."""

from __future__ import annotations

import ase
import numpy as np
from scipy.spatial.transform import Rotation


def random_rotation(seed: int = 0) -> np.ndarray:
    """A uniformly random proper rotation matrix (3, 3), reproducible from ``seed``."""
    return Rotation.random(random_state=seed).as_matrix()


def rotate(atoms: ase.Atoms, R: np.ndarray) -> ase.Atoms:
    """Copy of ``atoms`` with positions (and cell) rotated by ``R``: r -> R r."""
    out = atoms.copy()
    out.positions = atoms.positions @ R.T
    if atoms.pbc.any():
        out.set_cell(atoms.cell.array @ R.T, scale_atoms=False)
    return out


def orbital_rotation(orbitals, numbers, R: np.ndarray) -> np.ndarray:
    """The matrix D of a proper rotation ``R`` in an atom-centred basis (PySCF's real
    harmonics and AO order, :class:`~atomlearn.targets.operators.AtomicOrbitals`): an
    operator of the rotated structure is :math:`D^T H D` (from PySCF's own Wigner
    matrices, independent of atomlearn's coupling)."""
    from pyscf.symm.Dmatrix import Dmatrix, get_euler_angles

    angles = get_euler_angles(np.eye(3), R)
    blocks = [Dmatrix(ell, *angles, reorder_p=True) for _, shells in
              ((z, orbitals.shells[int(z)]) for z in numbers) for ell in shells]
    from scipy.linalg import block_diag

    return block_diag(*blocks)
