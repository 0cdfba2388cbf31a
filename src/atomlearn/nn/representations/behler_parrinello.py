"""Atom-centred symmetry functions (Behler & Parrinello, PRL 98, 146401 (2007);
Behler, J. Chem. Phys. 134, 074106 (2011), eqs. 6 and 8), written in PyTorch so that
forces and stress follow by automatic differentiation."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations_with_replacement

import torch

from ..batch import AtomicBatch
from ..layers import cosine_cutoff


class SymmetryFunctions(torch.nn.Module):
    """Radial G2 and angular G4 functions, one channel per neighbour element (pair).

    G2_i = Σ_{j∈b} exp(-η (r_ij - r_s)^2) f_c(r_ij) for every (η, r_s) and element b;
    G4_i = 2^{1-ζ} Σ_{j≠k; (j,k)∈(b,c)} (1 + λ cos θ_ijk)^ζ exp(-η (r_ij² + r_ik² + r_jk²))
    f_c(r_ij) f_c(r_ik) f_c(r_jk) for every (η, ζ, λ) and unordered element pair (b, c).

    Parameters
    ----------
    species : sequence of int
        Atomic numbers the network describes.
    cutoff : float
        Cutoff radius in Å.
    radial_etas, radial_shifts : sequence of float
        η in Å⁻² and r_s in Å of the G2 functions (all combinations).
    angular_etas : sequence of float
        η in Å⁻² of the G4 functions.
    zetas : sequence of float
        ζ of the G4 functions (each with λ = ±1).
    """

    def __init__(self, species: Sequence[int], *, cutoff: float = 5.0,
                 radial_etas: Sequence[float] = (0.5, 1.0, 2.0),
                 radial_shifts: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5),
                 angular_etas: Sequence[float] = (0.02, 0.1),
                 zetas: Sequence[float] = (1.0, 4.0)) -> None:
        super().__init__()
        self.species = [int(z) for z in species]
        self.cutoff = float(cutoff)
        etas = torch.tensor([e for e in radial_etas for _ in radial_shifts], dtype=torch.float64)
        shifts = torch.tensor([s for _ in radial_etas for s in radial_shifts],
                              dtype=torch.float64)
        self.register_buffer("radial_eta", etas)
        self.register_buffer("radial_shift", shifts)
        ang = [(e, z, lam) for e in angular_etas for z in zetas for lam in (1.0, -1.0)]
        self.register_buffer("angular", torch.tensor(ang, dtype=torch.float64))
        lookup = torch.full((max(self.species) + 1,), -1, dtype=torch.long)
        lookup[torch.tensor(self.species)] = torch.arange(len(self.species))
        self.register_buffer("species_index", lookup)
        pairs = list(combinations_with_replacement(range(len(self.species)), 2))
        pair_index = torch.zeros(len(self.species), len(self.species), dtype=torch.long)
        for k, (a, b) in enumerate(pairs):
            pair_index[a, b] = pair_index[b, a] = k
        self.register_buffer("pair_index", pair_index)
        self.n_radial = len(etas) * len(self.species)
        self.n_angular = len(ang) * len(pairs)

    @property
    def n_features(self) -> int:
        return self.n_radial + self.n_angular

    def extra_repr(self) -> str:
        return (f"species={self.species}, cutoff={self.cutoff}, n_radial={self.n_radial}, "
                f"n_angular={self.n_angular}")

    def forward(self, batch: AtomicBatch) -> torch.Tensor:
        """Features [n_atoms, n_features]."""
        n_atoms = batch.positions.shape[0]
        vec = batch.edge_vectors()                                    # [n_edges, 3]
        r = torch.linalg.norm(vec, dim=1)
        fc = cosine_cutoff(r, self.cutoff)
        elem_j = self.species_index[batch.numbers[batch.edge_j]]
        # G2: [n_edges, n_eta*n_shift] scattered into (centre, element of j)
        g2 = torch.exp(-self.radial_eta * (r[:, None] - self.radial_shift) ** 2) * fc[:, None]
        n_r = g2.shape[1]
        radial = vec.new_zeros(n_atoms, len(self.species), n_r)
        radial.index_put_((batch.edge_i, elem_j), g2, accumulate=True)
        # G4 over triplets (i; j, k) built from two edges of the same centre
        tij, tik = batch.triplet_ij, batch.triplet_ik
        n_a = self.angular.shape[0]
        angular = vec.new_zeros(n_atoms, self.pair_index.max() + 1, n_a)
        if len(tij):
            rij, rik = r[tij], r[tik]
            vjk = vec[tik] - vec[tij]
            rjk = torch.linalg.norm(vjk, dim=1)
            cos = (vec[tij] * vec[tik]).sum(dim=1) / (rij * rik)
            eta, zeta, lam = self.angular[:, 0], self.angular[:, 1], self.angular[:, 2]
            radial_part = torch.exp(-eta * (rij**2 + rik**2 + rjk**2)[:, None])
            cut = (fc[tij] * fc[tik] * cosine_cutoff(rjk, self.cutoff))[:, None]
            g4 = (2.0 ** (1.0 - zeta)) * (1.0 + lam * cos[:, None]) ** zeta * radial_part * cut
            pair = self.pair_index[elem_j[tij], elem_j[tik]]
            angular.index_put_((batch.edge_i[tij], pair), g4, accumulate=True)
        return torch.cat([radial.reshape(n_atoms, -1), angular.reshape(n_atoms, -1)], dim=1)
