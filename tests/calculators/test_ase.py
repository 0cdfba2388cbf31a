import re

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError

from atomlearn.calculators import ModelCalculator
from atomlearn.errors import ModelFileError
from atomlearn.models import SparseGPRModel
from atomlearn.targets import energy


@pytest.fixture(scope="module")
def model():
    from atomlearn.structures import read_structures
    from conftest import DATA

    frames = read_structures(DATA / "ethanol_10.extxyz")
    return SparseGPRModel(descriptor={"cutoff": 3.5, "n_max": 3, "l_max": 2},
                          n_sparse=40).fit(frames[:8])


def _numeric_forces(atoms, d=1e-4):
    out = np.zeros((len(atoms), 3))
    for i in range(len(atoms)):
        for a in range(3):
            p, m = atoms.copy(), atoms.copy()
            p.calc, m.calc = atoms.calc, atoms.calc
            p.positions[i, a] += d
            m.positions[i, a] -= d
            out[i, a] = -(p.get_potential_energy() - m.get_potential_energy()) / (2 * d)
    return out


def test_calculator_forces_match_finite_differences(model, ethanol):
    atoms = ethanol[9].copy()
    atoms.calc = ModelCalculator(model)
    forces = atoms.get_forces()
    np.testing.assert_allclose(forces, _numeric_forces(atoms), atol=1e-6)
    assert atoms.get_potential_energy() == pytest.approx(
        model.predict([ethanol[9]])["energy"][0])
    assert atoms.calc.get_property("free_energy", atoms) == atoms.get_potential_energy()
    std = atoms.calc.get_property("forces_std", atoms)
    assert std.shape == (9, 3) and np.all(std > 0)
    assert atoms.calc.get_property("energy_std", atoms) > 0


def test_calculator_from_file_and_errors(tmp_path, model, ethanol):
    model.save(tmp_path / "m.alm")
    calc = ModelCalculator(tmp_path / "m.alm")
    assert set(calc.implemented_properties) >= {"energy", "free_energy", "forces", "stress",
                                                 "energy_std", "forces_std"}
    atoms = ethanol[0].copy()
    atoms.calc = calc
    with pytest.raises(PropertyNotImplementedError, match="needs a fully periodic cell"):
        atoms.get_stress()
    with pytest.raises(ModelFileError, match=re.escape(
            f"Model file '{tmp_path / 'none.alm'}' does not exist")):
        ModelCalculator(tmp_path / "none.alm")


def test_periodic_stress_and_supercell():
    rng = np.random.default_rng(2)
    cells = []
    for _ in range(5):
        a = bulk("Si", "diamond", a=5.43)
        a.positions += rng.normal(scale=0.1, size=a.positions.shape)
        a.info["REF_energy"] = float(rng.normal())  # any labels: stress is a derivative
        cells.append(a)
    model = SparseGPRModel(energy(forces=False), descriptor={"cutoff": 4.5, "n_max": 3,
                                                             "l_max": 2},
                           n_sparse=8, sigma=0.01).fit(cells)
    atoms = cells[0].copy()
    atoms.calc = ModelCalculator(model)
    stress = atoms.get_stress()
    from ase.calculators.fd import calculate_numerical_stress

    numeric = calculate_numerical_stress(atoms, eps=1e-5)
    np.testing.assert_allclose(stress, numeric, atol=1e-7)
    big = atoms.repeat((2, 1, 1))
    big.calc = ModelCalculator(model)
    assert big.get_potential_energy() == pytest.approx(2 * atoms.get_potential_energy())
    np.testing.assert_allclose(big.get_stress(), stress, atol=1e-10)
