"""Kohn-Sham matrices from a network (mpnn with the equivariant operator head): the
prediction rotates as D^T H D (PySCF's own Wigner matrices), changes by (-1)^l per shell
under inversion, follows permutations of like atoms, is symmetric; the head's normalised
channel labels map back to the matrices exactly; levels come from the predicted matrix
with the exact overlap; a committee gives them a std; the file round-trips; bad input is
named."""

import numpy as np
import pytest

from atomlearn.datasets import load_ethanol_hamiltonians
from atomlearn.errors import ConfigError, DataError
from atomlearn.models import BehlerParrinelloModel, MessagePassingModel, StructureModel
from atomlearn.targets import hamiltonian
from atomlearn.targets.operators import orbital_energies
from atomlearn.testing import check_operator_symmetries

SMALL = {"n_features": 16, "n_interactions": 2, "n_hidden": [16], "epochs": 4,
         "batch_size": 4, "dtype": "float64", "cutoff": 4.0}


@pytest.fixture(scope="module")
def frames():
    return load_ethanol_hamiltonians(":12")


@pytest.fixture(scope="module")
def model(frames):
    return MessagePassingModel(hamiltonian(72), n_models=2, **SMALL).fit(frames[:10])


def test_rotation_inversion_permutation(model, frames):
    a = frames[11]
    H = check_operator_symmetries(
        lambda x: model.predict([x], targets=["hamiltonian"])["hamiltonian"][0], a,
        "def2-svp", swap=(3, 5), rtol=1e-10)
    # the pseudotensor parts are used: a model without them would be blind to chirality
    # in the pair blocks, which the labels are not
    mirrored = a.copy()
    mirrored.positions[:, 0] *= -1
    assert not np.allclose(model.predict([mirrored], targets=["hamiltonian"])["hamiltonian"],
                           H, atol=1e-6)


def test_channel_labels_and_levels(model, frames, tmp_path):
    H_ref = np.stack([a.info["hamiltonian"] for a in frames[:10]])
    data = model._learned_labels(frames[:10], None)
    flat = model._with_channels(data).labels["hamiltonian"]
    np.testing.assert_allclose(model._operator_matrices(flat, frames[:10]), H_ref,
                               atol=1e-9)
    # normalised: each lambda = 0 channel centred, every channel of unit spread
    assert abs(np.mean(flat)) < 0.2 and np.sqrt(np.mean(flat**2)) == pytest.approx(1.0,
                                                                                   rel=0.05)
    mean, std = model.predict(frames[10:], return_std=True)
    # the committee's levels are the mean of its members' levels, each the generalised
    # eigenvalues of that member's matrix with the exact overlap; the HOMO the 13th
    networks, members = model.networks_, []
    try:
        for net in networks:
            model.networks_ = [net]
            H = model.predict(frames[10:], targets=["hamiltonian"])["hamiltonian"]
            members.append(orbital_energies(H, frames[10:], "def2-svp"))
    finally:
        model.networks_ = networks
    np.testing.assert_allclose(mean["orbital_energies"], np.mean(members, axis=0),
                               atol=1e-8)
    np.testing.assert_array_equal(mean["homo"], mean["orbital_energies"][:, 12])
    assert np.all(std["orbital_energies"] > 0) and np.all(std["gap"] > 0)
    model.save(tmp_path / "h.alm")
    again = StructureModel.load(tmp_path / "h.alm")
    np.testing.assert_allclose(again.predict(frames[10:])["hamiltonian"],
                               mean["hamiltonian"], atol=1e-12)


def test_bad_input(model, frames):
    other = frames[11][[1, 0, 2, 3, 4, 5, 6, 7, 8]]         # C and C swapped: same atoms
    model.predict([other], targets=["hamiltonian"])
    wrong = frames[11][[2, 0, 1, 3, 4, 5, 6, 7, 8]]         # O first
    with pytest.raises(DataError, match="other atoms .* than the molecule"):
        model.predict([wrong])
    with pytest.raises(DataError, match="other atoms .* than the first structure"):
        MessagePassingModel(hamiltonian(72), **SMALL).fit(frames[:4] + [wrong])
    with pytest.raises(ConfigError, match="bpnn|vector features|learns"):
        BehlerParrinelloModel(hamiltonian(72), epochs=1).fit(frames[:4])


def test_fine_tuning_keeps_the_channel_scales(frames):
    """Fine-tuning (as active learning does) trains on the same normalised channels as the
    fit, with the fit's offsets and spreads; other molecules are refused by name."""
    model = MessagePassingModel(hamiltonian(72), **SMALL).fit(frames[:6])
    scale, offset = model.operator_scale_.copy(), model.operator_offset_.copy()
    before = model.predict(frames[10:])["hamiltonian"]
    model.fine_tune(frames[:10], epochs=2)
    np.testing.assert_array_equal(model.operator_scale_, scale)
    np.testing.assert_array_equal(model.operator_offset_, offset)
    after = model.predict(frames[10:])["hamiltonian"]
    assert after.shape == before.shape and not np.allclose(after, before)
    wrong = frames[11][[2, 0, 1, 3, 4, 5, 6, 7, 8]]
    with pytest.raises(DataError, match="other atoms .* than the molecule"):
        model.fine_tune([wrong] * 4, epochs=1)
