"""Energy head: one MLP per element, atomic energies summed per structure."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..batch import AtomicBatch
from ..features import AtomicFeatures
from ..layers import MLP


class EnergyHead(torch.nn.Module):
    """E = Σ_i [e_{Z_i}(x_i) + e0_{Z_i}], with standardised features.

    Parameters
    ----------
    species : sequence of int
    n_in : int
        Feature width.
    n_hidden : sequence of int
        Hidden widths of every element's MLP.
    activation : str
    """

    def __init__(self, species: Sequence[int], n_in: int, n_hidden: Sequence[int] = (32, 32),
                 activation: str = "tanh") -> None:
        super().__init__()
        self.species = [int(z) for z in species]
        self.n_in = n_in
        self.n_hidden = list(n_hidden)
        self.nets = torch.nn.ModuleDict({str(z): MLP(n_in, n_hidden, 1, activation)
                                         for z in self.species})
        self.register_buffer("reference", torch.zeros(max(self.species) + 1))
        self.register_buffer("scale", torch.ones(()))

    def extra_repr(self) -> str:
        return f"species={self.species}, n_in={self.n_in}, n_hidden={self.n_hidden}"

    def forward(self, features: AtomicFeatures, batch: AtomicBatch) -> torch.Tensor:
        """Energies [n_structures] in eV."""
        features = features.scalar
        atomic = features.new_zeros(features.shape[0])
        for z in self.species:
            mask = batch.numbers == z
            if mask.any():
                atomic = atomic.index_put((mask.nonzero()[:, 0],),
                                          self.nets[str(z)](features[mask])[:, 0])
        atomic = atomic * self.scale + self.reference[batch.numbers]
        return atomic.new_zeros(batch.n_structures).index_add(0, batch.structure, atomic)
