import re

import numpy as np
import pytest
from ase.build import bulk, molecule

from atomlearn.descriptors import SoapPowerSpectrum
from atomlearn.errors import ConfigError, DataError, NotFittedError
from atomlearn.models import Model, SparseGPRModel, load_model
from atomlearn.targets import energy, read_gradient_labels
from atomlearn.testing import numeric_gradient, random_rotation, rotate


def _model(**kw):
    params = dict(descriptor=SoapPowerSpectrum(cutoff=3.5, n_max=3, l_max=2),
                  n_sparse=20, sigma=1e-3, sigma_forces=0.05)
    params.update(kw)
    return SparseGPRModel(**params)


@pytest.fixture(scope="module")
def fitted():
    from atomlearn.structures import read_structures
    from conftest import DATA

    frames = read_structures(DATA / "ethanol_10.extxyz")
    return _model(n_sparse=40).fit(frames[:8]), frames


def test_sparse_points_per_element(ethanol):
    model = _model(n_sparse={"H": 6, "C": 4, "O": 2}).fit(ethanol[:4])
    assert np.bincount(model.sparse_.numbers, minlength=9)[[1, 6, 8]].tolist() == [6, 4, 2]


def test_given_reference_energies(ethanol):
    e0 = {"H": -13.6, "C": -1029.0, "O": -2040.0}
    model = _model(reference=e0, target=energy(forces=False)).fit(ethanol[:6])
    np.testing.assert_allclose(model.reference_, [-13.6, -1029.0, -2040.0])
    with pytest.raises(ConfigError, match=re.escape("'reference' has no value for ['O']")):
        _model(reference={"H": 0.0, "C": 0.0}).fit(ethanol[:2])


def test_protocol_and_targets():
    model = _model()
    assert isinstance(model, Model)
    assert set(model.supported_targets) == {"energy", "forces", "stress"}
    assert model.supported_targets["forces"].unit == "eV/Å"


def test_save_load_identical(tmp_path, fitted):
    model, frames = fitted
    pred, std = model.predict(frames[8:], return_std=True)
    assert pred["energy"].shape == (2,) and pred["forces"].shape == (18, 3)
    assert std["energy"].shape == (2,) and std["forces"].shape == (18, 3)
    assert np.all(std["forces"] > 0)
    model.save(tmp_path / "m.alm")
    p2, s2 = load_model(tmp_path / "m.alm").predict(frames[8:], return_std=True)
    for key in pred:
        np.testing.assert_array_equal(p2[key], pred[key])
        np.testing.assert_array_equal(s2[key], std[key])


def _assert_forces_are_minus_energy_gradient(model, atoms):
    def e_of(pos):
        a = atoms.copy()
        a.positions = pos
        return model.predict([a], targets=["energy"])["energy"][0]

    numeric = -numeric_gradient(e_of, atoms.positions.copy(), 1e-4)
    analytic = model.predict([atoms])["forces"]
    np.testing.assert_allclose(analytic, numeric, atol=1e-6 * max(1.0, np.abs(numeric).max()))
    return analytic


def test_forces_are_minus_energy_gradient(fitted):
    model, frames = fitted
    _assert_forces_are_minus_energy_gradient(model, frames[9])


def test_angular_decay_forces_and_file(tmp_path, ethanol):
    """With the angular decay, forces are still minus the energy gradient (fast path and
    uncertainty path agree), the setting survives a save/load and changes the model."""
    soap = SoapPowerSpectrum(cutoff=3.5, n_max=3, l_max=2, angular_decay=1.0)
    model = _model(descriptor=soap).fit(ethanol[:6])
    atoms = ethanol[7]
    fast = _assert_forces_are_minus_energy_gradient(model, atoms)
    slow = model.predict([atoms], return_std=True)[0]["forces"]
    np.testing.assert_allclose(slow, fast, atol=1e-10)
    model.save(tmp_path / "m.alm")
    loaded = load_model(tmp_path / "m.alm")
    assert loaded.descriptor_.angular_decay == 1.0
    np.testing.assert_array_equal(loaded.predict([atoms])["forces"], fast)
    plain = _model().fit(ethanol[:6]).predict([atoms])["forces"]
    assert np.abs(plain - fast).max() > 1e-3


