import numpy as np
import pytest

import atomlearn.kernels as al
from atomlearn.descriptors import LambdaSoap, SoapPowerSpectrum
from atomlearn.gp import GaussianProcessRegressor
from atomlearn.kernels import AtomicEnvironments, AtomSumKernel
from atomlearn.testing import numeric_gradient

SOAP = dict(cutoff=3.5, n_max=3, l_max=2, species=[1, 6, 8])


def _environments(frames, gradients=()):
    f = SoapPowerSpectrum(**SOAP).compute(frames, gradients=gradients)
    return AtomicEnvironments.from_values(f.values, f.numbers, f.structure_index,
                                          len(frames)), f


@pytest.mark.parametrize("env_kernel", [al.ConstantKernel(1.69) * al.NormalizedDotProduct(3),
                                        al.RBF(0.7)], ids=["soap", "rbf"])
@pytest.mark.parametrize("interleaved", [False, True])
def test_derivative_rows_are_the_position_derivative_of_rows(ethanol, env_kernel,
                                                             interleaved):
    """K_NM's force rows equal the finite-difference derivative of its structure rows,
    with per-element groups (sparse points grouped by element or interleaved, as older
    model files store them) and with the zero species-pair groups of the gradients
    skipped."""
    kernel = AtomSumKernel(env_kernel)
    pool, _ = _environments(ethanol[3:6])
    pick = np.arange(0, len(pool.numbers), 3)
    if not interleaved:
        pick = pick[np.argsort(pool.numbers[pick], kind="stable")]
    sparse = pool.points(pick)
    atoms = ethanol[0]
    env, f = _environments([atoms], ["positions"])
    n = len(atoms)
    rows = kernel.derivative_rows(env, sparse, f.positions)
    dense = al.AtomSumKernel(env_kernel).derivative_rows(
        env, sparse, type(f.positions)(f.positions.values, f.positions.center,
                                       f.positions.variable, f.positions.n_variables))
    np.testing.assert_allclose(dense, rows, atol=1e-13)
    assert f.positions.nonzero.any(axis=1).all() and not f.positions.nonzero.all()

    def row(positions):
        moved = atoms.copy()
        moved.positions = positions.reshape(n, 3)
        return kernel.rows(_environments([moved])[0], sparse)[0]

    numeric = numeric_gradient(row, atoms.positions.reshape(-1), 1e-5)
    np.testing.assert_allclose(rows, numeric, atol=1e-7 * np.abs(numeric).max())
    # covariances between different central elements are zero
    K = kernel.environment_values(env, sparse)
    assert np.all(K[env.numbers[:, None] != sparse.numbers[None, :]] == 0)
    assert np.all(K[env.numbers[:, None] == sparse.numbers[None, :]] != 0)


def test_rows_and_gradient_match_their_parts(ethanol):
    kernel = AtomSumKernel(al.NormalizedDotProduct(4))
    env, _ = _environments(ethanol[:3])
    sparse = env.points(np.arange(0, len(env.numbers), 4))
    w = np.random.default_rng(0).normal(size=len(sparse.numbers))
    K, grad = kernel.rows_and_gradient(env, sparse, w)
    np.testing.assert_allclose(K, kernel.rows(env, sparse), atol=1e-14)

    def atom_energy(x, i):
        one = AtomicEnvironments.from_values(x[None], env.numbers[i : i + 1], np.zeros(1, int))
        return kernel.environment_values(one, sparse)[0] @ w

    for i in (1, 5, 11):     # (atom 0 is itself a sparse point: a stationary point)
        x = env.unit[i] * env.norm[i]
        numeric = numeric_gradient(lambda v, i=i: atom_energy(v, i), x, 1e-6)
        np.testing.assert_allclose(grad[i], numeric, atol=1e-6 * np.abs(numeric).max())


