"""Oscillator strengths learned on the Kohn-Sham orbital pairs: the pair strengths are a
scalar property of the orbitals (origin-free, rotation-invariant); the fitted per-state
line is exact for labels on it, survives the model file, and the route beats plain
regression of the strengths on held-out frames; bad input is named."""

import numpy as np
import pytest

from atomlearn.datasets import load_ethanol_excitations
from atomlearn.errors import ConfigError, DataError
from atomlearn.models import SparseGPRModel, StructureModel
from atomlearn.targets import excitation_energies, oscillator_strengths, target_from_options
from atomlearn.targets.levels import fit_delta, orbital_pair_strengths
from atomlearn.testing import random_rotation, rotate

GPR = dict(descriptor={"cutoff": 4.0, "n_max": 4, "l_max": 3}, n_sparse=40,
           hyperparameters="fixed", sigma=3e-3)


@pytest.fixture(scope="module")
def frames():
    return load_ethanol_excitations(":150")


def test_pair_strengths_of_the_orbitals(frames):
    from atomlearn.datasets import load_ethanol_hamiltonians

    a = next(f for f in load_ethanol_hamiltonians(":40")
             if f.info["md_frame"] == frames[0].info["md_frame"])
    H = a.info["hamiltonian"]
    p = orbital_pair_strengths(a, H, "def2-svp")
    np.testing.assert_allclose(p, frames[0].info["orbital_pair_strengths"], atol=1e-12)
    assert p.shape == (10,) and np.all(p >= 0)
    # invariant under a rotation and translation of the molecule (H rotated with it)
    from atomlearn.targets.operators import AtomicOrbitals
    from atomlearn.testing import orbital_rotation

    R = random_rotation(2)
    D = orbital_rotation(AtomicOrbitals.from_pyscf("def2-svp", a.numbers), a.numbers, R)
    moved = rotate(a, R)
    moved.translate([3.0, -1.0, 2.0])
    np.testing.assert_allclose(orbital_pair_strengths(moved, D.T @ H @ D, "def2-svp"), p,
                               rtol=1e-8, atol=1e-12)
    # what a Hamiltonian model derives from its matrices, in any energy unit
    from ase.units import Hartree

    from atomlearn.targets.operators import levels

    for unit, scale in (("eV", 1.0), ("Hartree", 1 / Hartree)):
        out = levels(H[None] * scale, [a], "def2-svp", unit)
        np.testing.assert_allclose(out["orbital_pair_strengths"][0], p, rtol=1e-10)
    # fewer pairs: the same lowest ones
    np.testing.assert_allclose(orbital_pair_strengths(a, H, "def2-svp", n_pairs=3), p[:3],
                               rtol=1e-12)


def test_fitted_line_file_and_accuracy(frames, tmp_path):
    spec = target_from_options("oscillator_strengths", {"baseline": "orbital_pairs"})
    assert spec == oscillator_strengths(10, baseline="orbital_pairs")
    # labels exactly on a per-state line of the pairs: the fit finds it
    pairs = np.array([a.info["orbital_pair_strengths"] for a in frames])
    line = 0.4 * pairs + 0.003
    np.testing.assert_allclose(fit_delta(spec, frames, line),
                               np.tile([0.4, 0.003], (10, 1)), atol=1e-10)
    train, test = frames[:110], frames[110:]
    energies = excitation_energies(10, baseline="orbital_differences")
    model = SparseGPRModel([energies, spec], **GPR).fit(train)
    plain = SparseGPRModel([energies, oscillator_strengths(10)], **GPR).fit(train)
    truth = np.array([a.info["oscillator_strengths"] for a in test])
    errors = [np.abs(m.predict(test)["oscillator_strengths"] - truth).mean()
              for m in (model, plain)]
    assert errors[0] < 0.8 * errors[1], errors
    model.save(tmp_path / "f.alm")
    again = StructureModel.load(tmp_path / "f.alm")
    np.testing.assert_allclose(again.predict(test)["oscillator_strengths"],
                               model.predict(test)["oscillator_strengths"], atol=1e-12)
    # the baseline follows the info: pairs moved by d move the prediction by slope x d
    moved = [a.copy() for a in test]
    for a in moved:
        a.info["orbital_pair_strengths"] = a.info["orbital_pair_strengths"] + 0.01
    slope = model.members_["oscillator_strengths"].delta_["oscillator_strengths"][:, 0]
    np.testing.assert_allclose(model.predict(moved)["oscillator_strengths"]
                               - model.predict(test)["oscillator_strengths"],
                               np.tile(0.01 * slope, (len(test), 1)), atol=1e-10)


def test_bad_input(frames):
    bare = [a.copy() for a in frames[:5]]
    del bare[2].info["orbital_pair_strengths"]
    with pytest.raises(DataError, match="no 'orbital_pair_strengths'.*'atomlearn label "
                                        "--labeler pyscf'"):
        SparseGPRModel(oscillator_strengths(10, baseline="orbital_pairs"), **GPR).fit(bare)
    with pytest.raises(ConfigError, match="oscillator-strength baseline"):
        oscillator_strengths(10, baseline="pairs")
