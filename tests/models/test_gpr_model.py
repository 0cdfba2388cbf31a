import re

import numpy as np
import pytest
from ase.build import molecule

from atomlearn.descriptors import SoapPowerSpectrum
from atomlearn.errors import ConfigError, DataError, NotFittedError
from atomlearn.models import Model, SparseGPRModel, load_model
from atomlearn.targets import energy
from atomlearn.testing import random_rotation, rotate


def _model(**kw):
    params = dict(descriptor=SoapPowerSpectrum(cutoff=3.5, n_max=3, l_max=2),
                  n_sparse=20, sigma=1e-3)
    params.update(kw)
    return SparseGPRModel(**params)


def test_protocol_and_targets():
    model = _model()
    assert isinstance(model, Model)
    assert model.supported_targets["energy"].unit == "eV"


def test_fit_predict_roundtrip(tmp_path, ethanol):
    model = _model().fit(ethanol[:8])
    pred, std = model.predict(ethanol[8:], return_std=True)
    assert pred["energy"].shape == (2,) and std["energy"].shape == (2,)
    assert np.all(std["energy"] > 0)
    path = tmp_path / "m.alm"
    model.save(path)
    loaded = load_model(path)
    p2, s2 = loaded.predict(ethanol[8:], return_std=True)
    np.testing.assert_array_equal(p2["energy"], pred["energy"])
    np.testing.assert_array_equal(s2["energy"], std["energy"])


def test_small_regularisation_reproduces_training_energies(ethanol):
    # every environment a sparse point and tiny noise: the GP interpolates the labels
    model = _model(n_sparse=90, sigma=1e-4, jitter=1e-8).fit(ethanol[:10])
    ref = energy().read(ethanol[:10])
    np.testing.assert_allclose(model.predict(ethanol[:10])["energy"], ref, atol=1e-5)
    # at noise so small that rounding breaks positive definiteness, the solver repairs
    # the system, says so, and still interpolates
    with pytest.warns(UserWarning, match="is singular to working precision; added"):
        tight = _model(n_sparse=90, sigma=1e-6, jitter=1e-10).fit(ethanol[:10])
    np.testing.assert_allclose(tight.predict(ethanol[:10])["energy"], ref, atol=1e-6)


def test_energy_is_invariant(ethanol):
    model = _model().fit(ethanol[:8])
    atoms = ethanol[9]
    moved = rotate(atoms, random_rotation(3))
    moved.positions += [0.7, -1.1, 2.0]
    perm = [0, 1, 2, 4, 3, 5, 6, 8, 7]  # swap like hydrogens
    e = model.predict([atoms, moved, atoms[perm]])["energy"]
    np.testing.assert_allclose(e, e[0], atol=1e-9)


def test_learns_something(ethanol):
    """Held-out error below the spread of the energies (a real fit, not a constant)."""
    model = _model(n_sparse=60).fit(ethanol[:8])
    ref = energy().read(ethanol[8:])
    err = np.abs(model.predict(ethanol[8:])["energy"] - ref).max()
    assert err < np.std(energy().read(ethanol))


def test_errors(ethanol):
    with pytest.raises(NotFittedError, match="This SparseGPRModel instance is not fitted yet"):
        _model().predict(ethanol[:1])
    with pytest.raises(ConfigError, match=re.escape(
            "The 'n_sparse' parameter must be an int in the range [1, n_environments]. Got "
            "500 instead (the training set has 18 environments).")):
        _model(n_sparse=500).fit(ethanol[:2])
    with pytest.raises(ConfigError, match=re.escape(
            "SparseGPRModel does not learn ['forces'] yet")):
        _model(target=energy(forces=True)).fit(ethanol[:2])
    model = _model().fit(ethanol[:4])
    with pytest.raises(DataError, match=re.escape(
            "contains element(s) ['N'] that this descriptor was not set up for")):
        model.predict([molecule("NH3")])
