"""Observables of a density of states on an energy grid: Fermi level, band energy, DOS at
the Fermi level, gap and electronic heat capacity, with uncertainties by sampling.

Every function takes the grid (eV), the DOS (states/eV of one structure, spin included,
shape (..., n_grid) for several at once) and the number of electrons the grid holds
(the structure's electrons less those of levels below the grid). Integrals are trapezoid
sums on the grid, so the DOS must fall to zero at its lower end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..targets.density_of_states import K_B, chemical_potential, fermi_dirac

#: Electrons: the tolerance of the count that places the Fermi level in the middle of a gap.
EPSILON = 1e-6


def _trapz(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.trapezoid(y, x, axis=-1)


def electron_count(grid: np.ndarray, dos: np.ndarray, mu: float, temperature: float
                   ) -> float:
    """Electrons :math:`\\int g(E) f(E;\\mu,T)\\,dE` the DOS holds at chemical potential mu."""
    return float(_trapz(dos * fermi_dirac(grid, mu, temperature), grid))


def fermi_level(grid: np.ndarray, dos: np.ndarray, n_electrons: float,
                temperature: float = 300.0) -> float:
    """The chemical potential (eV) at which the DOS holds ``n_electrons`` at
    ``temperature`` (K): the root of :math:`\\int g(E) f(E;\\mu,T)\\,dE = N`."""
    dos = np.clip(dos, 0.0, None)
    total = float(_trapz(dos, grid))
    if n_electrons + EPSILON >= total:
        raise ValueError(f"The DOS holds {total:.4g} electrons on its grid; it cannot hold "
                         f"{n_electrons:g}. Extend the grid to a few smearing widths above "
                         "the Fermi level ('e_max').")
    temperature = max(float(temperature), 1e-3)       # T = 0: a sharp step

    def root(n):
        return chemical_potential(lambda mu: electron_count(grid, dos, mu, temperature),
                                  n, float(grid[0]) - 1.0, float(grid[-1]))

    # in a gap the count is flat and any mu in it is a root: take the middle of the
    # mu range within EPSILON electrons of the count (a metal's range is ~1e-6 eV)
    return 0.5 * (root(n_electrons - EPSILON) + root(n_electrons + EPSILON))


def band_energy(grid: np.ndarray, dos: np.ndarray, mu: float, temperature: float = 300.0
                ) -> float:
    """Band energy :math:`\\int (E - \\mu) g(E) f(E)\\,dE` (eV), measured from the Fermi
    level so that it does not depend on where the grid's zero is."""
    return float(_trapz((grid - mu) * dos * fermi_dirac(grid, mu, temperature), grid))


def dos_at(grid: np.ndarray, dos: np.ndarray, energy: float) -> float:
    """The DOS (states/eV) at ``energy``, linearly interpolated."""
    return float(np.interp(energy, grid, dos))


def gap_edges(grid: np.ndarray, dos: np.ndarray, mu: float,
              threshold: float | np.ndarray | None = None) -> tuple[float, float] | None:
    """The grid points (eV) where the DOS last rises above ``threshold`` below mu and first
    rises above it above mu (``threshold``: a number or one per grid point; default 1% of
    the DOS's maximum), or None when the DOS never does on one side."""
    threshold = 0.01 * float(np.max(dos)) if threshold is None else threshold
    above = dos > threshold
    below_mu = np.flatnonzero(above & (grid <= mu))
    above_mu = np.flatnonzero(above & (grid > mu))
    if not len(below_mu) or not len(above_mu):
        return None
    return float(grid[below_mu[-1]]), float(grid[above_mu[0]])


def gap(grid: np.ndarray, dos: np.ndarray, mu: float,
        threshold: float | np.ndarray | None = None) -> float:
    """The width (eV) of the region around mu where the DOS stays below ``threshold``
    (see :func:`gap_edges`); 0 for a metal."""
    edges = gap_edges(grid, dos, mu, threshold)
    if edges is None:
        return float("nan")
    return float(max(edges[1] - edges[0] - (grid[1] - grid[0]), 0.0))


