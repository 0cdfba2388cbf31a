import re

import numpy as np
import pytest

from atomlearn.errors import ConfigError, DataError
from atomlearn.models import SymmetryAdaptedGPRModel
from atomlearn.targets import dipole, energy, polarizability
from atomlearn.testing import random_rotation, rotate

SMALL = dict(descriptor={"cutoff": 4.0, "n_max": 3, "l_max": 2}, n_sparse=30)


@pytest.fixture(scope="module")
def fitted():
    from pathlib import Path

    from atomlearn.structures import read_structures

    frames = read_structures(Path(__file__).parents[1] / "data" / "ethanol_10.extxyz")
    return frames, {
        "dipole": SymmetryAdaptedGPRModel(dipole(), **SMALL).fit(frames[:8]),
        "polarizability": SymmetryAdaptedGPRModel(polarizability(), **SMALL)
        .fit(frames[:8])}


@pytest.mark.parametrize("name", ["dipole", "polarizability"])
def test_predictions_rotate_as_tensors(fitted, name):
    frames, models = fitted
    model = models[name]
    pred, std = model.predict(frames[8:], return_std=True)
    p = pred[name]
    for k, seed in enumerate((11, 12)):
        R = random_rotation(seed)
        moved = rotate(frames[8 + k], R)
        moved.positions += [3.0, -2.0, 1.0]        # origin independence of a neutral molecule
        q = model.predict([moved])[name][0]
        expected = R @ p[k] if name == "dipole" else R @ p[k] @ R.T
        np.testing.assert_allclose(q, expected, atol=1e-8 * np.abs(p).max())
    if name == "polarizability":
        np.testing.assert_allclose(p, np.swapaxes(p, 1, 2), atol=1e-12)
    assert std[name].shape == p.shape and np.all(std[name] > 0)


def test_fit_reproduces_training_data_and_beats_naive(fitted):
    frames, models = fitted
    ref = dipole().read(frames[:8])
    train_err = np.abs(models["dipole"].predict(frames[:8])["dipole"] - ref).max()
    assert train_err < 0.2 * np.abs(ref - ref.mean(0)).max()
    naive = SymmetryAdaptedGPRModel(dipole(), symmetry_adapted=False, **SMALL)
    naive.fit(frames[:8])
    R = random_rotation(3)
    moved = rotate(frames[9], R)
    p = naive.predict([frames[9]])["dipole"][0]
    # the invariant kernel gives the same components in any orientation: not a vector
    np.testing.assert_allclose(naive.predict([moved])["dipole"][0], p, atol=1e-10)
    assert np.abs(R @ p - p).max() > 1e-3


def test_likelihood_raises_the_marginal_likelihood(ethanol):
    fixed = SymmetryAdaptedGPRModel(dipole(), hyperparameters="fixed", sigma=0.1,
                                    **SMALL).fit(ethanol)
    tuned = SymmetryAdaptedGPRModel(dipole(), hyperparameters="likelihood",
                                    sigma=0.1, **SMALL).fit(ethanol)
    assert (tuned.models_[1].log_marginal_likelihood_value_
            > fixed.models_[1].log_marginal_likelihood_value_ + 1.0)


def test_bad_input(ethanol):
    with pytest.raises(ConfigError, match=re.escape(
            "Model type 'sa_gpr' cannot learn target 'energy' of kind 'scalar'; it learns "
            "['density_coefficients', 'operator', 'rank2_symmetric', 'vector'].")):
        SymmetryAdaptedGPRModel(energy(), **SMALL).fit(ethanol)
    with pytest.raises(DataError, match=re.escape(
            "Labels of target 'dipole' ('vector') must have shape (10, 3); got (10, 3, 3).")):
        SymmetryAdaptedGPRModel(dipole(), **SMALL).fit(ethanol,
                                                       {"dipole": np.zeros((10, 3, 3))})
    with pytest.raises(ConfigError, match="Unknown hyperparameters 'ml'"):
        SymmetryAdaptedGPRModel(dipole(), hyperparameters="ml", **SMALL).fit(ethanol)
    with pytest.raises(ConfigError, match=re.escape(
            "Unknown option 'model.amplitude' for model type 'sa_gpr'") + ".*" + re.escape(
            "Use 'model.kernel.delta' instead (the prior scale).")):
        SymmetryAdaptedGPRModel(dipole(), amplitude=2.0)


def test_held_out_calibration_brings_z_scores_to_unit_variance():
    from atomlearn.datasets import load_ethanol

    frames = load_ethanol(":160")
    train, test = frames[:100], frames[100:]
    ref = dipole().read(test)

    def z_std(model):
        mean, std = model.predict(test, return_std=True)
        total = np.sqrt(std["dipole"] ** 2 + model.noise_std("dipole", test) ** 2)
        return float(np.std((mean["dipole"] - ref) / total))

    plain = SymmetryAdaptedGPRModel(dipole(), validation_fraction=0.0, **SMALL)
    calibrated = SymmetryAdaptedGPRModel(dipole(), validation_fraction=0.2, **SMALL)
    raw, fixed = z_std(plain.fit(train)), z_std(calibrated.fit(train))
    assert calibrated.std_scale("dipole") != 1.0 and plain.std_scale("dipole") == 1.0
    assert abs(np.log(fixed)) < abs(np.log(raw)), (raw, fixed)   # closer to 1
    assert 0.6 < fixed < 1.5, (raw, fixed)   # 20 calibration frames: a rough scale
    np.testing.assert_allclose(calibrated.predict(test)["dipole"],
                               plain.predict(test)["dipole"], rtol=1e-12)


def test_chunked_factor_equals_one_block(ethanol):
    from atomlearn.descriptors import LambdaSoap
    from atomlearn.gp.equivariant import SymmetryAdaptedGPR
    from atomlearn.kernels import EquivariantEnvironments
    from atomlearn.targets.spherical import vector_to_spherical

    feats = LambdaSoap(**SMALL["descriptor"]).compute_equivariant(ethanol, (0, 1))
    X = EquivariantEnvironments.from_features(feats[1], feats[0], len(ethanol))
    y = vector_to_spherical(dipole().read(ethanol))
    one = SymmetryAdaptedGPR(n_sparse=30, chunk_size=100, sigma=0.01, delta=0.3).fit(X, y)
    many = SymmetryAdaptedGPR(n_sparse=30, chunk_size=3, sigma=0.01, delta=0.3).fit(X, y)
    # R^T R = [K|y]^T [K|y] whatever the chunks (the factors differ by row signs only)
    gram = [m.factor_.R.T @ m.factor_.R for m in (many, one)]
    np.testing.assert_allclose(gram[0], gram[1], rtol=1e-12, atol=1e-12 * np.abs(gram[1]).max())
    np.testing.assert_allclose(many.predict(X), one.predict(X),
                               atol=1e-10 * np.abs(one.predict(X)).max())
