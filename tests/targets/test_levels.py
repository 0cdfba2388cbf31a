"""The gap learned on a HOMO baseline: the model learns the gap plus the frame's highest
occupied level and predicts its gap less that level, so a level moved in the info moves
the prediction by exactly as much; bad levels and options are refused by name."""

import numpy as np
import pytest
from ase import Atoms

from atomlearn.datasets import load_ethanol
from atomlearn.errors import ConfigError, DataError
from atomlearn.models import model_class
from atomlearn.targets import gap, target_from_options
from atomlearn.targets.levels import highest_occupied

GPR = dict(descriptor={"cutoff": 4.0, "n_max": 4, "l_max": 3}, n_sparse=20,
           hyperparameters="fixed", sigma=1e-2)


def test_highest_occupied_level():
    a = Atoms("He2", positions=[[0, 0, 0], [0, 0, 3]])     # 4 electrons: 2 occupied
    a.info["levels"] = np.array([3.0, -10.0, 1.0, -8.0])
    np.testing.assert_allclose(highest_occupied([a], "levels"), [-8.0])
    a.info["levels"] = np.array([-10.0, -8.0])              # no virtual level
    with pytest.raises(DataError, match="at least one virtual level"):
        highest_occupied([a], "levels")


def test_gap_on_a_homo_baseline():
    frames = load_ethanol(":60")
    spec = target_from_options("gap", {"baseline": "homo", "levels": "orbital_energies"})
    assert spec == gap("homo")
    model = model_class("sparse_gpr")(spec, **GPR).fit(frames[:40])
    test = [a.copy() for a in frames[40:]]
    before = model.predict(test)["gap"]
    for a in test:                     # a HOMO 0.3 eV higher: a gap 0.3 eV smaller
        levels = np.array(a.info["orbital_energies"], float)
        levels[12] += 0.3
        a.info["orbital_energies"] = levels
    np.testing.assert_allclose(model.predict(test)["gap"], before - 0.3, atol=1e-10)
    # what is learned is the LUMO, smoother than the gap: with the exact HOMO the gap
    # beats a direct model's of the same size (71 vs 95 meV here)
    truth = np.array([a.info["gap"] for a in frames[40:]])
    plain = model_class("sparse_gpr")(gap(), **GPR).fit(frames[:40])
    plain_mae = np.abs(plain.predict(frames[40:])["gap"] - truth).mean()
    assert np.abs(before - truth).mean() < 0.85 * plain_mae
    del test[2].info["orbital_energies"]
    with pytest.raises(DataError, match=r"has no 'orbital_energies' in its info, which the "
                                        "Delta-learned gap"):
        model.predict(test)
    with pytest.raises(ConfigError, match="gap baseline"):
        gap("lumo")
