import re

import numpy as np
import pytest
from ase.build import bulk

from atomlearn.descriptors import SoapPowerSpectrum
from atomlearn.errors import ConfigError, DataError, NotFittedError
from atomlearn.models import SparseGPRModel, StructureModel, load_model
from atomlearn.models.sparse_gpr import memory
from atomlearn.targets import TargetSpec, energy, read_gradient_labels
from atomlearn.testing import numeric_gradient
from atomlearn.testing.conformance import check_forces

SOAP = {"cutoff": 3.5, "n_max": 3, "l_max": 2}


def _model(target=None, **kw):
    params = dict(descriptor=SOAP, n_sparse=20, sigma=1e-3, sigma_forces=0.05)
    params.update(kw)
    return SparseGPRModel(target, **params)


@pytest.fixture(scope="module")
def fitted():
    from atomlearn.structures import read_structures
    from conftest import DATA

    frames = read_structures(DATA / "ethanol_10.extxyz")
    return _model(n_sparse=40).fit(frames[:8]), frames


def test_sparse_points_per_element(ethanol):
    model = _model(n_sparse={"H": 6, "C": 4, "O": 2}).fit(ethanol[:4])
    assert np.bincount(model.sparse_.numbers, minlength=9)[[1, 6, 8]].tolist() == [6, 4, 2]


def test_sparse_counts_are_capped_at_the_environments(ethanol, caplog):
    """GAP's convention: asking for more sparse points than there are environments uses
    them all (learning curves start from a few frames)."""
    import logging

    with caplog.at_level(logging.INFO, logger="atomlearn.models"):
        model = _model(n_sparse={"H": 3, "C": 3, "O": 5}).fit(ethanol[:2])
    assert np.bincount(model.sparse_.numbers, minlength=9)[[1, 6, 8]].tolist() == [3, 3, 2]
    assert "n_sparse capped at the environments of the training set" in caplog.text
    assert len(_model(n_sparse=500).fit(ethanol[:2]).sparse_indices_) == 18


def test_an_int_n_sparse_counts_every_element(ethanol):
    """GAP's convention: n_sparse of each element, not a total shared between them."""
    model = _model(n_sparse=3).fit(ethanol[:4])
    assert np.bincount(model.sparse_.numbers, minlength=9)[[1, 6, 8]].tolist() == [3, 3, 3]


def test_format_2_total_n_sparse_becomes_the_counts_it_was_fitted_with():
    from conftest import DATA

    model = load_model(DATA / "saved" / "v2" / "sparse_gpr.alm")
    numbers = model.sparse_.numbers
    assert model.hypers.n_sparse == {
        s: int(np.sum(numbers == z)) for s, z in (("H", 1), ("C", 6), ("O", 8))}


def test_non_finite_predictions_are_refused(fitted):
    model, frames = fitted
    weights = model.solution_.weights.copy()
    try:
        model.solution_.weights[5] = np.nan
        with pytest.raises(DataError, match=re.escape(
                "The model predicts a non-finite energy for '") + ".*" + re.escape(
                "(frame 8): its weights or the structure are broken")):
            model.predict(frames[8:9])
    finally:
        model.solution_.weights[:] = weights


def test_force_std_built_a_range_of_atoms_at_a_time_is_the_same(fitted, monkeypatch):
    """Large cells build their force uncertainties a few atoms at a time (bounded
    memory); the numbers do not change."""
    model, frames = fitted
    whole = model.predict(frames[8:], return_std=True)[1]["forces"]
    monkeypatch.setattr(memory, "STD_CHUNK", 1)            # one atom at a time
    parts = model.predict(frames[8:], return_std=True)[1]["forces"]
    np.testing.assert_allclose(parts, whole, rtol=1e-10)


