"""Vibrational spectra from time series of dipoles and polarizabilities, and the peaks of
a spectrum on a grid matched to a reference's (:func:`matched_peaks`).

Infrared: I(ω) ∝ ∫ <μ̇(0)·μ̇(t)> w(t) cos(ωt) dt, the Fourier transform of the
dipole-derivative autocorrelation (μ̇ by central differences). Raman: isotropic
I_iso(ω) ∝ FT <ȧ(0) ȧ(t)> with a = tr(α)/3, and anisotropic
I_aniso(ω) ∝ (2/15) FT <β̇(0):β̇(t)> with β = α - a I (McQuarrie, Statistical Mechanics,
ch. 21; Thomas et al., PCCP 15, 6608 (2013)). Autocorrelations use the FFT
(Wiener-Khinchin) with zero padding and are normalised by the number of overlapping
pairs; ``window`` tapers the correlation to ``correlation_length`` before the transform.
Classical line shapes can be multiplied by a quantum correction factor Q(ω):
``"harmonic"``: βħω / (1 - exp(-βħω)); ``"schofield"``: exp(βħω / 2); ``"none"``: 1.
Frequencies are wavenumbers in cm⁻¹; intensities are in arbitrary units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError, check_choice

WINDOWS = ("hann", "gaussian", "none")
QUANTUM_CORRECTIONS = ("none", "harmonic", "schofield")
#: 1 fs⁻¹ in cm⁻¹ (1e15 Hz / c)
PER_FS_TO_CM = 1e15 / 2.99792458e10
#: ħ/k_B in K·cm (so βħω = HBAR_OVER_KB_CM * ν̃ / T), from h c / k_B = 1.438777 cm K
HC_OVER_KB_CM_K = 1.4387769


def matched_peaks(grid: np.ndarray, predicted: np.ndarray, reference: np.ndarray, *,
                  below: float | None = None, prominence: float = 0.05
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The peaks of ``reference`` (prominence above ``prominence`` times its maximum,
    below ``below``) and the nearest peak of ``predicted`` to each (NaN if it has none),
    both in the grid's unit."""
    from scipy.signal import find_peaks

    ref, _ = find_peaks(reference, prominence=prominence * reference.max())
    pred, _ = find_peaks(predicted, prominence=prominence * predicted.max())
    ref = grid[ref]
    if below is not None:
        ref = ref[ref < below]
    pred = grid[pred]
    nearest = np.array([pred[np.argmin(np.abs(pred - e))] if len(pred) else np.nan
                        for e in ref])
    return ref, nearest


@dataclass
class Spectrum:
    """A spectrum on a wavenumber grid.

    Attributes
    ----------
    wavenumber : ndarray
        cm⁻¹.
    intensity : dict of str to ndarray
        ``"ir"``, ``"raman_isotropic"``, ``"raman_anisotropic"`` (arbitrary units).
    """

    wavenumber: np.ndarray
    intensity: dict[str, np.ndarray]


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """<x(0)·x(t)> for lags 0..n-1 of a series (n_steps, ...), summed over components."""
    x = np.asarray(x, float).reshape(len(x), -1)
    n = len(x)
    f = np.fft.rfft(x, n=2 * n, axis=0)
    acf = np.fft.irfft(np.sum(f * f.conj(), axis=1).real, n=2 * n)[:n]
    return acf / np.arange(n, 0, -1)


def _window(n: int, kind: str) -> np.ndarray:
    t = np.arange(n) / max(n - 1, 1)
    if kind == "hann":
        return 0.5 * (1.0 + np.cos(np.pi * t))
    if kind == "gaussian":
        return np.exp(-0.5 * (t / 0.4) ** 2)
    return np.ones(n)


