import re

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from atomlearn.errors import DataError
from atomlearn.neighbors import neighbor_list


def test_molecule_matches_brute_force():
    atoms = molecule("CH3CH2OH")
    nl = neighbor_list(atoms, 2.0)
    d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
    expected = {(i, j) for i in range(9) for j in range(9) if i != j and d[i, j] < 2.0}
    assert set(zip(nl.i.tolist(), nl.j.tolist(), strict=True)) == expected
    np.testing.assert_allclose(nl.distances, np.linalg.norm(nl.vectors, axis=1))


def test_periodic_images(silicon_cell):
    nl = neighbor_list(silicon_cell, 3.0)
    # diamond: 4 nearest neighbours per atom, reached through periodic images
    assert np.bincount(nl.i).tolist() == [4, 4]
    vec = (silicon_cell.positions[nl.j] - silicon_cell.positions[nl.i]
           + nl.shifts @ silicon_cell.cell.array)
    np.testing.assert_allclose(vec, nl.vectors, atol=1e-12)


def test_singular_cell():
    atoms = Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]], cell=[[2, 0, 0], [4, 0, 0],
                                                                 [0, 0, 3]], pbc=True)
    with pytest.raises(DataError, match=re.escape("is singular along periodic directions")):
        neighbor_list(atoms, 3.0)


def test_absurdly_small_cell():
    atoms = molecule("H2O")
    atoms.cell = [0.5, 8.0, 8.0]
    atoms.pbc = True
    with pytest.raises(DataError, match=re.escape(
            "is only 0.5 Å thick along lattice vector 0, far too small for a cutoff of 4 Å. "
            "Check that the cell is in Å, or set pbc=False for a molecule.")):
        neighbor_list(atoms, 4.0)
