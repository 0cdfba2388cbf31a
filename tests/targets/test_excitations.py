"""Excitation targets: the lowest states from the info, the broadened absorption spectrum,
the shipped TDA frames, and the refusals."""

import re

import numpy as np
import pytest
from ase import Atoms

from atomlearn.datasets import load_ethanol_excitations, load_extra
from atomlearn.errors import ConfigError, DataError
from atomlearn.targets import absorption, excitation_energies, oscillator_strengths
from atomlearn.targets import excitations as X
from atomlearn.targets.spec import target_from_options


def _molecule(energies, strengths):
    a = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    a.info.update({"excitation_energies": np.asarray(energies, float),
                   "oscillator_strengths": np.asarray(strengths, float)})
    return a


@pytest.mark.parametrize("line", ["gaussian", "lorentzian"])
def test_broadening_integrates_to_the_sum_of_strengths(line):
    frame = _molecule([6.1, 7.3, 8.0], [0.02, 0.15, 0.4])
    spec = absorption(e_min=0.0, e_max=40.0, spacing=0.01, width=0.2, line=line,
                      n_states=3)
    sigma = spec.read([frame])[0]
    grid = X.absorption_options(spec).grid
    area = np.trapezoid(sigma, grid)
    if line == "gaussian":
        assert area == pytest.approx(0.57, rel=1e-6)
        # one line has the width's second moment
        one = absorption(e_min=0.0, e_max=40.0, spacing=0.01, width=0.2, n_states=1)
        g = one.read([frame])[0]
        mean = np.trapezoid(g * grid, grid) / np.trapezoid(g, grid)
        assert mean == pytest.approx(6.1)
        assert np.trapezoid(g * (grid - 6.1) ** 2, grid) / np.trapezoid(g, grid) == \
            pytest.approx(0.04, rel=1e-6)
    else:      # a Lorentzian's tails beyond the grid are missing: arctan of the ends
        inside = sum(f / np.pi * (np.arctan((40.0 - e) / 0.2) - np.arctan(-e / 0.2))
                     for e, f in zip([6.1, 7.3, 8.0], [0.02, 0.15, 0.4], strict=True))
        assert area == pytest.approx(inside, rel=1e-4)


def test_lowest_states_are_read_and_the_ensemble_spectrum_is_the_mean():
    frames = [_molecule([6.0, 7.0, 9.0], [0.1, 0.0, 0.3]),
              _molecule([6.5, 7.5, 9.5], [0.2, 0.1, 0.0])]
    np.testing.assert_allclose(excitation_energies(2).read(frames), [[6, 7], [6.5, 7.5]])
    np.testing.assert_allclose(oscillator_strengths(3).read(frames)[1], [0.2, 0.1, 0.0])
    spec = absorption(e_min=4.0, e_max=12.0, n_states=3)
    each = spec.read(frames)
    options = X.absorption_options(spec)
    energies = X.read_states(frames, "excitation_energies", 3)
    strengths = X.read_states(frames, "oscillator_strengths", 3)
    # broadening is linear: the mean of the frames' spectra is the spectrum of all lines
    pooled = X.broadened(energies.reshape(1, -1), strengths.reshape(1, -1) / 2, options)
    np.testing.assert_allclose(each.mean(0), pooled[0], atol=1e-12)


def test_the_shipped_tda_frames_carry_their_excitations():
    frames = load_ethanol_excitations()
    extra = load_extra("ethanol")
    assert len(frames) == 350 == len(extra["tda_frames"])
    np.testing.assert_allclose(excitation_energies(10).read(frames), extra["exc_energies"])
    np.testing.assert_allclose(oscillator_strengths(10).read(frames),
                               extra["osc_strengths"])
    assert frames[0].info["has_tda"]


def test_yaml_options_and_refusals():
    spec = target_from_options("absorption", {"e_min": "5", "width": 0.3, "line": "lorentzian"})
    assert X.absorption_options(spec).line == "lorentzian" and spec.unit == "1/eV"
    assert target_from_options("excitation_energies", {"n_states": 5}).shape == (5,)
    with pytest.raises(ConfigError, match=re.escape(
            "The line width (0.01 eV) is smaller than the grid spacing (0.02 eV)")):
        absorption(width=0.01)
    with pytest.raises(ConfigError, match="Unknown absorption line shape 'voigt'"):
        absorption(line="voigt")
    with pytest.raises(ConfigError, match="'n_states' must be at least 1; got 0"):
        excitation_energies(0)
    few = _molecule([6.0, 7.0], [0.1, 0.2])
    with pytest.raises(DataError, match=re.escape(
            "structure 0 has 2 excitation energies, fewer than the 5 states the target "
            "expects")):
        excitation_energies(5).read([few])
    with pytest.raises(DataError, match="structure 1 has negative oscillator strengths"):
        oscillator_strengths(2).read([few, _molecule([6.0, 7.0], [0.1, -0.2])])
    with pytest.raises(DataError, match="oscillator strengths of structure 0 are not all"):
        oscillator_strengths(2).read([_molecule([6.0, 7.0], [0.1, np.nan])])
    with pytest.raises(DataError, match=re.escape(
            "The absorption grid [5.0, 8.0] eV misses an excitation of structure 0 "
            "1.75 eV above")):
        absorption(e_min=5.0, e_max=8.0, n_states=2).read([_molecule([6.0, 9.0],
                                                                     [0.1, 0.2])])
    with pytest.raises(DataError, match="has no 'excitation_energies' in its info"):
        excitation_energies(2).read([Atoms("H")])


def test_matched_peaks_pair_each_reference_peak_with_the_nearest_predicted_one():
    from atomlearn.metrics import matched_peaks

    options = X.AbsorptionOptions(width=0.2)
    reference = X.broadened(np.array([[6.0, 8.0, 11.0]]), np.array([[0.1, 0.3, 0.2]]),
                            options)[0]
    predicted = X.broadened(np.array([[6.1, 7.94, 11.0]]), np.array([[0.1, 0.3, 0.2]]),
                            options)[0]
    ref, nearest = matched_peaks(options.grid, predicted, reference, below=10.0)
    np.testing.assert_allclose(ref, [6.0, 8.0], atol=1e-9)
    np.testing.assert_allclose(nearest, [6.1, 7.94], atol=1e-9)
