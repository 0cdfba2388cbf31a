"""The network route to densities: the equivariant per-atom head gives coefficients whose
density rotates, translates and permutes with the molecule in float64 for every l up to
4 (PySCF's own solid harmonics, p as x, y, z), learns (the loss falls), normalises, and
survives the model file; BPNN, without vector features, is refused."""

import numpy as np
import pytest

from atomlearn.datasets import load_ethanol_densities
from atomlearn.electron_density import density_on_grid
from atomlearn.errors import ConfigError
from atomlearn.models import StructureModel, model_class
from atomlearn.targets import density as dens
from atomlearn.targets import density_coefficients
from atomlearn.testing import random_rotation, rotate

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def frames():
    return load_ethanol_densities(":300:10")


@pytest.fixture(scope="module")
def model(frames):
    return model_class("mpnn")(density_coefficients(335), epochs=30, n_features=16,
                               n_interactions=2, dtype="float64", batch_size=8,
                               learning_rate=5e-3).fit(frames[:24])


def test_density_rotates_translates_and_permutes(model, frames):
    a = frames[26]
    points = np.random.default_rng(4).normal(scale=2.0, size=(60, 3))
    rho = density_on_grid(a, model.predict([a])["density_coefficients"][0], points)
    R = random_rotation(8)
    moved = rotate(a, R)
    moved.positions += [1.0, 0.5, -0.7]
    c = model.predict([moved])["density_coefficients"][0]
    np.testing.assert_allclose(density_on_grid(moved, c, points @ R.T + np.array(
        [1.0, 0.5, -0.7]) / dens.BOHR), rho, atol=1e-10 * np.abs(rho).max())
    order = np.arange(len(a))
    order[[6, 8]] = [8, 6]
    swapped = a[order]
    c = model.predict([swapped])["density_coefficients"][0]
    np.testing.assert_allclose(density_on_grid(swapped, c, points), rho,
                               atol=1e-10 * np.abs(rho).max())


def test_training_learns_and_normalises(model, frames, tmp_path):
    history = model.history_
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    test = frames[24:]
    out = model.predict(test, targets=["density_coefficients", "density_electrons"])
    np.testing.assert_allclose(out["density_electrons"], 26.0, atol=1e-9)
    model.save(tmp_path / "nn.alm")
    back = StructureModel.load(tmp_path / "nn.alm")
    np.testing.assert_allclose(back.predict(test)["density_coefficients"],
                               out["density_coefficients"], rtol=1e-12, atol=1e-14)


def test_bpnn_has_no_density_head(frames):
    with pytest.raises(ConfigError, match="density_coefficients"):
        model_class("bpnn")(density_coefficients(335), epochs=1).fit(frames[:4])


def test_coulomb_loss_is_the_error_in_the_metric(frames):
    """The network's density loss is mean(dc^T J dc) with each structure's Coulomb
    metric (from its Cholesky factor), not the squared error; a bad choice is named."""
    import torch

    from atomlearn.nn.training import Labels, LossTerm, term_sums

    model = model_class("mpnn")(density_coefficients(335), epochs=1, n_features=8,
                                n_interactions=1, dtype="float64").fit(frames[:4])
    net = model.networks_[0]
    test = frames[4:6]
    batch, _ = model._batches(test)[0]
    reference = np.stack([a.info["density_coefficients"] for a in test])
    factors = np.stack([np.linalg.cholesky(dens.coulomb_metric(a)) for a in test])
    labels = Labels({"density_coefficients": torch.tensor(reference),
                     "metric": torch.tensor(factors)})
    with torch.no_grad():
        coulomb = term_sums(net, batch, labels, [LossTerm("density_coefficients",
                                                          metric="metric")], False)
        plain = term_sums(net, batch, labels, [LossTerm("density_coefficients")], False)
    predicted = model._predict(test, ["density_coefficients"], False)[0][
        "density_coefficients"]
    delta = predicted - reference
    expected = sum(d @ dens.coulomb_metric(a) @ d for d, a in zip(delta, test, strict=True))
    assert float(coulomb[0]) == pytest.approx(expected, rel=1e-9)
    assert float(plain[0]) == pytest.approx(np.sum(delta**2), rel=1e-9)
    assert model._loss_terms()[0].metric is not None
    with pytest.raises(ConfigError, match="density_loss"):
        model_class("mpnn")(density_coefficients(335), density_loss="hartree",
                            epochs=1).fit(frames[:4])
