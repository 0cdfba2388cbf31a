import numpy as np
import torch

from atomlearn.models import MessagePassingModel, load_model
from atomlearn.nn import AtomisticNetwork, InvariantHead, PaiNN, make_batch
from atomlearn.testing import check_network_forces, random_rotation, rotate

SMALL = dict(cutoff=4.0, n_features=8, n_interactions=2, n_rbf=6, n_hidden=[8],
             batch_size=4, force_weight=0.01)


def _network(species=(1, 6, 8)):
    torch.manual_seed(0)
    rep = PaiNN(species, cutoff=4.0, n_features=8, n_interactions=2, n_rbf=6)
    # random (not zero) weights everywhere, so every path carries signal
    net = AtomisticNetwork(rep, {"energy": InvariantHead(species, rep.n_features, 1, (6,),
                                                         "silu")}, forces_of="energy")
    return net.double()


def test_painn_scalars_invariant_and_vectors_equivariant(ethanol):
    rep = _network().representation
    atoms = ethanol[0]
    ref = rep(make_batch([atoms], 4.0, angles=False))
    R = torch.tensor(random_rotation(5))
    moved = rotate(atoms, R.numpy())
    moved.positions += [0.3, -1.0, 2.0]
    out = rep(make_batch([moved], 4.0, angles=False))
    torch.testing.assert_close(out.scalar, ref.scalar, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(out.vector, torch.einsum("ab,nbf->naf", R, ref.vector),
                               atol=1e-12, rtol=1e-10)
    assert ref.vector.abs().max() > 1e-3          # the vector channels are not trivially 0
    perm = [0, 2, 1, 3, 4, 6, 5, 8, 7]
    out = rep(make_batch([atoms[perm]], 4.0, angles=False))
    torch.testing.assert_close(out.scalar, ref.scalar[perm], atol=1e-12, rtol=1e-10)


def test_painn_forces_gradcheck_and_finite_differences(ethanol):
    net = _network()
    batch = make_batch([ethanol[5]], 4.0, angles=False)
    check_network_forces(net, batch)


def test_mpnn_fit_predict_save_load_and_symmetry(tmp_path, ethanol):
    model = MessagePassingModel(epochs=12, **SMALL).fit(ethanol)
    hist = model.history_
    assert min(hist.validation_loss) < hist.validation_loss[0]
    pred = model.predict(ethanol[:3])
    model.save(tmp_path / "mp.alm")
    again = load_model(tmp_path / "mp.alm").predict(ethanol[:3])
    np.testing.assert_array_equal(again["energy"], pred["energy"])
    np.testing.assert_array_equal(again["forces"], pred["forces"])
    R = random_rotation(6)
    moved = rotate(ethanol[0], R)
    moved.positions -= [1.0, 2.0, 3.0]
    rot = model.predict([moved])
    np.testing.assert_allclose(rot["energy"][0], pred["energy"][0], atol=1e-10)
    np.testing.assert_allclose(rot["forces"], pred["forces"][:9] @ R.T, atol=1e-9)
    perm = [0, 2, 1, 3, 4, 6, 5, 8, 7]
    p = model.predict([ethanol[0][perm]])
    np.testing.assert_allclose(p["energy"][0], pred["energy"][0], atol=1e-10)
    np.testing.assert_allclose(p["forces"], pred["forces"][:9][perm], atol=1e-10)
