import numpy as np
import pytest

from atomlearn.descriptors import SoapPowerSpectrum
from atomlearn.kernels.structure import AtomSumKernel, Environments, SoapKernel, UnitRBFKernel
from atomlearn.testing import numeric_gradient


def _environments(soap, frames, gradients=()):
    f = soap.compute(frames, gradients=gradients)
    return Environments.from_values(f.values, f.numbers, f.structure_index), f


@pytest.mark.parametrize("env_kernel", [SoapKernel(zeta=3, delta=1.3), UnitRBFKernel(0.7)])
@pytest.mark.parametrize("interleaved", [False, True])
def test_derivative_rows_are_the_position_derivative_of_energy_rows(ethanol, env_kernel,
                                                                    interleaved):
    """K_NM's force block equals the finite-difference derivative of its energy row, with
    per-element blocks (sparse points grouped by element or interleaved, as older model
    files store them) and with the zero species-pair blocks of the gradients skipped."""
    soap = SoapPowerSpectrum(cutoff=3.5, n_max=3, l_max=2, species=[1, 6, 8])
    kernel = AtomSumKernel(env_kernel)
    pool, _ = _environments(soap, ethanol[3:6])
    pick = np.arange(0, len(pool.numbers), 3)
    if not interleaved:
        pick = pick[np.argsort(pool.numbers[pick], kind="stable")]
    sparse = Environments(pool.unit[pick], pool.norm[pick], pool.numbers[pick],
                          np.zeros(len(pick), int))
    atoms = ethanol[0]
    env, f = _environments(soap, [atoms], ["positions"])
    n = len(atoms)
    args = (env, sparse, f.gradient_values, f.gradient_center, f.gradient_atom, n)
    rows = kernel.derivative_rows(*args, nonzero_blocks=f.gradient_blocks)
    np.testing.assert_allclose(kernel.derivative_rows(*args), rows, atol=1e-13)
    assert f.gradient_blocks.any(axis=1).all() and not f.gradient_blocks.all()

    def energy_row(positions):
        moved = atoms.copy()
        moved.positions = positions.reshape(n, 3)
        return kernel.energy_rows(_environments(soap, [moved])[0], sparse)[0]

    numeric = numeric_gradient(energy_row, atoms.positions.reshape(-1), 1e-5)
    np.testing.assert_allclose(rows, numeric, atol=1e-7 * np.abs(numeric).max())
    # covariances between different central elements are zero
    K = kernel.environment_kernel(env, sparse)
    assert np.all(K[env.numbers[:, None] != sparse.numbers[None, :]] == 0)
    assert np.all(K[env.numbers[:, None] == sparse.numbers[None, :]] != 0)


def test_energy_rows_and_gradient_match_their_parts(ethanol):
    soap = SoapPowerSpectrum(cutoff=3.5, n_max=3, l_max=2)
    kernel = AtomSumKernel(SoapKernel(zeta=4))
    env, _ = _environments(soap, ethanol[:3])
    sparse = Environments(env.unit[::4], env.norm[::4], env.numbers[::4],
                          np.zeros(len(env.numbers[::4]), int))
    w = np.random.default_rng(0).normal(size=len(sparse.numbers))
    K, grad = kernel.energy_rows_and_gradient(env, sparse, w)
    np.testing.assert_allclose(K, kernel.energy_rows(env, sparse), atol=1e-14)

    def atom_energy(x, i):
        unit = x / np.linalg.norm(x)
        return kernel.environment_kernel(Environments(unit[None], np.linalg.norm(x)[None],
                                                      env.numbers[i : i + 1], np.zeros(1, int)),
                                         sparse)[0] @ w

    for i in (1, 5, 11):     # (atom 0 is itself a sparse point: a stationary point)
        x = env.unit[i] * env.norm[i]
        numeric = numeric_gradient(lambda v, i=i: atom_energy(v, i), x, 1e-6)
        np.testing.assert_allclose(grad[i], numeric, atol=1e-6 * np.abs(numeric).max())
