import re

import numpy as np
import pytest
from ase import Atoms

from atomlearn.errors import ConfigError
from atomlearn.targets import (
    TargetSpec,
    band_energies,
    density_coefficients,
    dos,
    energy,
    excitations,
    orbital_energies,
    polarizability,
    target_from_options,
)


def test_predefined_specs():
    assert energy().gradients == ("forces",)
    assert energy(forces=False, stress=True).gradients == ("stress",)
    assert polarizability().kind == "rank2_symmetric" and polarizability().shape == (3, 3)
    assert dos([0.0, 0.1, 0.2]).shape == (3,)
    assert band_energies(27, 8).shape == (27, 8)
    assert excitations(10).shape == (10,)
    assert orbital_energies(72).kind == "spectrum"
    d = density_coefficients({"H": [0, 0, 1], "C": [0, 1, 2]})
    assert d.per_atom and d.shape == (9,)


def test_roundtrip_dict():
    spec = dos([0.0, 0.5])
    assert TargetSpec.from_dict(spec.to_dict()) == spec


def test_unknown_kind_and_target():
    with pytest.raises(ConfigError, match=re.escape("Unknown target kind 'tensor'")):
        TargetSpec("x", "tensor")
    with pytest.raises(ConfigError, match=re.escape("Unknown target 'enrgy'") + ".*energy"):
        target_from_options("enrgy")


def test_non_symmetric_polarizability_is_symmetrised_with_warning():
    a = Atoms("H")
    a.info["polarizability"] = np.array([[1.0, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.warns(UserWarning, match="not symmetric \\(largest asymmetry 0.2"):
        value = polarizability().read([a])
    np.testing.assert_allclose(value[0, 0, 1], 0.1)