def quantum_correction(wavenumber: np.ndarray, temperature: float, kind: str) -> np.ndarray:
    """Factor Q(ν̃) multiplying a classical line shape (see module docstring)."""
    check_choice(kind, QUANTUM_CORRECTIONS, "quantum correction")
    if kind == "none":
        return np.ones_like(wavenumber)
    if not temperature > 0:
        raise ConfigError(f"A quantum correction needs a positive temperature; got "
                          f"{temperature!r} K.")
    x = HC_OVER_KB_CM_K * np.asarray(wavenumber, float) / temperature   # βħω
    if kind == "harmonic":
        with np.errstate(invalid="ignore", divide="ignore"):
            q = np.where(x > 1e-12, x / -np.expm1(-x), 1.0)
        return q
    return np.exp(0.5 * x)


def _line_shape(series: np.ndarray, timestep: float, length: int, window: str):
    derivative = np.gradient(series, timestep, axis=0)
    acf = autocorrelation(derivative)[:length] * _window(length, window)
    # even extension of the one-sided correlation, so the transform is real
    spectrum = np.fft.rfft(np.concatenate([acf, acf[-2:0:-1]])).real * timestep
    wavenumber = np.fft.rfftfreq(2 * length - 2, d=timestep) * PER_FS_TO_CM
    return wavenumber, spectrum


def vibrational_spectra(timestep: float, *, dipoles: np.ndarray | None = None,
                        polarizabilities: np.ndarray | None = None,
                        correlation_length: float | None = None, window: str = "hann",
                        quantum: str = "none", temperature: float = 300.0) -> Spectrum:
    """IR and Raman spectra from equally spaced dipoles / polarizabilities.

    Parameters
    ----------
    timestep : float
        Time between frames in fs.
    dipoles : ndarray (n_frames, 3), optional
        e·Å.
    polarizabilities : ndarray (n_frames, 3, 3), optional
        Å^3.
    correlation_length : float, optional
        Longest lag of the correlation in fs (default: a third of the trajectory); sets
        the resolution, about 33356 / correlation_length cm⁻¹.
    window : {"hann", "gaussian", "none"}
        Taper applied to the correlation function.
    quantum : {"none", "harmonic", "schofield"}
        Quantum correction factor.
    temperature : float
        K, for the quantum correction.
    """
    check_choice(window, WINDOWS, "window")
    check_choice(quantum, QUANTUM_CORRECTIONS, "quantum correction")
    if dipoles is None and polarizabilities is None:
        raise DataError("Spectra need dipoles, polarizabilities or both.")
    n = len(dipoles if dipoles is not None else polarizabilities)
    if n < 8:
        raise DataError(f"Spectra need at least 8 frames; got {n}.")
    if not timestep > 0:
        raise DataError(f"The time step must be positive; got {timestep!r} fs.")
    length = n // 3 if correlation_length is None else int(round(correlation_length
                                                                 / timestep)) + 1
    if not 4 <= length <= n:
        raise ConfigError(f"correlation_length gives {length} lags; use between "
                          f"{4 * timestep:g} and {n * timestep:g} fs.")
    intensity, grid = {}, None
    if dipoles is not None:
        mu = np.asarray(dipoles, float)
        if mu.shape != (n, 3):
            raise DataError(f"Dipoles must have shape (n_frames, 3); got {mu.shape}.")
        grid, intensity["ir"] = _line_shape(mu, timestep, length, window)
    if polarizabilities is not None:
        alpha = np.asarray(polarizabilities, float)
        if alpha.shape != (n, 3, 3):
            raise DataError(f"Polarizabilities must have shape (n_frames, 3, 3); got "
                            f"{alpha.shape}.")
        iso = np.trace(alpha, axis1=1, axis2=2) / 3.0
        aniso = alpha - iso[:, None, None] * np.eye(3)
        grid, intensity["raman_isotropic"] = _line_shape(iso[:, None], timestep, length,
                                                         window)
        _, a = _line_shape(aniso, timestep, length, window)
        intensity["raman_anisotropic"] = (2.0 / 15.0) * a
    q = quantum_correction(grid, temperature, quantum)
    return Spectrum(grid, {k: v * q for k, v in intensity.items()})
