import re

import numpy as np
import pytest

from atomlearn.errors import ConfigError, DataError
from atomlearn.models import BehlerParrinelloModel, MessagePassingModel, load_model
from atomlearn.targets import dipole, energy, polarizability
from atomlearn.testing import random_rotation, rotate

SMALL = dict(cutoff=4.0, n_features=8, n_interactions=2, n_rbf=6, n_hidden=[8],
             batch_size=4, epochs=3)


@pytest.fixture(scope="module")
def joint():
    from pathlib import Path

    from atomlearn.structures import read_structures

    frames = read_structures(Path(__file__).parents[1] / "data" / "ethanol_10.extxyz")
    model = MessagePassingModel([energy(forces=True), dipole(), polarizability()],
                                **SMALL).fit(frames)
    return frames, model


def test_dipole_and_polarizability_heads_are_equivariant(joint):
    frames, model = joint
    p = model.predict(frames[:2])
    assert set(p) == {"energy", "forces", "dipole", "polarizability"}
    assert p["dipole"].shape == (2, 3) and p["polarizability"].shape == (2, 3, 3)
    np.testing.assert_allclose(p["polarizability"], np.swapaxes(p["polarizability"], 1, 2),
                               atol=1e-14)
    R = random_rotation(21)
    moved = rotate(frames[0], R)
    moved.positions += [5.0, -3.0, 2.0]           # a neutral molecule: origin independent
    q = model.predict([moved])
    np.testing.assert_allclose(q["dipole"][0], R @ p["dipole"][0], atol=1e-10)
    np.testing.assert_allclose(q["polarizability"][0], R @ p["polarizability"][0] @ R.T,
                               atol=1e-10)
    np.testing.assert_allclose(q["energy"][0], p["energy"][0], atol=1e-10)


def test_joint_model_save_load(joint, tmp_path):
    frames, model = joint
    model.save(tmp_path / "joint.alm")
    a, b = model.predict(frames[:3]), load_model(tmp_path / "joint.alm").predict(frames[:3])
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_dipole_alone_and_charged_structures(ethanol):
    model = MessagePassingModel(dipole(), **SMALL).fit(ethanol)
    assert set(model.predict(ethanol[:1])) == {"dipole"}
    mu = {"dipole": dipole().read(ethanol)}
    charged = [a.copy() for a in ethanol]
    for a in charged:
        a.info["charge"] = 1.0
    model = MessagePassingModel(dipole(), **SMALL).fit(charged, mu)
    # with total charge Q, moving the molecule by d moves the dipole by Q d
    shifted = charged[0].copy()
    shifted.positions += [1.0, 2.0, -0.5]
    diff = model.predict([shifted])["dipole"][0] - model.predict(charged[:1])["dipole"][0]
    np.testing.assert_allclose(diff, [1.0, 2.0, -0.5], atol=1e-10)
    no_charge = ethanol[0].copy()
    no_charge.info.pop("charge", None)
    with pytest.raises(DataError, match=re.escape(
            "has no total charge ('charge' in its info), but this dipole model was trained "
            "on charged structures")):
        model.predict([no_charge])
    mixed = charged[:5] + [a.copy() for a in ethanol[5:]]
    for a in mixed[5:]:
        a.info.pop("charge", None)
    with pytest.raises(DataError, match="is being trained on charged structures"):
        MessagePassingModel(dipole(), **SMALL).fit(mixed, mu)


def test_heads_that_cannot_be_built(ethanol):
    with pytest.raises(ConfigError, match=re.escape(
            "Model type 'bpnn' cannot learn target 'polarizability' of kind "
            "'rank2_symmetric'; it learns") + ".*" + re.escape(
            "Families that learn it: ['mpnn', 'sa_gpr'].")):
        BehlerParrinelloModel(polarizability(), epochs=1).fit(ethanol)
    with pytest.raises(ConfigError, match=re.escape(
            "Target 'polarizability' (rank2_symmetric) needs vector features, which this "
            "representation does not have; use 'mpnn' (PaiNN) or 'sa_gpr'.")):
        from atomlearn.nn import make_head

        make_head(polarizability(), species=[1], n_features=4)
    with pytest.raises(DataError, match=re.escape(
            "Labels of target 'dipole' ('vector') must have shape (10, 3); got (10, 3, 3).")):
        MessagePassingModel(dipole(), **SMALL).fit(
            ethanol, {"dipole": np.zeros((10, 3, 3))})
