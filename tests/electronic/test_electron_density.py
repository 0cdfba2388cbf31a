"""What a density is used for, with PySCF: the shipped coefficients are the Coulomb fit
of the SCF density (recomputed here), their grid error is the fitting floor, a Kohn-Sham
start from them gives the converged levels and saves SCF cycles, an SCF from a predicted
density converges to the same energy as from minao, and cube files read back."""

import numpy as np
import pytest

from atomlearn import electron_density as ed
from atomlearn.datasets import load_ethanol_densities
from atomlearn.targets import density as dens


@pytest.fixture(scope="module")
def frame():
    return load_ethanol_densities(1500)[0]


@pytest.fixture(scope="module")
def converged(frame):
    mf, start = ed.converged_scf(frame, "minao")
    assert mf.converged and start is None
    return mf


def test_shipped_coefficients_are_the_coulomb_fit_and_their_floor(frame, converged):
    from pyscf import df

    mol, c = converged.mol, frame.info["density_coefficients"]
    aux = dens.auxiliary_molecule(frame)
    projected = np.einsum("ijp,ij->p", df.incore.aux_e2(mol, aux, "int3c2e"),
                          converged.make_rdm1())
    fit = np.linalg.solve(aux.intor("int2c2e"), projected)
    np.testing.assert_allclose(fit, c, atol=2e-5 * np.abs(c).max())
    # the density-fitting floor: about 1 % of the electrons misplaced (Coulomb fits
    # trade local accuracy for the Hartree energy)
    floor = ed.integrated_error(frame, c, converged.make_rdm1())
    assert 0.5 < floor < 1.5
    assert ed.integrated_error(frame, fit, converged.make_rdm1()) == pytest.approx(
        floor, abs=1e-3)
    # against the fitted density itself the fit has no error, a scaled one has
    assert ed.integrated_error(frame, c, reference=c) == 0.0
    assert ed.integrated_error(frame, 1.01 * c, reference=c) == pytest.approx(1.0, rel=1e-3)
    # and the integral of the exact density on that grid is the electron count
    assert ed.integrated_error(frame, 0 * c, converged.make_rdm1()) == pytest.approx(
        100.0, abs=1e-3)


def test_start_from_a_density(frame, converged):
    start = ed.start_from_density(ed.kohn_sham(frame), frame,
                                  frame.info["density_coefficients"])
    levels = converged.mo_energy * 27.211386245988
    assert start.n_occupied == 13
    assert abs(start.homo - levels[12]) < 0.01
    assert abs(start.lumo - levels[13]) < 0.02
    S = converged.get_ovlp()
    assert np.trace(start.dm @ S) == pytest.approx(26.0, abs=1e-8)
    mf, again = ed.converged_scf(frame, frame.info["density_coefficients"],
                                 start_grid_level=None)
    np.testing.assert_array_equal(again.dm, start.dm)
    assert mf.e_tot == pytest.approx(converged.e_tot, abs=1e-7)
    assert mf.cycles < converged.cycles
    # the default start integrates its XC on PySCF's coarsest grid: a different, still
    # good guess
    mf, coarse = ed.converged_scf(frame, frame.info["density_coefficients"])
    assert 1e-4 < np.abs(coarse.dm - start.dm).max() < 0.05
    assert abs(coarse.homo - levels[12]) < 0.05
    assert mf.e_tot == pytest.approx(converged.e_tot, abs=1e-7)
    assert mf.cycles < converged.cycles


def test_scf_from_a_predicted_density_reaches_the_minao_energy(frame, converged):
    from atomlearn.models import SymmetryAdaptedGPRModel
    from atomlearn.targets import density_coefficients

    train = load_ethanol_densities(":400:20")
    model = SymmetryAdaptedGPRModel(
        density_coefficients(335), n_sparse=10, hyperparameters="fixed",
        descriptor={"cutoff": 3.5, "n_max": 3, "l_max": 2, "atom_width": 0.3},
        density={"metric_weight": 10.0, "metric_iterations": 30}).fit(train)
    c = model.predict([frame])["density_coefficients"][0]
    mf, _ = ed.converged_scf(frame, c)
    assert mf.converged
    assert mf.e_tot == pytest.approx(converged.e_tot, abs=1e-7)


def test_cube_file_reads_back(frame, tmp_path):
    from ase.io.cube import read_cube_data

    c = frame.info["density_coefficients"]
    path = ed.write_cube(tmp_path / "rho.cube", frame, c, points=24)
    values, atoms = read_cube_data(str(path))
    assert values.shape == (24, 24, 24)
    np.testing.assert_allclose(atoms.positions, frame.positions, atol=1e-5)
    np.testing.assert_array_equal(atoms.numbers, frame.numbers)
    # the values are the density at the cube's points (origin and spacing from the file)
    with open(path) as fh:
        lines = fh.readlines()
    origin = np.array(lines[2].split()[1:4], float)
    steps = np.array([line.split()[1:4] for line in lines[3:6]], float)
    index = np.array([5, 11, 17])
    point = origin + index @ steps
    assert values[tuple(index)] == pytest.approx(
        ed.density_on_grid(frame, c, point[None])[0], rel=1e-4, abs=1e-8)


def test_scf_of_an_open_shell_is_refused(frame):
    from atomlearn.errors import DataError

    radical = frame.copy()
    radical.info["charge"] = 1
    with pytest.raises(DataError, match="odd number of electrons.*info 'charge'"):
        ed.converged_scf(radical, "minao")