def test_prediction_memory_is_estimated_and_guarded(fitted):
    model, frames = fitted
    big = frames[0].copy()
    big.cell = [8.0, 8.0, 8.0]
    big = big.repeat((10, 10, 2))                   # 1,800 atoms in one structure
    need = memory.predict_bytes([big], n_sparse=40, n_features=model.descriptor_.n_features,
                                n_species=3, n_max=3, l_max=2, chunk_size=20, forces=True,
                                std=True)
    small = memory.predict_bytes(frames[:1], n_sparse=40,
                                 n_features=model.descriptor_.n_features, n_species=3,
                                 n_max=3, l_max=2, chunk_size=20, forces=True, std=True)
    assert need > small
    model.hypers.memory_limit = 1e-3
    try:
        with pytest.raises(ConfigError, match=re.escape("The prediction needs about")):
            model.predict(frames[8:], return_std=True)
    finally:
        model.hypers.memory_limit = None


def test_given_baseline_energies(ethanol):
    e0 = {"H": -13.6, "C": -1029.0, "O": -2040.0}
    model = _model(energy(forces=False), baseline=e0).fit(ethanol[:6])
    np.testing.assert_allclose(model.baseline_.offsets_["energy"], [-13.6, -1029.0, -2040.0])
    with pytest.raises(ConfigError, match=re.escape("'baseline' has no value for ['O']")):
        _model(baseline={"H": 0.0, "C": 0.0}).fit(ethanol[:2])


def test_targets_and_outputs():
    model = _model()
    assert isinstance(model, StructureModel)
    assert set(model.supported_targets) == {"energy", "forces", "stress"}
    assert model.supported_targets["forces"].unit == "eV/Å"
    # an intensive scalar has no forces; a spectrum neither
    gap = _model(TargetSpec("gap", "scalar", unit="eV", extensive=False))
    assert set(gap.supported_targets) == {"gap"}
    # hyperparameters are the family's dataclass: one source of defaults
    assert model.hypers.kernel.zeta == 4 and model.n_sparse == 20
    model.n_sparse = 40
    assert model.hypers.n_sparse == 40


def test_angular_decay_forces_and_file(tmp_path, ethanol):
    """With the angular decay, forces are still minus the energy gradient (fast path and
    uncertainty path agree), the setting survives a save/load and changes the model."""
    model = _model(descriptor={**SOAP, "angular_decay": 1.0}).fit(ethanol[:6])
    atoms = ethanol[7]
    check_forces(model, atoms)
    fast = model.predict([atoms])["forces"]
    slow = model.predict([atoms], return_std=True)[0]["forces"]
    np.testing.assert_allclose(slow, fast, atol=1e-10)
    model.save(tmp_path / "m.alm")
    loaded = load_model(tmp_path / "m.alm")
    assert loaded.descriptor_.angular_decay == 1.0
    np.testing.assert_array_equal(loaded.predict([atoms])["forces"], fast)
    plain = _model(descriptor={**SOAP, "angular_decay": 0.0}).fit(ethanol[:6])
    assert np.abs(plain.predict([atoms])["forces"] - fast).max() > 1e-3


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
    model = SparseGPRModel(energy(forces=False), descriptor={"cutoff": 3.0, "n_max": 2,
                                                             "l_max": 2},
                           n_sparse=6, sigma=0.01).fit(cells)
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
        model = _model(energy(forces=False, stress=with_stress), n_sparse=12, sigma=1e-3,
                       sigma_stress=1e-3, descriptor={**SOAP, "angular_decay": 0.0}).fit(cells)
        errors.append(np.abs(model.predict(cells)["stress"] - ref).max())
    assert errors[1] < 0.1 * np.abs(ref).max() < errors[0]      # 0.005 vs 0.042 eV/Å^3


def test_expansion_cache_changes_nothing(ethanol, monkeypatch):
    """The selection pass's cached expansions give the same model as recomputing them."""
    calls = []
    compute = SoapPowerSpectrum.compute
    monkeypatch.setattr(SoapPowerSpectrum, "compute", lambda self, s, **kw: (
        calls.append(kw.get("gradients")), compute(self, s, **kw))[1])
    cached = _model(chunk_size=3).fit(ethanol[:8])
    assert calls == []                                  # featomic ran once per frame
    monkeypatch.setattr(memory, "EXPANSION_CACHE", 0)
    fresh = _model(chunk_size=3).fit(ethanol[:8])
    np.testing.assert_array_equal(cached.solution_.weights, fresh.solution_.weights)
    assert len(calls) == 3                              # without the cache: again per chunk