def test_structure_kernel_is_a_kernel_of_the_algebra(ethanol):
    """AtomSumKernel composes with ConstantKernel and WhiteKernel, its hyperparameter
    gradient matches finite differences, and scikit-learn-style GPR fits structures with
    it directly."""
    X, _ = _environments(ethanol)
    k = al.ConstantKernel(2.0) * AtomSumKernel(al.RBF(0.8)) + al.WhiteKernel(1e-3)
    K, dK = k(X, eval_gradient=True)
    assert K.shape == (10, 10) and dK.shape == (10, 10, 3)
    np.testing.assert_allclose(np.diag(K), k.diag(X), rtol=1e-12)
    np.testing.assert_allclose(k(X, X) + 1e-3 * np.eye(10), K, rtol=1e-12)
    h = 1e-6
    for i in range(3):
        e = np.eye(3)[i] * h
        numeric = (k.clone_with_theta(k.theta + e)(X) - k.clone_with_theta(k.theta - e)(X))
        np.testing.assert_allclose(dK[..., i], numeric / (2 * h), rtol=1e-5, atol=1e-8)
    # each structure's kernel is the sum over its atoms' environment kernels
    unit = X.unit
    env = np.exp((unit @ unit.T - 1.0) / 0.8**2) * (X.numbers[:, None] == X.numbers[None, :])
    S = np.eye(10)[X.structure]
    np.testing.assert_allclose(k.k1(X), 2.0 * S.T @ env @ S, rtol=1e-12)
    energies = np.array([a.get_potential_energy() for a in ethanol])
    gp = GaussianProcessRegressor(k, normalize_y=True).fit(X, energies)
    assert gp.kernel_.n_dims == 3 and np.isfinite(gp.log_marginal_likelihood_value_)


def test_symmetry_adapted_kernel_rotates_and_composes(ethanol):
    """k^lambda(RA, B) = D(R) k^lambda(A, B): the lambda = 1 kernel rotates like a vector;
    times a ConstantKernel it scales."""
    from atomlearn.kernels import EquivariantEnvironments, SymmetryAdaptedKernel
    from atomlearn.targets.spherical import spherical_basis
    from atomlearn.testing import random_rotation, rotate

    soap = LambdaSoap(cutoff=3.5, n_max=2, l_max=2)
    R = random_rotation(3)
    frames = ethanol[:3]
    rotated = [rotate(a, R) for a in frames]

    def env(fr):
        f = soap.compute_equivariant(fr, (0, 1))
        return EquivariantEnvironments.from_features(f[1], f[0], len(fr))

    k = SymmetryAdaptedKernel(zeta=2)
    K, Kr = k(env(frames), env(frames)), k(env(rotated), env(frames))
    U = spherical_basis(1)[1]
    D = U @ R @ U.T                       # the rotation in featomic's lambda = 1 basis
    blocks = K.reshape(3, 3, 3, 3)
    rotated_blocks = np.einsum("ab,ibjc->iajc", D, blocks)
    np.testing.assert_allclose(Kr.reshape(3, 3, 3, 3), rotated_blocks, atol=1e-10)
    np.testing.assert_allclose((al.ConstantKernel(4.0) * k)(env(frames)), 4.0 * K)
    assert len(env(frames)) == 9


def test_environments_from_misaligned_buffers_are_realigned():
    """dask hands arrays over as views into its message buffers, sometimes at odd byte
    offsets; NumPy's products then leave BLAS (other round-off than a local fit)."""
    import pickle

    rng = np.random.default_rng(0)
    env = AtomicEnvironments.from_values(rng.normal(size=(6, 5)), np.array([1, 1, 6, 6, 8, 8]),
                                         np.array([0, 0, 0, 1, 1, 1]))
    buffers = []
    data = pickle.dumps(env, protocol=5, buffer_callback=buffers.append)
    shifted = []
    for b in buffers:
        raw = b.raw()
        store = bytearray(len(raw) + 3)
        store[3:] = raw                                   # 3 bytes off: misaligned
        shifted.append(memoryview(store)[3:])
    back = pickle.loads(data, buffers=shifted)
    for name in ("unit", "norm", "numbers", "structure"):
        assert getattr(back, name).flags.aligned
        np.testing.assert_array_equal(getattr(back, name), getattr(env, name))
