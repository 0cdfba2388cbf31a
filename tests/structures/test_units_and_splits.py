import re

import numpy as np
import pytest
from ase import units

from atomlearn.errors import ConfigError
from atomlearn.structures import convert, split_indices


def test_convert():
    assert convert(1.0, "Hartree", "eV") == pytest.approx(units.Hartree)
    np.testing.assert_allclose(convert(np.array([1.0, 2.0]), "Debye", "e·Å"),
                               np.array([1.0, 2.0]) * units.Debye)
    assert convert(1.0, "Bohr^3", "Å^3") == pytest.approx(units.Bohr**3)


def test_convert_errors():
    with pytest.raises(ConfigError, match=re.escape("Unknown unit 'Hartre'")):
        convert(1.0, "Hartre", "eV")
    with pytest.raises(ConfigError, match=re.escape("Cannot convert 'eV' (energy) to 'Bohr'")):
        convert(1.0, "eV", "Bohr")


def test_split_is_seeded_and_disjoint():
    a = split_indices(100, validation_fraction=0.1, test_fraction=0.2, seed=3)
    b = split_indices(100, validation_fraction=0.1, test_fraction=0.2, seed=3)
    c = split_indices(100, validation_fraction=0.1, test_fraction=0.2, seed=4)
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)
    assert len(a.train) == 70 and len(a.validation) == 10 and len(a.test) == 20
    assert len(set(a.train) | set(a.validation) | set(a.test)) == 100


def test_n_train_keeps_test_set():
    full = split_indices(50, test_fraction=0.2, seed=1)
    small = split_indices(50, test_fraction=0.2, seed=1, n_train=5)
    np.testing.assert_array_equal(full.test, small.test)
    assert set(small.train) <= set(full.train) and len(small.train) == 5


def test_split_errors():
    with pytest.raises(ConfigError, match=re.escape("'n_train' must be in [1, 40]")):
        split_indices(50, test_fraction=0.2, n_train=41)
    with pytest.raises(ConfigError, match="'test_fraction' must be in"):
        split_indices(50, test_fraction=1.5)
