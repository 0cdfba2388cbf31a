"""Excitation models: Delta-learning on orbital-energy differences, and networks that keep
the states in an order of their own (a loss that does not depend on the labels' order)."""

import re

import numpy as np
import pytest
import torch
from ase import Atoms

from atomlearn.datasets import load_ethanol_excitations
from atomlearn.errors import ConfigError, DataError
from atomlearn.models import model_class
from atomlearn.nn.training import loss_of
from atomlearn.targets import excitation_energies, oscillator_strengths
from atomlearn.targets.levels import orbital_differences
from atomlearn.testing import conformance as C

GPR = dict(descriptor={"cutoff": 4.0, "n_max": 4, "l_max": 3}, n_sparse=20,
           hyperparameters="fixed", sigma=1e-2)
MPNN = dict(cutoff=4.0, n_features=8, n_interactions=1, n_rbf=6, n_hidden=[8], epochs=2,
            batch_size=8)


@pytest.fixture(scope="module")
def frames():
    return load_ethanol_excitations(slice(0, 60))


def test_orbital_differences_pair_the_lowest_occupied_to_virtual_gaps():
    a = Atoms("He2", positions=[[0, 0, 0], [0, 0, 3]])     # 4 electrons: 2 occupied levels
    a.info["orbital_energies"] = np.array([3.0, -10.0, 1.0, -8.0, 20.0])
    np.testing.assert_allclose(orbital_differences([a], 4), [[9, 11, 11, 13]])
    a.info["n_electrons"] = 2          # a valence count given in the info wins
    np.testing.assert_allclose(orbital_differences([a], 2), [[2, 11]])
    with pytest.raises(DataError, match=re.escape(
            "do not give 5 finite occupied-to-virtual differences")):
        orbital_differences([a], 5)
    with pytest.raises(DataError, match="structure 0 has no 'pred_orbital_energies' in its"):
        orbital_differences([a], 2, "pred_orbital_energies")


def test_delta_model_adds_the_frames_orbital_differences(frames):
    spec = excitation_energies(5, baseline="orbital_differences")
    model = model_class("sparse_gpr")(spec, **GPR).fit(frames[:40])
    test = [a.copy() for a in frames[40:]]
    for a, b in zip(test, frames[40:], strict=True):
        a.info = dict(b.info)
    before = model.predict(test)[spec.name]
    for a in test:              # virtual levels 0.5 eV higher: every gap grows by 0.5
        levels = np.array(a.info["orbital_energies"], float)
        levels[13:] += 0.5
        a.info["orbital_energies"] = levels
    np.testing.assert_allclose(model.predict(test)[spec.name], before + 0.5, atol=1e-10)
    # the correction is what is learned: far smaller errors than without the baseline
    truth = excitation_energies(5).read(frames[40:])
    plain = model_class("sparse_gpr")(excitation_energies(5), **GPR).fit(frames[:40])
    delta_mae = np.abs(before - truth).mean()
    assert delta_mae < 0.6 * np.abs(plain.predict(frames[40:])[spec.name] - truth).mean()
    C.check_symmetry(model, frames[45])
    del test[3].info["orbital_energies"]
    with pytest.raises(DataError, match=r"\(frame \d+\) has no 'orbital_energies' in its info, "
                                        "which the Delta-learned"):
        model.predict(test)


def _learned_order_model(frames):
    specs = [excitation_energies(4, order="learned"), oscillator_strengths(4, order="learned")]
    return model_class("mpnn")(specs, **MPNN).fit(frames[:16]), specs


def test_learned_order_loss_ignores_the_order_of_the_labelled_states(frames):
    model, specs = _learned_order_model(frames)
    net = model.networks_[0]
    data = [frames[i] for i in range(16, 24)]
    from atomlearn.targets import Dataset

    labelled = Dataset.read(data, specs)
    (batch, labels), = model._batches(data, model.baseline_.residual(labelled))
    terms = model._loss_terms()
    assert [t.sorted_by for t in terms] == ["excitation_energies"] * 2

    def loss():
        return float(loss_of(net, batch, labels, terms, training=False).detach())

    reference = loss()
    rng = np.random.default_rng(0)
    order = torch.tensor(np.stack([rng.permutation(4) for _ in range(8)]))
    for name in ("excitation_energies", "oscillator_strengths"):    # same shuffle of both
        labels.values[name] = torch.gather(labels.values[name], 1, order)
    assert loss() == pytest.approx(reference, rel=1e-12)
    for t in terms:            # the state-by-state loss does see the shuffle
        t.sorted_by = None
    assert loss() > 1.01 * reference


def test_learned_order_predictions_are_sorted_and_strengths_follow(frames):
    model, _ = _learned_order_model(frames)
    net = model.networks_[0]
    (batch, _), = model._batches(frames[30:36])
    raw = net(batch, compute_forces_=False)
    order = np.argsort(raw["excitation_energies"].detach().numpy(), axis=1)
    pred = model.predict(frames[30:36])
    assert np.all(np.diff(pred["excitation_energies"], axis=1) >= 0)
    # the baseline adds one offset to every state, which keeps their order
    offset = pred["excitation_energies"] - np.take_along_axis(
        raw["excitation_energies"].detach().numpy(), order, 1)
    np.testing.assert_allclose(offset, offset[:, :1].repeat(4, 1), atol=1e-10)
    strengths = np.take_along_axis(raw["oscillator_strengths"].detach().numpy(), order, 1)
    np.testing.assert_allclose(pred["oscillator_strengths"] - strengths,
                               (pred["oscillator_strengths"] - strengths)[:, :1].repeat(4, 1),
                               atol=1e-10)
    C.check_symmetry(model, frames[31])


def test_learned_order_refusals():
    with pytest.raises(ConfigError, match="'order: learned' of target 'excitation_energies' "
                                          "needs a network family"):
        model_class("sparse_gpr")(excitation_energies(3, order="learned"), **GPR).check_targets(
            [excitation_energies(3, order="learned")])
    with pytest.raises(ConfigError, match="add the target 'excitation_energies' with 'order: "
                                          "learned' and the same n_states"):
        model_class("mpnn").check_targets([oscillator_strengths(3, order="learned")])
    with pytest.raises(ConfigError, match="cannot be combined with 'order: learned'"):
        excitation_energies(3, baseline="orbital_differences", order="learned")
    with pytest.raises(ConfigError, match="Unknown state order 'random'"):
        oscillator_strengths(3, order="random")