def test_rotation_translation_permutation(fitted):
    model, frames = fitted
    atoms = frames[9]
    R = random_rotation(11)
    moved = rotate(atoms, R)
    moved.positions += [0.3, -2.0, 1.0]
    perm = [0, 1, 2, 4, 3, 5, 6, 8, 7]
    p = model.predict([atoms, moved, atoms[perm]], return_std=True)
    e, f = p[0]["energy"], p[0]["forces"].reshape(3, 9, 3)
    np.testing.assert_allclose(e, e[0], atol=1e-9)
    np.testing.assert_allclose(f[1], f[0] @ R.T, atol=1e-8)
    np.testing.assert_allclose(f[2], f[0][perm], atol=1e-10)
    s = p[1]["forces"].reshape(3, 9, 3)
    np.testing.assert_allclose(s[2], s[0][perm], atol=1e-10)
    np.testing.assert_allclose(p[1]["energy"], p[1]["energy"][0], rtol=1e-8)


def test_stress_matches_finite_differences():
    rng = np.random.default_rng(0)
    cells = []
    for _ in range(4):
        a = bulk("Si", "diamond", a=5.43)
        a.positions += rng.normal(scale=0.08, size=a.positions.shape)
        a.set_cell(a.cell.array @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))),
                   scale_atoms=True)
        a.info["REF_energy"] = float(rng.normal())
        cells.append(a)
    model = SparseGPRModel(descriptor=SoapPowerSpectrum(cutoff=3.0, n_max=2, l_max=2),
                           target=energy(forces=False), n_sparse=6, sigma=0.01).fit(cells)
    atoms = cells[0]
    stress = model.predict([atoms])["stress"][0]

    def e_of(eps):
        a = atoms.copy()
        a.set_cell(atoms.cell.array @ (np.eye(3) + eps.reshape(3, 3)), scale_atoms=True)
        return model.predict([a], targets=["energy"])["energy"][0]

    numeric = numeric_gradient(e_of, np.zeros(9), 1e-5).reshape(3, 3) / atoms.get_volume()
    np.testing.assert_allclose(0.5 * (stress + stress.T), 0.5 * (numeric + numeric.T),
                               rtol=1e-5, atol=1e-8)


def test_stress_observations_are_fitted():
    """Energies and stress of periodic cells (no forces) at small noise: the stress the
    model predicts (its own strain derivative) reproduces the training labels, which it
    cannot do from energies alone."""
    from atomlearn.datasets import load_silicon

    cells = load_silicon(slice(0, 5))
    ref = np.array([a.get_stress(voigt=False) for a in cells])
    errors = []
    for with_stress in (False, True):
        model = _model(target=energy(forces=False, stress=with_stress), n_sparse=12,
                       sigma=1e-3, sigma_stress=1e-3).fit(cells)
        errors.append(np.abs(model.predict(cells)["stress"] - ref).max())
    assert errors[1] < 0.1 * np.abs(ref).max() < errors[0]      # 0.004 vs 0.043 eV/Å^3


def test_expansion_cache_changes_nothing(ethanol, monkeypatch):
    """The selection pass's cached expansions give the same model as recomputing them,
    and the cache is gone after the fit."""
    from atomlearn.models import gpr

    calls = []
    compute = SoapPowerSpectrum.compute
    monkeypatch.setattr(SoapPowerSpectrum, "compute", lambda self, s, **kw: (
        calls.append(kw.get("gradients")), compute(self, s, **kw))[1])
    cached = _model(chunk_size=3).fit(ethanol[:8])
    assert cached._expansions == {} and calls == []     # featomic ran once per frame
    monkeypatch.setattr(gpr, "_EXPANSION_CACHE", 0)
    fresh = _model(chunk_size=3).fit(ethanol[:8])
    np.testing.assert_array_equal(cached.solution_.weights, fresh.solution_.weights)
    assert len(calls) == 3                              # without the cache: again per chunk


