"""Error metrics: MAE, RMSE, R², per component and per atom."""

from __future__ import annotations

import numpy as np


def mae(pred, ref) -> float:
    """Mean absolute error over all components."""
    return float(np.mean(np.abs(np.asarray(pred) - np.asarray(ref))))


def rmse(pred, ref) -> float:
    """Root-mean-square error over all components."""
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(ref)) ** 2)))


def r2(pred, ref) -> float:
    """Coefficient of determination over all components."""
    ref = np.asarray(ref)
    ss_res = np.sum((np.asarray(pred) - ref) ** 2)
    ss_tot = np.sum((ref - ref.mean(axis=0)) ** 2)
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


def max_error(pred, ref) -> float:
    """Largest absolute error."""
    return float(np.max(np.abs(np.asarray(pred) - np.asarray(ref))))


METRICS = {"mae": mae, "rmse": rmse, "r2": r2, "max": max_error}


def error_report(pred, ref, *, n_atoms=None) -> dict[str, float]:
    """All metrics of :data:`METRICS`; with ``n_atoms`` also per-atom MAE/RMSE.

    Parameters
    ----------
    pred, ref : array_like of the same shape
    n_atoms : array of shape (n_structures,), optional
        Atom counts, for per-atom errors of extensive targets.
    """
    out = {name: fn(pred, ref) for name, fn in METRICS.items()}
    if n_atoms is not None:
        per = (np.asarray(pred) - np.asarray(ref)) / np.asarray(n_atoms)
        out["mae_per_atom"] = float(np.mean(np.abs(per)))
        out["rmse_per_atom"] = float(np.sqrt(np.mean(per**2)))
    return out


def calibration_report(pred, ref, std) -> dict[str, float]:
    """How well predicted standard deviations describe the errors.

    Returns the fractions of errors inside 1 and 2 sigma (0.683 and 0.954 for a
    calibrated Gaussian) and the mean and standard deviation of the z-scores.
    """
    z = (np.asarray(pred) - np.asarray(ref)) / np.maximum(np.asarray(std), 1e-300)
    az = np.abs(z).ravel()
    return {"within_1sigma": float(np.mean(az <= 1.0)),
            "within_2sigma": float(np.mean(az <= 2.0)),
            "z_mean": float(np.mean(z)), "z_std": float(np.std(z))}
