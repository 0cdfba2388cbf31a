import numpy as np
import pytest

from atomlearn.descriptors import LambdaSoap
from atomlearn.targets.spherical import spherical_basis
from atomlearn.testing import random_rotation, rotate


def wigner(lam, R):
    """Wigner matrix of lambda in featomic's real basis, from the Cartesian maps."""
    if lam == 0:
        return np.eye(1)
    if lam == 1:
        U = spherical_basis(1)[1]
        return U @ R @ U.T
    U = spherical_basis(2)[2]
    return U @ np.kron(R, R) @ U.T


@pytest.fixture(scope="module")
def small():
    return LambdaSoap(cutoff=4.0, n_max=3, l_max=2, species=[1, 6, 8])


def test_lambda_soap_is_equivariant_and_normalised(small, ethanol):
    atoms = ethanol[2]
    ref = small.compute_equivariant([atoms], (0, 1, 2))
    R = random_rotation(7)
    moved = rotate(atoms, R)
    moved.positions += [2.0, -1.0, 0.5]
    out = small.compute_equivariant([moved], (0, 1, 2))
    for lam in (0, 1, 2):
        x = ref[lam].values
        assert x.shape[1] == 2 * lam + 1 and np.abs(x).max() > 1e-3
        np.testing.assert_allclose(np.linalg.norm(np.einsum("iap,ibp->iab", x, x),
                                                  axis=(1, 2)), 1.0, rtol=1e-12)
        expected = np.einsum("ab,ibp->iap", wigner(lam, R), x)
        np.testing.assert_allclose(out[lam].values, expected, atol=1e-10)
    perm = [0, 2, 1, 3, 4, 6, 5, 8, 7]
    permuted = small.compute_equivariant([atoms[perm]], (1,))[1]
    np.testing.assert_allclose(permuted.values, ref[1].values[perm], atol=1e-12)
    np.testing.assert_array_equal(permuted.numbers, atoms.numbers[perm])


def test_subset_renumbers_structures(small, ethanol):
    f = small.compute_equivariant(ethanol[:4], (1,))[1]
    sub = f.subset(np.array([3, 1]))
    np.testing.assert_array_equal(sub.structure, np.repeat([0, 1], 9))
    np.testing.assert_array_equal(sub.values[:9], f.values[27:36])