def test_validation_keeps_no_expansion_cache(ethanol, monkeypatch):
    """Validation accumulates other chunks than the selection pass, so caching the
    selection pass's expansions would only cost memory and a slower first pass."""
    asked = []
    expand = SoapPowerSpectrum.expand
    monkeypatch.setattr(SoapPowerSpectrum, "expand", lambda self, s, **kw: (
        asked.append(tuple(kw.get("gradients", ()))), expand(self, s, **kw))[1])
    _model(chunk_size=3, hyperparameters="validation").fit(ethanol[:8])
    assert asked and all(g == () for g in asked)


def test_energy_only_fit_reproduces_training_set(ethanol):
    model = _model(target=energy(forces=False), n_sparse=90, sigma=1e-4, jitter=1e-8)
    model.fit(ethanol[:10])
    np.testing.assert_allclose(model.predict(ethanol[:10], targets=["energy"])["energy"],
                               energy().read(ethanol[:10]), atol=1e-5)


def test_forces_improve_the_fit(ethanol):
    ref = read_gradient_labels(energy(), ethanol[8:])["forces"]
    errs = []
    for target in (energy(forces=False), energy(forces=True)):
        model = _model(target=target, n_sparse=72).fit(ethanol[:8])
        errs.append(np.abs(model.predict(ethanol[8:])["forces"] - ref).mean())
    assert errs[1] < 0.7 * errs[0]


@pytest.mark.filterwarnings("ignore:The sparse-GP system")  # eight frames: near-singular
def test_validation_hyperparameters(ethanol):
    model = _model(hyperparameters="validation", validation_fraction=0.25,
                   n_sparse=40).fit(ethanol[:8])
    assert model.delta_ > 0 and model.sigma_ > 0 and model.sigma_forces_ > 0
    assert (model.delta_, model.sigma_forces_) != (1.0, 0.05)
    lik = _model(hyperparameters="likelihood", n_sparse=40).fit(ethanol[:8])
    fixed = _model(n_sparse=40).fit(ethanol[:8])
    assert lik.solution_.log_marginal_likelihood > fixed.solution_.log_marginal_likelihood


def test_frames_without_forces(ethanol):
    frames = [a.copy() for a in ethanol[:4]]
    for a, src in zip(frames, ethanol[:4], strict=True):
        a.calc = src.calc
    frames[2].calc = None
    frames[2].info["REF_energy"] = ethanol[2].get_potential_energy()
    with pytest.warns(UserWarning, match=re.escape(
            "1 of 4 training frames have no forces (first: ") + ".*" + re.escape(
            "(frame 2)); fitting their energies only.")):
        _model(n_sparse=20).fit(frames)
    with pytest.raises(DataError, match="1 of 4 training frames have no forces"):
        _model(n_sparse=20, require_forces=True).fit(frames)


def test_errors(ethanol, fitted):
    with pytest.raises(NotFittedError, match="This SparseGPRModel instance is not fitted yet"):
        _model().predict(ethanol[:1])
    with pytest.raises(ConfigError, match=re.escape(
            "The 'n_sparse' parameter must be an int in the range [1, n_environments]. Got "
            "500 instead (the training set has 18 environments).")):
        _model(n_sparse=500).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape(
            "The 'n_sparse' parameter must be a positive int or a dict of positive ints per "
            "element. Got 0")):
        _model(n_sparse=0).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape(
            "'n_sparse' asks for 5 O sparse points but the training set has 2 such "
            "environments; use at most 2.")):
        _model(n_sparse={"H": 3, "C": 3, "O": 5}).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape(
            "'n_sparse' has no count for element(s) ['O'] of the training set")):
        _model(n_sparse={"H": 3, "C": 3}).fit(ethanol[:2])
    with pytest.warns(UserWarning, match=re.escape(
            "2 of 2 training frames are not periodic or have no stress; fitting stress on "
            "the other 0.")):
        _model(target=energy(stress=True), n_sparse=10).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape("The fit needs about")
                       + ".*" + re.escape("Use fewer sparse points ('model.n_sparse', now 10)")):
        _model(n_sparse=10, memory_limit=1e-6).fit(ethanol[:2])
    model, _ = fitted
    with pytest.raises(DataError, match=re.escape(
            "contains element(s) ['N'] that this descriptor was not set up for")):
        model.predict([molecule("NH3")])
    with pytest.raises(DataError, match="Stress needs fully periodic cells"):
        model.predict(ethanol[:1], targets=["stress"])
