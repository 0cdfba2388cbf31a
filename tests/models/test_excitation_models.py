"""Excitation models: Delta-learning on orbital-energy differences, and networks that keep
the states in an order of their own (a loss that does not depend on the labels' order)."""

import re

import numpy as np
import pytest
import torch
from ase import Atoms

from atomlearn.datasets import load_ethanol_excitations
from atomlearn.errors import ConfigError, DataError
from atomlearn.models import StructureModel, model_class
from atomlearn.nn.training import loss_of
from atomlearn.targets import excitation_energies, oscillator_strengths
from atomlearn.targets.levels import delta_baseline, orbital_differences
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


def _learned_order_model(frames, delta):
    """A learned-order network, on its own or Delta-learned from the Kohn-Sham pairs."""
    energies, strengths = (dict(baseline="orbital_differences"),
                           dict(baseline="orbital_pairs")) if delta else ({}, {})
    specs = [excitation_energies(4, order="learned", **energies),
             oscillator_strengths(4, order="learned", **strengths)]
    return model_class("mpnn")(specs, **MPNN).fit(frames[:16]), specs


@pytest.mark.parametrize("delta", [False, True], ids=["plain", "delta"])
def test_learned_order_loss_ignores_the_order_of_the_labelled_states(frames, delta):
    model, specs = _learned_order_model(frames, delta)
    net = model.networks_[0]
    data = [frames[i] for i in range(16, 24)]
    (batch, labels), = model._batches(data, model._with_state_baselines(
        model._learned_labels(data)))
    terms = model._loss_terms()
    assert [t.sorted_by for t in terms] == ["excitation_energies"] * 2
    assert all((t.offset is not None) == delta for t in terms)

    def loss():
        return float(loss_of(net, batch, labels, terms, training=False).detach())

    reference = loss()
    rng = np.random.default_rng(0)
    order = torch.tensor(np.stack([rng.permutation(4) for _ in range(8)]))
    for name in ("excitation_energies", "oscillator_strengths"):    # same shuffle of both
        # the labels are residuals of the pairs' baselines: shuffle the full labels
        full = labels.values[name] + (labels.values[t.offset] if (
            t := next(t for t in terms if t.name == name)).offset else 0.0)
        labels.values[name] = torch.gather(full, 1, order) - (
            labels.values[t.offset] if t.offset else 0.0)
    assert loss() == pytest.approx(reference, rel=1e-10)
    for t in terms:            # the state-by-state loss does see the shuffle
        t.sorted_by = None
    assert loss() > 1.01 * reference


@pytest.mark.parametrize("delta", [False, True], ids=["plain", "delta"])
def test_learned_order_predictions_are_sorted_and_strengths_follow(frames, delta, tmp_path):
    model, specs = _learned_order_model(frames, delta)
    net = model.networks_[0]
    head = net.heads["excitation_energies"]
    with torch.no_grad():      # the network's first state 3 eV higher: it moves up
        for mlp in head.nets.values():
            last = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)][-1]
            last.bias[0] += 3.0 / head.scale[0]
    test = frames[30:36]
    (batch, _), = model._batches(test)
    raw = {k: v.detach().numpy() for k, v in net(batch, compute_forces_=False).items()}
    # state k of the network is the k-th orbital pair plus the network's correction
    full = {s.name: raw[s.name] + (delta_baseline(s, test, model.delta_.get(s.name))
                                   if delta else 0.0) for s in specs}
    order = np.argsort(full["excitation_energies"], axis=1)
    pred = model.predict(test)
    assert np.all(np.diff(pred["excitation_energies"], axis=1) >= 0)
    # the composition baseline adds one offset to every state, which keeps their order
    for name in ("excitation_energies", "oscillator_strengths"):
        offset = pred[name] - np.take_along_axis(full[name], order, 1)
        np.testing.assert_allclose(offset, offset[:, :1].repeat(4, 1), atol=1e-10)
    assert np.all(order[:, -1] == 0)
    C.check_symmetry(model, frames[31])
    model.save(tmp_path / "m.alm")          # the pairs' fitted lines travel with the model
    again = StructureModel.load(tmp_path / "m.alm").predict(test)
    for name, value in pred.items():
        np.testing.assert_allclose(again[name], value, rtol=1e-12)


def test_learned_order_refusals():
    with pytest.raises(ConfigError, match="'order: learned' of target 'excitation_energies' "
                                          "needs a network family"):
        model_class("sparse_gpr")(excitation_energies(3, order="learned"), **GPR).check_targets(
            [excitation_energies(3, order="learned")])
    with pytest.raises(ConfigError, match="add the target 'excitation_energies' with 'order: "
                                          "learned' and the same n_states"):
        model_class("mpnn").check_targets([oscillator_strengths(3, order="learned")])
    with pytest.raises(ConfigError, match="Unknown state order 'random'"):
        oscillator_strengths(3, order="random")