def test_held_out_structures_reuse_the_cached_expansions(ethanol, monkeypatch):
    """The held-out structures (validation, calibration) are chunked as a group of their
    own in the selection pass and in the row pass, so featomic runs once per frame."""
    calls = []
    compute = SoapPowerSpectrum.compute
    monkeypatch.setattr(SoapPowerSpectrum, "compute", lambda self, s, **kw: (
        calls.append(kw.get("gradients")), compute(self, s, **kw))[1])
    model = _model(chunk_size=3, validation_fraction=0.5).fit(ethanol)
    assert calls == [] and model.calibration_


def test_energy_only_fit_reproduces_training_set(ethanol):
    model = _model(energy(forces=False), n_sparse=90, sigma=1e-4, jitter=1e-8)
    model.fit(ethanol[:10])
    np.testing.assert_allclose(model.predict(ethanol[:10], targets=["energy"])["energy"],
                               energy().read(ethanol[:10]), atol=1e-5)


def test_forces_improve_the_fit(ethanol):
    ref = read_gradient_labels(energy(), ethanol[8:])["forces"]
    errs = []
    for target in (energy(forces=False), energy(forces=True)):
        model = _model(target, n_sparse=72).fit(ethanol[:8])
        errs.append(np.abs(model.predict(ethanol[8:])["forces"] - ref).mean())
    assert errs[1] < 0.7 * errs[0]


@pytest.mark.filterwarnings("ignore:The sparse-GP system")  # eight frames: near-singular
def test_validation_hyperparameters(ethanol):
    model = _model(hyperparameters="validation", validation_fraction=0.5,
                   n_sparse=10).fit(ethanol)
    h = model.fitted_
    assert h.delta > 0 and h.sigma > 0 and h.sigma_forces > 0
    assert (h.delta, h.sigma_forces) != (1.0, 0.05)
    assert set(model.calibration_) == {"energy", "forces"}
    # too few structures to hold 5 out: the given values are kept (and no calibration)
    small = _model(hyperparameters="validation", n_sparse=10).fit(ethanol[:8])
    assert (small.fitted_.delta, small.fitted_.sigma_forces) == (1.0, 0.05)
    assert small.calibration_ == {}
    lik = _model(hyperparameters="likelihood", n_sparse=40).fit(ethanol[:8])
    fixed = _model(n_sparse=40, hyperparameters="fixed").fit(ethanol[:8])
    assert lik.solution_.log_marginal_likelihood > fixed.solution_.log_marginal_likelihood


def test_frames_without_forces(ethanol):
    frames = [a.copy() for a in ethanol[:4]]
    for a, src in zip(frames, ethanol[:4], strict=True):
        a.calc = src.calc
    frames[2].calc = None
    frames[2].info["REF_energy"] = ethanol[2].get_potential_energy()
    with pytest.warns(UserWarning, match=re.escape(
            "1 of 4 training frames have no forces (first: ") + ".*" + re.escape(
            "(frame 2)); their energies are fitted without forces.")):
        _model(n_sparse=20).fit(frames)
    with pytest.raises(DataError, match="1 of 4 training frames have no forces"):
        _model(n_sparse=20, require_forces=True).fit(frames)


def test_likelihood_gradient_matches_finite_differences(ethanol):
    """The analytic gradient of the sparse LML in (log delta, log sigma, log sigma_F) that
    the likelihood search follows."""
    from atomlearn.models.sparse_gpr import search
    from atomlearn.models.sparse_gpr.equations import KernelRows
    from atomlearn.targets import Dataset

    model = _model(n_sparse=30).fit(ethanol[:6])
    data = model.baseline_.residual(Dataset.read(ethanol[:6], model.target_specs))
    builder = KernelRows(model.descriptor_, model.unit_kernel(), 20)
    terms, _ = builder.accumulate(data, model.target_specs[0], model.sparse_, 0.01)
    h = search.Hyperparameters(0.8, 3e-3, 0.07)
    value, grad = search.lml_and_gradient(terms, h, 1e-8)
    assert value == pytest.approx(h.solve(terms, 1e-8).log_marginal_likelihood)
    step = 1e-5
    for k in range(3):
        t = np.log([h.delta, h.sigma, h.sigma_forces])
        up, down = t.copy(), t.copy()
        up[k] += step
        down[k] -= step
        f_up = search.Hyperparameters(*np.exp(up)).solve(terms, 1e-8).log_marginal_likelihood
        f_dn = search.Hyperparameters(*np.exp(down)).solve(terms, 1e-8).log_marginal_likelihood
        assert grad[k] == pytest.approx((f_up - f_dn) / (2 * step), rel=1e-6, abs=1e-4)


