"""Hyperparameters of ``band_gpr`` (the single source of their defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BandGPRHypers:
    """An exact GP of band energies over (cell, k-point) pairs.

    Attributes
    ----------
    sigma : float
        Noise of a band energy, eV (start value of the marginal-likelihood search).
    length_scale : float
        Start value of every length scale (features are standardised).
    restarts : int
        Extra starts of the marginal-likelihood search.
    max_points : int
        Largest number of (cell, k-point) training points (an exact GP: memory grows as
        its square); more is refused with the number to lower.
    baseline : str
        Composition baseline of the shared layer (``"none"``: the GP learns about the
        mean of each band).
    random_state : int
    """

    sigma: float = 0.03
    length_scale: float = 3.0
    restarts: int = 0
    max_points: int = 8000
    baseline: str = "none"
    random_state: int = 0


HYPERS = {"band_gpr": BandGPRHypers}
LAYOUTS = {"band_gpr": frozenset({("spectrum", False)})}
