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
