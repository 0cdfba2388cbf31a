"""Observables of a DOS against their analytic values: the Fermi level of two levels and of
free electrons, the Sommerfeld heat capacity, C_el as dU/dT, uncertainties by sampling."""

import numpy as np
import pytest
from scipy.optimize import brentq

from atomlearn.metrics import electronic as E
from atomlearn.targets.density_of_states import K_B, fermi_dirac


def _gaussians(grid, centres, weights, sigma):
    x = (grid[:, None] - np.asarray(centres)[None, :]) / sigma
    return (np.exp(-0.5 * x**2) * weights).sum(1) / (np.sqrt(2 * np.pi) * sigma)


def test_fermi_level_of_two_levels_of_unequal_degeneracy():
    """2 states at E1, 4 at E2, 2 electrons: mu sits kT ln2 / 2 below mid-gap (from
    1 - f(E1) = 2 f(E2)), checked against the exact root for the discrete levels."""
    e1, e2, temperature = -0.3, 0.3, 600.0
    grid = np.arange(-0.8, 0.8, 0.0005)
    dos = _gaussians(grid, [e1, e2], [2.0, 4.0], sigma=0.002)
    kt = K_B * temperature
    exact = brentq(lambda mu: 2 * fermi_dirac(np.array(e1), mu, temperature)
                   + 4 * fermi_dirac(np.array(e2), mu, temperature) - 2.0, e1, e2)
    mu = E.fermi_level(grid, dos, 2.0, temperature)
    assert mu == pytest.approx(exact, abs=2e-4)
    assert mu == pytest.approx(-0.5 * kt * np.log(2.0), abs=1e-3)   # not the mid-gap 0


def test_free_electrons_fermi_level_and_sommerfeld_heat_capacity():
    """g = C sqrt(E): N = 2/3 C E_F^1.5 at T = 0, mu(T) = E_F (1 - pi^2/12 (kT/E_F)^2),
    C_el = pi^2/3 k_B^2 T g(E_F)."""
    c, e_f = 3.0, 5.0
    grid = np.linspace(0.0, 12.0, 60001)
    dos = c * np.sqrt(grid)
    n = 2.0 / 3.0 * c * e_f**1.5
    assert E.fermi_level(grid, dos, n, temperature=1.0) == pytest.approx(e_f, abs=1e-4)
    temperature = 3000.0
    kt = K_B * temperature
    sommerfeld = e_f * (1 - np.pi**2 / 12 * (kt / e_f) ** 2)
    assert E.fermi_level(grid, dos, n, temperature) == pytest.approx(sommerfeld, abs=2e-4)
    c_el = E.heat_capacity(grid, dos, n, temperature)
    assert c_el == pytest.approx(np.pi**2 / 3 * K_B**2 * temperature * c * np.sqrt(e_f),
                                 rel=0.01)


def test_heat_capacity_is_the_temperature_derivative_of_the_energy():
    """C_el(T) against a central difference of U = band energy + mu N at fixed N."""
    rng = np.random.default_rng(3)
    grid = np.arange(-8.0, 4.0, 0.005)
    dos = _gaussians(grid, rng.uniform(-7, 3, 40), np.full(40, 2.0), sigma=0.15)
    n = 30.0

    def energy(t):
        mu = E.fermi_level(grid, dos, n, t)
        return E.band_energy(grid, dos, mu, t) + mu * n

    for temperature in (300.0, 1500.0):
        h = 2.0
        fd = (energy(temperature + h) - energy(temperature - h)) / (2 * h)
        assert E.heat_capacity(grid, dos, n, temperature) == pytest.approx(fd, rel=1e-4)


def test_dos_at_the_fermi_level_and_gap():
    grid = np.arange(-6.0, 6.0, 0.01)
    dos = _gaussians(grid, [-4.0, -3.0, 2.0, 3.0], np.full(4, 2.0), sigma=0.1)
    mu = E.fermi_level(grid, dos, 4.0, 300.0)
    assert mu == pytest.approx(-0.5, abs=1e-3)                  # mid-gap
    assert E.dos_at(grid, dos, mu) == pytest.approx(0.0, abs=1e-12)
    # a 5 eV level spacing less the Gaussians' tails above 1% of the peak
    tail = 0.1 * np.sqrt(2 * np.log(100))
    assert E.gap(grid, dos, mu) == pytest.approx(5.0 - 2 * tail, abs=0.03)
    metal = _gaussians(grid, np.linspace(-5, 5, 41), np.full(41, 2.0), sigma=0.3)
    assert E.gap(grid, metal, E.fermi_level(grid, metal, 40.0)) == 0.0


def test_too_many_electrons_for_the_grid_is_refused():
    grid = np.arange(-3.0, 3.0, 0.01)
    dos = _gaussians(grid, [-1.0], [2.0], sigma=0.1)
    with pytest.raises(ValueError, match="holds 2 electrons on its grid; it cannot hold 4"):
        E.fermi_level(grid, dos, 4.0)


def test_sampled_uncertainties_grow_with_the_dos_std():
    grid = np.arange(-6.0, 4.0, 0.02)
    dos = _gaussians(grid, np.linspace(-5, 3, 17), np.full(17, 2.0), sigma=0.3)
    small = E.observables(grid, dos, 20.0, dos_std=np.full_like(dos, 0.01))
    large = E.observables(grid, dos, 20.0, dos_std=np.full_like(dos, 0.04))
    for name in ("fermi_level", "band_energy", "heat_capacity"):
        assert 0 < small.std[name] < large.std[name]
        assert large.std[name] / small.std[name] == pytest.approx(4.0, rel=0.35)
    exact = E.observables(grid, dos, 20.0, reference=-3.0)
    assert exact.std is None
    assert exact.fermi_level == pytest.approx(E.fermi_level(grid, dos, 20.0) - 3.0)


def test_a_noisy_gap_puts_the_fermi_level_in_its_middle():
    """A predicted insulator's DOS is never exactly zero in the gap: small positive noise
    there would pull the counted mu to a band edge. Within the DOS's std of zero, the
    observables place it mid-gap, as the labels' Fermi level of gapped levels is."""
    grid = np.arange(-8.0, 6.0, 0.01)
    clean = _gaussians(grid, [-6.0, -5.0, -4.0, 2.0, 3.0], np.full(5, 2.0), sigma=0.2)
    noise = 0.01 * (1 + np.sin(7 * grid))                 # >= 0: holds extra electrons
    dos = clean + noise
    counted = E.fermi_level(grid, dos, 6.0, 300.0)
    obs = E.observables(grid, dos, 6.0, dos_std=np.full_like(dos, 0.02), n_samples=8)
    assert abs(counted - (-1.0)) > 1.0                    # the count alone is off
    assert obs.fermi_level == pytest.approx(-1.0, abs=0.05)   # between -4 and 2 eV
    # the levels' 6 eV less their Gaussians' tails down to twice the std (2 x 0.6 eV)
    assert obs.gap == pytest.approx(4.8, abs=0.1)
    # a metal has no such gap: its Fermi level is the count's
    metal = _gaussians(grid, np.linspace(-7, 5, 49), np.full(49, 2.0), sigma=0.3)
    assert E.observables(grid, metal, 40.0).fermi_level == pytest.approx(
        E.fermi_level(grid, metal, 40.0))
