import re

import numpy as np
import pytest
from ase import Atoms

from atomlearn.errors import ConfigError, DataError
from atomlearn.targets import (
    TargetSpec,
    band_energies,
    density_coefficients,
    dos,
    energy,
    excitation_energies,
    orbital_energies,
    polarizability,
    target_from_options,
)


def test_predefined_specs():
    assert energy().gradients == ("forces",)
    assert energy(forces=False, stress=True).gradients == ("stress",)
    assert polarizability().kind == "rank2_symmetric" and polarizability().shape == (3, 3)
    assert dos(e_min=-1.0, e_max=1.0, spacing=0.1).shape == (21,)
    assert band_energies(27, 8).shape == (27, 8)
    assert excitation_energies(5).shape == (5,)
    assert orbital_energies(72).kind == "spectrum"
    d = density_coefficients(335)
    assert not d.per_atom and d.shape == (335,)
    assert d.metadata["basis"] == "def2-universal-jkfit"
    with pytest.raises(ConfigError, match="needs its 'shape'"):
        TargetSpec("density_coefficients", "density_coefficients", shape=(335,))


def test_roundtrip_dict():
    spec = dos(e_min=-1.0, e_max=1.0)
    back = TargetSpec.from_dict(spec.to_dict())
    assert back == spec and back.metadata == spec.metadata


def test_unknown_kind_and_target():
    with pytest.raises(ConfigError, match=re.escape("Unknown target kind 'tensor'")):
        TargetSpec("x", "tensor")
    with pytest.raises(ConfigError, match=re.escape(
            "Target 'enrgy' is not predefined (those are ['absorption', 'density_coefficients', "
            "'dipole', 'dos', "
            "'energy', 'excitation_energies', 'gap', 'hamiltonian', 'oscillator_strengths', "
            "'polarizability']); "
            "declare its layout") + ".*Did you mean 'energy'"):
        target_from_options("enrgy")


def test_targets_declared_by_their_layout():
    gap = target_from_options("gap", {"kind": "scalar", "unit": "eV", "extensive": False,
                                      "weight": 2.0})
    assert gap.layout == ("scalar", False) and not gap.extensive and gap.weight == 2.0
    levels = target_from_options("levels", {"kind": "spectrum", "shape": [14]})
    assert levels.shape == (14,)
    assert target_from_options("e", {"kind": "scalar", "forces": True}).gradients == (
        "forces",)
    with pytest.raises(ConfigError, match=re.escape(
            "Unknown option 'unt' of target 'gap'; valid options are")):
        target_from_options("gap", {"kind": "scalar", "unt": "eV"})
    with pytest.raises(ConfigError, match=re.escape(
            "Unknown option 'extensive' of target 'dipole'; valid options are ['unit', "
            "'weight']")):
        target_from_options("dipole", {"extensive": False})
    with pytest.raises(ConfigError, match=re.escape(
            "Target 'mu' of kind 'vector' has shape (3,) per structure; got shape (4,)")):
        target_from_options("mu", {"kind": "vector", "shape": [4]})
    with pytest.raises(ConfigError, match=re.escape(
            "Target 'dos' of kind 'spectrum' needs its 'shape'")):
        target_from_options("dos", {"kind": "spectrum"})
    with pytest.raises(ConfigError, match=re.escape(
            "Target 'levels' asks for ['forces'], but forces and stress are derivatives of a "
            "per-structure scalar (an energy); it is 'spectrum'")):
        target_from_options("levels", {"kind": "spectrum", "shape": [3], "forces": True})


def test_dataset_reads_labels_per_structure_and_per_atom(ethanol):
    from atomlearn.targets import Dataset

    charges = TargetSpec("charges", "scalar", per_atom=True, unit="e")
    for i, a in enumerate(ethanol[:3]):
        a.arrays["charges"] = np.arange(9.0) + i
    data = Dataset.read(ethanol[:3], [energy(forces=True), charges])
    assert data.labels["energy"].shape == (3,) and data.labels["forces"].shape == (27, 3)
    assert data.labels["charges"].shape == (27,)
    part = data.subset([2, 0])
    np.testing.assert_array_equal(part.labels["charges"][:9], np.arange(9.0) + 2)
    np.testing.assert_array_equal(part.labels["forces"][9:], data.labels["forces"][:9])
    with pytest.raises(DataError, match=re.escape(
            "has shape (); expected (3,) for a 'vector' target. Fix the label or the "
            "target's declared kind and shape.")):
        Dataset.read(ethanol[:2], [TargetSpec("gap", "vector", shape=(3,))])
    with pytest.raises(DataError, match=re.escape(
            "Labels of target 'energy' ('scalar') must have shape (2,); got (3,).")):
        Dataset.read(ethanol[:2], [energy(forces=False)], labels={"energy": np.zeros(3)})


def test_non_symmetric_polarizability_is_symmetrised_with_warning():
    a = Atoms("H")
    a.info["polarizability"] = np.array([[1.0, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.warns(UserWarning, match="not symmetric \\(largest asymmetry 0.2"):
        value = polarizability().read([a])
    np.testing.assert_allclose(value[0, 0, 1], 0.1)