def test_spectrum_and_per_atom_targets_share_one_factorisation(ethanol):
    """Every column of a spectrum is what a GP fitted to that column alone predicts (one
    factorisation serves them all); a per-atom target is learned per environment."""
    for a in ethanol:
        a.info["levels"] = np.array([a.info["homo"], a.info["lumo"]])
        a.info["homo_only"] = a.info["homo"]
    levels = _model(TargetSpec("levels", "spectrum", unit="eV", shape=(2,),
                               extensive=False)).fit(ethanol[:8])
    homo = _model(TargetSpec("homo_only", "scalar", unit="eV", extensive=False)
                  ).fit(ethanol[:8])
    p, s = levels.predict(ethanol[8:], return_std=True)
    q, t = homo.predict(ethanol[8:], return_std=True)
    np.testing.assert_allclose(p["levels"][:, 0], q["homo_only"], rtol=1e-10)
    np.testing.assert_allclose(s["levels"][:, 0], t["homo_only"], rtol=1e-10)


def test_errors(ethanol, fitted):
    with pytest.raises(NotFittedError, match="This SparseGPRModel instance is not fitted yet"):
        _model().predict(ethanol[:1])
    with pytest.raises(ConfigError, match=re.escape(
            "The 'n_sparse' parameter must be a positive int (sparse points per element) or a "
            "dict of positive ints per element symbol. Got 0")):
        _model(n_sparse=0).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape(
            "'n_sparse' has no count for element(s) ['O'] of the training set")):
        _model(n_sparse={"H": 3, "C": 3}).fit(ethanol[:2])
    with pytest.raises(DataError, match=re.escape(
            "2 of 2 training frames have no stress or are not periodic (first: ")):
        _model(energy(stress=True), n_sparse=10).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape("The fit needs about")
                       + ".*" + re.escape("Use fewer sparse points ('model.n_sparse', now 10)")):
        _model(n_sparse=10, memory_limit=1e-6).fit(ethanol[:2])
    for name, value in (("sigma", -1.0), ("sigma_forces", 0.0)):
        with pytest.raises(ConfigError, match=re.escape(
                f"Option 'model.{name}' must be positive. Got {value!r}.")):
            _model(**{name: value}).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape(
            "Model type 'sparse_gpr' cannot learn target 'dipole' of kind 'vector'; it learns "
            "['scalar', 'scalar per atom', 'spectrum', 'spectrum per atom']. Families that "
            "learn it: ['bpnn', 'mpnn', 'sa_gpr'].")):
        from atomlearn.targets import dipole

        _model(dipole()).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape(
            "Unknown option 'model.n_features' for model type 'sparse_gpr'; valid keys in "
            "'model' are") + ".*" + re.escape(
            "'n_features' is an option of model type(s) ['mpnn'], not of 'sparse_gpr'.")):
        _model(n_features=3)
    model, _ = fitted
    with pytest.raises(DataError, match="Stress needs fully periodic cells"):
        model.predict(ethanol[:1], targets=["stress"])


def test_the_example_potential_spells_out_the_defaults():
    """examples/ethanol_gpr.yaml is what a user gets with no options (the GAP-grade
    defaults of the benchmark), so neither can drift from the other."""
    from pathlib import Path

    from atomlearn.config import load_options
    from atomlearn.models.sparse_gpr.hypers import SparseGPRHypers
    from atomlearn.workflows import build_model

    example = Path(__file__).parents[2] / "examples" / "ethanol_gpr.yaml"
    assert build_model(load_options(example)).hypers == SparseGPRHypers()