def heat_capacity(grid: np.ndarray, dos: np.ndarray, n_electrons: float,
                  temperature: float = 300.0, mu: float | None = None) -> float:
    """Electronic heat capacity :math:`C_{el} = dU/dT` at fixed electron count (eV/K),
    analytically: :math:`\\int (E-\\mu)\\,g\\,(\\partial f/\\partial T + \\partial f/
    \\partial\\mu\\; d\\mu/dT)\\,dE` with :math:`d\\mu/dT` from :math:`dN/dT = 0`;
    ``mu``: the chemical potential at ``temperature`` when it is known already."""
    dos = np.clip(dos, 0.0, None)
    if mu is None:
        mu = fermi_level(grid, dos, n_electrons, temperature)
    kt = K_B * temperature
    x = (grid - mu) / kt
    # f(1 - f) = 1/(4 cosh^2(x/2)), written to avoid overflow
    ff = 0.25 / np.cosh(np.clip(x / 2, -350, 350)) ** 2
    df_dT = ff * x / temperature                       # ∂f/∂T at fixed mu
    df_dmu = ff / kt                                   # ∂f/∂mu at fixed T
    dmu_dT = -float(_trapz(dos * df_dT, grid)) / max(float(_trapz(dos * df_dmu, grid)),
                                                      1e-300)
    return float(_trapz((grid - mu) * dos * (df_dT + df_dmu * dmu_dT), grid))


@dataclass
class Observables:
    """DOS observables of one structure (means, and standard deviations from sampling)."""

    fermi_level: float
    band_energy: float
    dos_at_fermi: float
    gap: float
    heat_capacity: float
    std: dict | None = None

    def as_dict(self) -> dict[str, float]:
        return {"fermi_level": self.fermi_level, "band_energy": self.band_energy,
                "dos_at_fermi": self.dos_at_fermi, "gap": self.gap,
                "heat_capacity": self.heat_capacity}


def fermi_gap(grid: np.ndarray, dos: np.ndarray, n_electrons: float,
              threshold: float | np.ndarray) -> tuple[float, float] | None:
    """The gap that holds the Fermi level, if the DOS has one: of the runs of grid points
    where the DOS stays below ``threshold`` (a number or one per grid point), the one
    with ``n_electrons`` below it (within one electron, less than a level's two), as its
    last and first grid points above the threshold (eV); None for a metal."""
    low = dos <= threshold
    bounds = np.flatnonzero(np.diff(np.r_[0, low.astype(np.int8), 0]))
    held = np.concatenate([[0.0], np.cumsum(0.5 * (dos[1:] + dos[:-1]) * np.diff(grid))])
    best = None
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        if start == 0 or end == len(grid):           # below or above every state
            continue
        miss = abs(held[start] - n_electrons)
        if miss < 1.0 and (best is None or miss < best[0]):
            best = (miss, float(grid[start - 1]), float(grid[end]))
    return None if best is None else best[1:]


def observables(grid: np.ndarray, dos: np.ndarray, n_electrons: float, *,
                temperature: float = 300.0, reference: float = 0.0,
                dos_std: np.ndarray | None = None, n_samples: int = 64,
                seed: int = 0) -> Observables:
    """Fermi level (eV, absolute: ``reference`` plus the grid's), band energy (eV), DOS at
    the Fermi level, gap (eV) and C_el (eV/K) of one DOS; with ``dos_std``, their standard
    deviations from ``n_samples`` draws of the DOS (independent Gaussian grid points, the
    GP's own assumption; negative draws clipped at zero).

    A predicted DOS is never exactly zero in a gap, and its small noise there would place
    the counted chemical potential anywhere in it. Where the DOS has a gap with the
    structure's electrons below it (:func:`fermi_gap`: below 1% of its maximum, and below
    twice its std when given), the Fermi level is the middle of that gap, as the labels'
    Fermi level of gapped levels is, and the gap is its width; else both come from the
    count (:func:`fermi_level`, :func:`gap`).
    """
    low = 0.01 * float(np.max(dos))
    threshold = low if dos_std is None else np.maximum(low, 2.0 * dos_std)

    def one(g):
        counted = fermi_level(grid, g, n_electrons, temperature)
        edges = fermi_gap(grid, g, n_electrons, threshold)
        if edges is None:
            mu, width = counted, gap(grid, g, counted, threshold)
        else:
            mu = 0.5 * (edges[0] + edges[1])
            width = edges[1] - edges[0] - (grid[1] - grid[0])
        return np.array([mu + reference, band_energy(grid, g, mu, temperature),
                         dos_at(grid, g, mu), width,
                         heat_capacity(grid, g, n_electrons, temperature, mu=counted)])

    mean = one(np.clip(dos, 0.0, None))
    std = None
    if dos_std is not None:
        rng = np.random.default_rng(seed)
        draws = np.array([one(np.clip(dos + dos_std * rng.standard_normal(dos.shape), 0.0,
                                      None)) for _ in range(n_samples)])
        names = ("fermi_level", "band_energy", "dos_at_fermi", "gap", "heat_capacity")
        std = dict(zip(names, np.nanstd(draws, axis=0).tolist(), strict=True))
    return Observables(*mean.tolist(), std=std)


__all__ = ["Observables", "band_energy", "dos_at", "electron_count", "fermi_level", "gap",
           "fermi_gap", "gap_edges", "heat_capacity", "observables"]
