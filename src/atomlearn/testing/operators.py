"""The symmetries every predicted operator in an atom-centred basis must have, checked
against PySCF's own Wigner matrices (independent of atomlearn's coupling)."""

from __future__ import annotations

from collections.abc import Callable

import ase
import numpy as np

from .rotations import orbital_rotation, random_rotation, rotate


def check_operator_symmetries(predict: Callable[[ase.Atoms], np.ndarray], atoms: ase.Atoms,
                              basis: str, swap: tuple[int, int], *, rtol: float = 1e-9,
                              seed: int = 5) -> np.ndarray:
    """Assert that the matrix ``predict(atoms)`` (PySCF's AO order) is symmetric, becomes
    D^T H D for the rotated and translated structure, changes by (-1)^l per shell under
    inversion and follows the swap of two like atoms ``swap``; returns it."""
    from ..targets.operators import AtomicOrbitals

    H = predict(atoms)
    np.testing.assert_array_equal(H, H.T)
    atol = rtol * np.abs(H).max()
    numbers = atoms.numbers
    orbitals = AtomicOrbitals.from_pyscf(basis, numbers)
    R = random_rotation(seed)
    D = orbital_rotation(orbitals, numbers, R)
    moved = rotate(atoms, R)
    moved.translate([1.0, -2.0, 0.5])
    np.testing.assert_allclose(predict(moved), D.T @ H @ D, atol=atol)
    inverted = atoms.copy()
    inverted.positions = -atoms.positions
    sign = np.concatenate([np.full(2 * ell + 1, (-1.0) ** ell) for z in numbers
                           for ell in orbitals.shells[int(z)]])
    np.testing.assert_allclose(predict(inverted), sign[:, None] * H * sign[None, :],
                               atol=atol)
    order = np.arange(len(atoms))
    order[list(swap)] = order[list(swap[::-1])]
    per_atom = np.split(np.arange(len(H)), np.cumsum([orbitals.n_functions(int(z))
                                                      for z in numbers])[:-1])
    ao = np.concatenate([per_atom[i] for i in order])
    np.testing.assert_allclose(predict(atoms[order]), H[np.ix_(ao, ao)], atol=atol)
    return H
