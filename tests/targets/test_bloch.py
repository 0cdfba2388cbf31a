"""Crystal operators in a Bloch basis (targets.bloch) on the shipped silicon cells: the
exact overlap is the data's, the mesh's lattice vectors carry a Hamiltonian there and back
exactly, s/p blocks rotate like the cell, and a set of k-points that is not a whole mesh
is named."""

import numpy as np
import pytest
from ase.units import Hartree
from scipy.linalg import eigh

from atomlearn.datasets import load_extra, load_silicon_bands
from atomlearn.errors import ConfigError, DataError
from atomlearn.targets import bloch
from atomlearn.targets.operators import hermitian_power
from atomlearn.testing import random_rotation, rotate


@pytest.fixture(scope="module")
def data():
    return load_silicon_bands("0:2"), load_extra("silicon_bands")


def test_overlap_and_mesh_round_trip(data):
    frames, extra = data
    a = frames[1]
    k = np.reshape(a.info["kpoints"], (-1, 3))
    cell = bloch.pyscf_cell(a, "gth-szv", "gth-pade")
    S, h = bloch.one_electron(cell, k)
    np.testing.assert_allclose(S, extra["overlap_k"][1], atol=1e-7)
    H = extra["fock_k"][1] * Hartree
    # the data's band energies are the generalised eigenvalues with this overlap
    bands = np.array([eigh(Hk, Sk, eigvals_only=True) for Hk, Sk in zip(H, S, strict=True)])
    np.testing.assert_allclose(bands, extra["band_energies"][1], atol=1e-6)
    n = bloch.mesh_size(k)
    assert n == (3, 3, 3)
    T = bloch.mesh_vectors(n)
    phases = bloch.interpolation_phases(a, k, T, n)
    H_T = bloch.to_lattice(H, k, T)
    np.testing.assert_allclose(bloch.interpolate(H_T, phases, bloch.orbitals(cell)), H,
                               atol=1e-10)
    # the core Hamiltonian is real in real space (time reversal) and Hermitian
    np.testing.assert_allclose(h, np.swapaxes(h, 1, 2).conj(), atol=1e-10)
    assert np.abs(bloch.to_lattice(h, k, T).imag).max() < 1e-8
    X = hermitian_power(S, -0.5)
    np.testing.assert_allclose(X @ S @ X, np.broadcast_to(np.eye(8), S.shape), atol=1e-10)


def test_blocks_rotate_with_the_cell(data):
    frames, _ = data
    a = frames[0]
    k = np.reshape(a.info["kpoints"], (-1, 3))
    R = random_rotation(7)
    moved = rotate(a, R)
    S, _ = bloch.one_electron(bloch.pyscf_cell(a, "gth-szv", "gth-pade"), k, core=False)
    cell = bloch.pyscf_cell(moved, "gth-szv", "gth-pade")
    S_moved, _ = bloch.one_electron(cell, k, core=False)
    orbs = bloch.orbitals(cell)
    D_R = bloch.orbital_rotation(R, orbs)
    np.testing.assert_allclose(S_moved, D_R @ S @ D_R.T, atol=1e-9)
    # the rotation between the two cells' standard frames is the identity: each one's
    # operators in its own frame agree
    D, D_moved = (bloch.orbital_rotation(bloch.frame(x), orbs) for x in (a, moved))
    np.testing.assert_allclose(D_moved @ S_moved @ D_moved.T, D @ S @ D.T, atol=1e-9)
    assert not np.allclose(S_moved, S, atol=1e-3)        # the p blocks did move


def test_bad_input(data):
    frames, _ = data
    k = np.reshape(frames[0].info["kpoints"], (-1, 3))
    with pytest.raises(DataError, match="not a whole Gamma-centred Monkhorst-Pack mesh"):
        bloch.mesh_size(k[:-1])
    with pytest.raises(DataError, match="not a whole"):
        bloch.mesh_size(k + 0.1)
    with pytest.raises(ConfigError, match="s and p orbitals"):
        bloch.orbital_rotation(np.eye(3), bloch.Orbitals(np.zeros(5, int), np.full(5, 2)))
    with pytest.raises(ConfigError, match="PySCF cannot build the cell"):
        bloch.pyscf_cell(frames[0], "no-such-basis", "gth-pade")
