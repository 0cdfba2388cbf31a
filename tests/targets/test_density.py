"""Density coefficients as a target: the layout's channels are exact and rotate like
lambda-SOAP (PySCF's p order converted), the auxiliary functions' moments are the data's
integrals, and the data's fitted densities give the electron count and dipole."""

import numpy as np
import pytest

from atomlearn.datasets import load_ethanol_densities, load_extra
from atomlearn.targets import density as dens
from atomlearn.targets.operators import AtomicOrbitals
from atomlearn.testing import random_rotation, rotate


@pytest.fixture(scope="module")
def frames():
    return load_ethanol_densities(":40:4")


def test_layout_round_trip(frames):
    C = np.stack([a.info["density_coefficients"] for a in frames])
    numbers = frames[0].numbers
    layout = dens.DensityLayout(AtomicOrbitals.from_pyscf(dens.DEFAULT_BASIS, numbers))
    parts = layout.decompose(C, numbers)
    # carbon: 10 s, 8 p, 5 d, 1 f, 1 g shells of def2-universal-jkfit; two C atoms
    assert parts[("atom", 6, 0, 1)].shape == (2 * len(C), 1, 10)
    assert parts[("atom", 6, 1, 1)].shape == (2 * len(C), 3, 8)
    assert parts[("atom", 8, 4, 1)].shape == (len(C), 9, 1)
    assert sum(v.size for v in parts.values()) == C.size
    np.testing.assert_array_equal(layout.assemble(parts, numbers, len(C)), C)
    # p components come out as featomic's (y, z, x); PySCF stores x, y, z
    extra = load_extra("ethanol")
    first_p = int(np.flatnonzero(extra["aux_l"] == 1)[0])
    np.testing.assert_array_equal(parts[("atom", 6, 1, 1)][0, :, 0],
                                  C[0, first_p + np.array([1, 2, 0])])


def test_moments_and_observables_of_the_reference_densities(frames):
    extra = load_extra("ethanol")
    charge, _ = dens.moments(frames[0])
    np.testing.assert_allclose(charge, extra["aux_integrals"], atol=1e-6)
    C = np.stack([a.info["density_coefficients"] for a in frames])
    np.testing.assert_allclose(dens.electrons(C, frames),
                               [a.info["density_fit_nelec"] for a in frames], atol=1e-6)
    # the Coulomb fit reproduces the SCF dipole to about 1 % (3e-3 e Å of ~0.35)
    dipoles = dens.dipoles(C, frames)
    reference = np.stack([a.get_dipole_moment() for a in frames])
    assert np.abs(dipoles - reference).max() < 6e-3
    # the fitted densities hold 25.9993 electrons: their dipole moves with the origin
    # until they are normalised
    moved = [a.copy() for a in frames[:2]]
    for a in moved:
        a.positions += [1.0, -2.0, 0.5]
    assert np.abs(dens.dipoles(C[:2], moved) - dipoles[:2]).max() > 1e-3
    neutral = dens.normalise(C[:2], frames[:2])
    np.testing.assert_allclose(dens.dipoles(neutral, moved),
                               dens.dipoles(neutral, frames[:2]), atol=1e-9)


def test_moments_from_element_tables_equal_the_whole_molecules_integrals(frames):
    # per-element tables moved to each atom against libcint on the whole molecule
    from pyscf import gto

    aux = dens.auxiliary_molecule(frames[3])
    flat = gto.M(atom=[["X", (0.0, 0.0, 0.0)]], basis={"X": [[0, [1e-14, 1.0]]]},
                 unit="Bohr", verbose=0)
    value = flat.eval_gto("GTOval", np.zeros((1, 3)))[0, 0]
    charge, dipole = dens.moments(frames[3])
    np.testing.assert_allclose(charge, gto.intor_cross("int1e_ovlp", aux, flat)[:, 0] / value,
                               atol=1e-9)
    np.testing.assert_allclose(dipole, gto.intor_cross("int1e_r", aux, flat)[:, :, 0] / value,
                               atol=1e-8)


def test_normalise_makes_the_count_exact_with_the_s_coefficients_only(frames):
    C = np.stack([a.info["density_coefficients"] for a in frames[:3]])
    fixed = dens.normalise(C * 1.01, frames[:3])
    np.testing.assert_allclose(dens.electrons(fixed, frames[:3]), 26.0, atol=1e-10)
    s = load_extra("ethanol")["aux_l"] == 0
    np.testing.assert_array_equal(fixed[:, ~s], 1.01 * C[:, ~s])


def test_density_values_follow_a_rotation_through_the_layout(frames):
    """Rotating the channels' components with real Wigner matrices in featomic's order
    (via lambda-SOAP's own rotation of an l-block) gives the density of the rotated
    molecule: the p-order conversion and the m convention are right."""
    from atomlearn.electron_density import density_on_grid
    from atomlearn.testing import orbital_rotation

    a = frames[0]
    c = a.info["density_coefficients"]
    R = random_rotation(3)
    orbitals = AtomicOrbitals.from_pyscf(dens.DEFAULT_BASIS, a.numbers)
    D = orbital_rotation(orbitals, a.numbers, R)
    rotated = rotate(a, R)
    points = np.random.default_rng(0).normal(scale=2.0, size=(50, 3))
    before = density_on_grid(a, c, points)
    after = density_on_grid(rotated, D.T @ c, points @ R.T)
    np.testing.assert_allclose(after, before, atol=1e-8 * np.abs(before).max())
