import numpy as np

from atomlearn.targets.spherical import (
    spherical_basis,
    spherical_to_tensor,
    spherical_to_vector,
    tensor_to_spherical,
    vector_to_spherical,
)
from atomlearn.testing import random_rotation


def test_round_trips_and_orthogonality():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(5, 3))
    t = rng.normal(size=(5, 3, 3))
    np.testing.assert_allclose(spherical_to_vector(vector_to_spherical(v)), v, atol=1e-14)
    np.testing.assert_allclose(spherical_to_tensor(tensor_to_spherical(t)), t, atol=1e-14)
    U = np.concatenate([spherical_basis(2)[lam] for lam in (0, 1, 2)])
    np.testing.assert_allclose(U @ U.T, np.eye(9), atol=1e-14)


def test_symmetric_tensor_has_no_lambda_1_and_trace_is_lambda_0():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 3, 3))
    sym = a + np.swapaxes(a, 1, 2)
    parts = tensor_to_spherical(sym)
    np.testing.assert_allclose(parts[1], 0.0, atol=1e-14)
    np.testing.assert_allclose(np.abs(parts[0][:, 0]), np.abs(np.trace(sym, axis1=1, axis2=2))
                               / np.sqrt(3), atol=1e-13)
    np.testing.assert_allclose(spherical_to_tensor({0: parts[0], 2: parts[2]}), sym,
                               atol=1e-13)


def test_spherical_components_rotate_with_an_orthogonal_matrix():
    """R acts on each lambda block alone (no mixing between lambdas)."""
    R = random_rotation(2)
    rng = np.random.default_rng(2)
    t = rng.normal(size=(3, 3))
    rotated = tensor_to_spherical(R @ t @ R.T)
    for lam, U in spherical_basis(2).items():
        D = U @ np.kron(R, R) @ U.T
        np.testing.assert_allclose(D @ D.T, np.eye(2 * lam + 1), atol=1e-13)
        np.testing.assert_allclose(rotated[lam], D @ tensor_to_spherical(t)[lam], atol=1e-13)
