"""Densities by SA-GPR of their fitting coefficients: predictions are densities that
rotate, translate and permute with the molecule, hold exactly the electrons with
normalisation on, have a std, survive the model file; the Coulomb-metric re-solve has
the right gradient and lowers the error in that metric."""

import numpy as np
import pytest

from atomlearn.datasets import load_ethanol_densities
from atomlearn.electron_density import density_on_grid
from atomlearn.errors import ConfigError, DataError
from atomlearn.models import StructureModel, SymmetryAdaptedGPRModel
from atomlearn.targets import density as dens
from atomlearn.targets import density_coefficients
from atomlearn.testing import random_rotation, rotate

OPTIONS = {"descriptor": {"cutoff": 3.5, "n_max": 3, "l_max": 2, "atom_width": 0.3},
           "n_sparse": 10, "sigma": 1e-2, "hyperparameters": "fixed",
           "density": {"metric_weight": 10.0, "metric_iterations": 50}}


@pytest.fixture(scope="module")
def frames():
    return load_ethanol_densities(":200:10")


@pytest.fixture(scope="module")
def model(frames):
    return SymmetryAdaptedGPRModel(density_coefficients(335), **OPTIONS).fit(frames[:16])


def _coulomb_error(C, frames) -> float:
    Y = np.stack([a.info["density_coefficients"] for a in frames])
    return float(sum((c - y) @ dens.coulomb_metric(a) @ (c - y)
                     for c, y, a in zip(C, Y, frames, strict=True)))


def test_densities_rotate_translate_and_permute(model, frames):
    a = frames[17]
    points = np.random.default_rng(1).normal(scale=2.0, size=(60, 3))
    c = model.predict([a])["density_coefficients"][0]
    rho = density_on_grid(a, c, points)
    R = random_rotation(11)
    moved = rotate(a, R)
    moved.positions += [0.3, -1.2, 2.0]
    shift = np.array([0.3, -1.2, 2.0]) / dens.BOHR
    c_moved = model.predict([moved])["density_coefficients"][0]
    np.testing.assert_allclose(density_on_grid(moved, c_moved, points @ R.T + shift), rho,
                               atol=1e-9 * np.abs(rho).max())
    # swapping two hydrogens swaps their coefficient blocks and leaves rho unchanged
    order = np.arange(len(a))
    order[[3, 4]] = [4, 3]
    swapped = a[order]
    c_swapped = model.predict([swapped])["density_coefficients"][0]
    np.testing.assert_allclose(density_on_grid(swapped, c_swapped, points), rho,
                               atol=1e-9 * np.abs(rho).max())


def test_electron_count_exact_only_with_normalisation(model, frames):
    test = frames[16:]
    out = model.predict(test, targets=["density_coefficients", "density_electrons",
                                       "dipole"])
    np.testing.assert_allclose(out["density_electrons"], 26.0, atol=1e-10)
    counts = dens.electrons(model.blocks_.predict(test), test)     # before normalising
    assert np.abs(counts - 26.0).max() > 1e-4
    # the dipole output is the dipole of the predicted (neutral) density about any origin
    moved = [a.copy() for a in test]
    for a in moved:
        a.positions += [2.0, 0.0, -1.0]
    np.testing.assert_allclose(dens.dipoles(out["density_coefficients"], moved),
                               out["dipole"], atol=1e-9)


def test_std_and_model_file(model, frames, tmp_path):
    test = frames[16:]
    mean, std = model.predict(test, targets=["density_coefficients"], return_std=True)
    assert std["density_coefficients"].shape == (len(test), 335)
    assert np.all(std["density_coefficients"] > 0)
    model.save(tmp_path / "density.alm")
    back = StructureModel.load(tmp_path / "density.alm")
    mean2, std2 = back.predict(test, targets=["density_coefficients"], return_std=True)
    np.testing.assert_allclose(mean2["density_coefficients"], mean["density_coefficients"],
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(std2["density_coefficients"], std["density_coefficients"],
                               rtol=1e-10)


def test_coulomb_metric_resolve(frames):
    from atomlearn.models.sa_gpr.metric import MetricProblem

    options = {**OPTIONS, "density": {"metric_weight": 0.0}}
    euclidean = SymmetryAdaptedGPRModel(density_coefficients(335, normalize=False),
                                        **options)
    blocks = euclidean._blockwise_model()
    train = frames[:16]
    C = np.stack([a.info["density_coefficients"] for a in train])
    blocks.fit_channels(train, C)
    problem = MetricProblem(blocks, train[:4], C[:4], 1.0)
    z = problem.z0 + np.random.default_rng(0).normal(scale=1e-3, size=problem.z0.shape)
    value, grad, _ = problem(z)
    step = np.zeros_like(z)
    for k in np.random.default_rng(1).choice(len(z), 6, replace=False):
        step[:] = 0
        step[k] = 1e-4
        numeric = (problem(z + step)[0] - problem(z - step)[0]) / 2e-4
        assert numeric == pytest.approx(grad[k], rel=1e-4, abs=1e-6 * np.abs(grad).max())
    # fitted in the Coulomb metric, the held-out densities are closer in that metric
    metric_model = SymmetryAdaptedGPRModel(density_coefficients(335, normalize=False),
                                           **OPTIONS).fit(train)
    euclidean.fit(train)
    test = frames[16:]
    assert (_coulomb_error(metric_model.predict(test)["density_coefficients"], test)
            < 0.7 * _coulomb_error(euclidean.predict(test)["density_coefficients"], test))


def test_bad_input(model, frames):
    with pytest.raises(DataError, match="density_coefficients"):
        SymmetryAdaptedGPRModel(density_coefficients(335), **OPTIONS).fit(
            [_without_labels(frames[0])] * 3)
    short = frames[0].copy()
    short.info["density_coefficients"] = short.info["density_coefficients"][:300]
    with pytest.raises(DataError, match="335"):
        SymmetryAdaptedGPRModel(density_coefficients(335), **OPTIONS).fit([short] * 3)
    with pytest.raises(ConfigError, match="symmetry-adapted"):
        SymmetryAdaptedGPRModel(density_coefficients(335), symmetry_adapted=False).fit(
            frames[:3])
    nitrogen = frames[0].copy()
    nitrogen.numbers[2] = 7
    with pytest.raises(DataError, match="not trained on"):
        model.predict([nitrogen])
    with pytest.raises(ConfigError, match="metric_iterations"):
        SymmetryAdaptedGPRModel(density_coefficients(335),
                                density={"metric_iterations": 0}).fit(frames[:3])


def _without_labels(atoms):
    out = atoms.copy()
    out.info.pop("density_coefficients")
    return out
