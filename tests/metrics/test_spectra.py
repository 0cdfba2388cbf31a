import re

import numpy as np
import pytest
from ase.build import molecule
from ase.io import write

from atomlearn.cli.main import main
from atomlearn.errors import DataError
from atomlearn.metrics import autocorrelation, quantum_correction, vibrational_spectra
from atomlearn.metrics.spectra import PER_FS_TO_CM

DT = 0.5   # fs


def cosine(wavenumber, n, phase=0.0):
    t = np.arange(n) * DT
    return np.cos(2 * np.pi * wavenumber / PER_FS_TO_CM * t + phase)


def test_autocorrelation_equals_the_direct_average():
    x = np.random.default_rng(0).normal(size=(50, 3))
    direct = [np.mean(np.sum(x[: 50 - k] * x[k:], axis=1)) for k in range(50)]
    np.testing.assert_allclose(autocorrelation(x), direct, rtol=1e-10, atol=1e-12)


def test_ir_peak_sits_at_the_dipole_frequency():
    n = 6000
    mu = np.zeros((n, 3))
    mu[:, 0] = 0.1 * cosine(1500.0, n)
    mu[:, 2] = 0.05 * cosine(3000.0, n, 0.3)
    s = vibrational_spectra(DT, dipoles=mu)
    ir = s.intensity["ir"]
    resolution = PER_FS_TO_CM / (n // 3 * DT)
    low = s.wavenumber < 2200
    assert abs(s.wavenumber[low][np.argmax(ir[low])] - 1500.0) < resolution
    assert abs(s.wavenumber[~low][np.argmax(ir[~low])] - 3000.0) < resolution
    # derivative correlation: intensity ~ (amplitude * frequency)^2, equal here
    assert ir[~low].max() == pytest.approx(ir[low].max(), rel=0.1)


def test_raman_separates_isotropic_and_anisotropic_motion():
    n = 6000
    traceless = np.array([[1.0, 0.3, 0.0], [0.3, -0.4, 0.1], [0.0, 0.1, -0.6]])
    alpha = (4.0 + 0.1 * cosine(1000.0, n))[:, None, None] * np.eye(3) \
        + 0.1 * cosine(2500.0, n)[:, None, None] * traceless
    s = vibrational_spectra(DT, polarizabilities=alpha)
    w = s.wavenumber
    iso, aniso = s.intensity["raman_isotropic"], s.intensity["raman_anisotropic"]
    assert abs(w[np.argmax(iso)] - 1000.0) < 30 and abs(w[np.argmax(aniso)] - 2500.0) < 30
    near = lambda x: np.abs(w - x) < 50  # noqa: E731
    # only the tails of the other peak (window leakage) remain
    assert np.abs(iso[near(2500)]).max() < 1e-4 * iso.max()
    assert np.abs(aniso[near(1000)]).max() < 1e-4 * aniso.max()


def test_quantum_correction_factors():
    w = np.array([0.0, 1000.0, 3000.0])
    x = 1.4387769 * w / 300.0
    np.testing.assert_allclose(quantum_correction(w, 300.0, "harmonic")[1:],
                               x[1:] / (1 - np.exp(-x[1:])), rtol=1e-12)
    assert quantum_correction(w, 300.0, "harmonic")[0] == 1.0
    np.testing.assert_allclose(quantum_correction(w, 300.0, "schofield"), np.exp(x / 2))
    mu = np.zeros((600, 3))
    mu[:, 1] = cosine(1200.0, 600)
    plain = vibrational_spectra(DT, dipoles=mu)
    corrected = vibrational_spectra(DT, dipoles=mu, quantum="harmonic", temperature=300.0)
    np.testing.assert_allclose(corrected.intensity["ir"], plain.intensity["ir"]
                               * quantum_correction(plain.wavenumber, 300.0, "harmonic"))


def test_bad_input():
    with pytest.raises(DataError, match=re.escape(
            "Dipoles must have shape (n_frames, 3); got (20, 2)")):
        vibrational_spectra(DT, dipoles=np.zeros((20, 2)))
    with pytest.raises(DataError, match="Spectra need dipoles, polarizabilities or both"):
        vibrational_spectra(DT)


def test_spectrum_cli(tmp_path, capsys):
    n = 1200
    frames = []
    for k in range(n):
        atoms = molecule("H2O")
        atoms.info.update(time_fs=k * DT, pred_dipole=[0.1 * cosine(1600.0, n)[k], 0.0, 0.0],
                          polarizability=(1.5 + 0.01 * cosine(3600.0, n)[k]) * np.eye(3))
        frames.append(atoms)
    traj = tmp_path / "traj.xyz"
    write(traj, frames)
    png = tmp_path / "spectra.png"
    assert main(["spectrum", str(traj), "-o", str(png), "--quantum-correction", "harmonic"]) \
        == 0
    assert "ir, raman_isotropic, raman_anisotropic" in capsys.readouterr().out
    assert png.stat().st_size > 5000
    table = np.loadtxt(tmp_path / "spectra.csv", delimiter=",", skiprows=1)
    spacing = table[1, 0] - table[0, 0]
    assert abs(table[np.argmax(table[:, 1]), 0] - 1600) < spacing
    assert main(["spectrum", str(traj), "-o", str(png), "--dipole-key", "mu"]) == 2
    assert "frame 0 has no 'mu'. Pass the key that holds the dipole with --dipole-key" in \
        capsys.readouterr().err
