"""Hyperparameters of ``band_gpr`` (the single source of their defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BandGPRHypers:
    """Band energies of crystals: a GP of the Hamiltonian on the mesh's lattice vectors,
    or an exact GP of band energies over (cell, k-point) pairs.

    Attributes
    ----------
    route : {"hamiltonian", "direct"}
        ``hamiltonian``: learn each cell's Kohn-Sham matrices (info ``hamiltonian_k``) and
        diagonalise them, with the pair GP learning what interpolation off the mesh
        misses along the labelled paths; ``direct``: the pair GP of the band energies.
    basis, pseudo : str
        PySCF basis (s and p orbitals) and pseudopotential of the Hamiltonian labels.
    hamiltonian_sigma : float
        Noise of a Hamiltonian element, eV (start value of the search).
    std_samples : int
        Samples of the Hamiltonian's posterior that carry its std to the band energies.
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

    route: str = "hamiltonian"
    basis: str = "gth-szv"
    pseudo: str = "gth-pade"
    hamiltonian_sigma: float = 0.003
    std_samples: int = 32
    sigma: float = 0.03
    length_scale: float = 3.0
    restarts: int = 0
    max_points: int = 8000
    baseline: str = "none"
    random_state: int = 0


ROUTES = ("hamiltonian", "direct")
HYPERS = {"band_gpr": BandGPRHypers}
LAYOUTS = {"band_gpr": frozenset({("spectrum", False)})}
