"""Evaluation: error metrics, calibration, learning curves and plots."""

from .errors import METRICS, calibration_report, error_report, mae, max_error, r2, rmse
from .learning_curve import LearningCurve, learning_curve
from .plots import (
    band_structure_plot,
    density_slice_plot,
    dos_plot,
    learning_curve_plot,
    learning_curves_plot,
    on_the_fly_plot,
    parity_plot,
    spectrum_plot,
)
from .spectra import (
    Spectrum,
    autocorrelation,
    matched_peaks,
    quantum_correction,
    vibrational_spectra,
)

__all__ = [
    "METRICS",
    "LearningCurve",
    "calibration_report",
    "error_report",
    "learning_curve",
    "learning_curve_plot",
    "learning_curves_plot",
    "mae",
    "matched_peaks",
    "on_the_fly_plot",
    "max_error",
    "parity_plot",
    "r2",
    "rmse",
    "Spectrum",
    "autocorrelation",
    "band_structure_plot",
    "density_slice_plot",
    "dos_plot",
    "quantum_correction",
    "spectrum_plot",
    "vibrational_spectra",
]
