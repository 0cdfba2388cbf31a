import re

import numpy as np
import pytest
import torch
from ase.build import molecule

from atomlearn.errors import DataError
from atomlearn.models import BehlerParrinelloModel, load_model
from atomlearn.nn import AtomisticNetwork, InvariantHead, SymmetryFunctions, make_batch
from atomlearn.nn.training import TrainingError
from atomlearn.testing import check_network_forces, random_rotation, rotate

SMALL = dict(descriptor=dict(cutoff=4.0, radial_etas=[1.0], radial_shifts=[1.0, 2.0, 3.0],
                             angular_etas=[0.1], zetas=[1.0, 2.0]),
             n_hidden=[8], batch_size=4, force_weight=0.01)


def _network(species=(1, 6, 8)):
    rep = SymmetryFunctions(species, cutoff=4.0, radial_etas=(1.0,), radial_shifts=(1.5, 2.5),
                            angular_etas=(0.1,), zetas=(1.0, 2.0))
    torch.manual_seed(0)
    net = AtomisticNetwork(rep, {"energy": InvariantHead(species, rep.n_features, 1, (6,))},
                           forces_of="energy")
    return net.double()


def test_symmetry_functions_invariance(ethanol):
    rep = _network().representation
    atoms = ethanol[0]
    ref = rep(make_batch([atoms], 4.0))
    moved = rotate(atoms, random_rotation(2))
    moved.positions += [1.0, -2.0, 0.5]
    torch.testing.assert_close(rep(make_batch([moved], 4.0)), ref, atol=1e-12, rtol=1e-10)
    perm = [0, 1, 2, 4, 3, 5, 6, 8, 7]
    torch.testing.assert_close(rep(make_batch([atoms[perm]], 4.0)), ref[perm], atol=1e-12,
                               rtol=1e-10)


def test_forces_gradcheck_and_finite_differences(ethanol):
    net = _network()
    batch = make_batch([ethanol[3]], 4.0)
    check_network_forces(net, batch)


def test_forces_need_an_energy_head(ethanol):
    net = _network()
    net.heads = torch.nn.ModuleDict({})
    with pytest.raises(ValueError, match=re.escape(
            "Forces need a target with forces (an energy); this network has heads []")):
        net(make_batch(ethanol[:1], 4.0), compute_forces_=True)


def test_model_fit_predict_save_load(tmp_path, ethanol):
    model = BehlerParrinelloModel(epochs=15, **SMALL).fit(ethanol)
    hist = model.history_
    assert min(hist.validation_loss) < hist.validation_loss[0]
    pred = model.predict(ethanol[:3])
    assert pred["energy"].shape == (3,) and pred["forces"].shape == (27, 3)
    model.save(tmp_path / "bp.alm")
    again = load_model(tmp_path / "bp.alm").predict(ethanol[:3])
    np.testing.assert_array_equal(again["energy"], pred["energy"])
    np.testing.assert_array_equal(again["forces"], pred["forces"])
    # energy invariant, forces equivariant
    R = random_rotation(4)
    rot = model.predict([rotate(ethanol[0], R)])
    np.testing.assert_allclose(rot["energy"][0], pred["energy"][0], atol=1e-10)
    np.testing.assert_allclose(rot["forces"], pred["forces"][:9] @ R.T, atol=1e-9)


def test_model_errors(ethanol):
    model = BehlerParrinelloModel(epochs=1, **SMALL).fit(ethanol[:4])
    with pytest.raises(DataError, match=re.escape(
            "contains element(s) ['N'] that this bpnn model was not trained on")):
        model.predict([molecule("NH3")])
    with pytest.raises(NotImplementedError, match=re.escape(
            "BehlerParrinelloModel does not provide uncertainties; train a committee")):
        model.predict(ethanol[:1], return_std=True)


def test_non_finite_loss_stops_and_keeps_the_last_good_weights(ethanol):
    from atomlearn.nn import train
    from atomlearn.nn.training import Labels

    net = _network()
    good = make_batch(ethanol[:2], 4.0)
    bad = make_batch(ethanol[2:4], 4.0)
    e = torch.tensor([-4209.6, -4209.7], dtype=torch.float64)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(TrainingError, match=re.escape("The training loss became inf at epoch "
                                                      "0, batch 1; the last good weights")):
        train(net, [(good, Labels({"energy": e})), (bad, Labels({"energy": e * np.inf}))],
              [(good, Labels({"energy": e}))], epochs=2, seed=1)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])
