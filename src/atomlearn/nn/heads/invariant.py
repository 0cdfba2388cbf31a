"""Invariant head: per-atom MLPs (one per element) to any number of invariant outputs,
summed or averaged per structure, or kept per atom."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..batch import AtomicBatch
from ..features import AtomicFeatures
from ..layers import MLP


class InvariantHead(torch.nn.Module):
    """:math:`y = \\sum_i s\\, f_{Z_i}(x_i)` (or the mean over atoms, or per atom).

    An energy is ``InvariantHead(species, n_in)``; a DOS on a grid of 300 points is
    ``n_out=300``. The per-element composition baseline is added by the model, not here,
    so the outputs are residuals of unit scale times ``scale`` (set from the training
    labels).

    Parameters
    ----------
    species : sequence of int
    n_in : int
        Feature width.
    n_out : int
        Outputs per atom (the product of the target's shape).
    n_hidden : sequence of int
        Hidden widths of every element's MLP.
    activation : str
    aggregation : {"sum", "mean", None}
        Per structure (extensive or intensive targets), or per atom (None).
    """

    def __init__(self, species: Sequence[int], n_in: int, n_out: int = 1,
                 n_hidden: Sequence[int] = (32, 32), activation: str = "tanh",
                 aggregation: str | None = "sum") -> None:
        super().__init__()
        self.species = [int(z) for z in species]
        self.n_in, self.n_out = n_in, n_out
        self.n_hidden = list(n_hidden)
        self.aggregation = aggregation
        self.nets = torch.nn.ModuleDict({str(z): MLP(n_in, n_hidden, n_out, activation)
                                         for z in self.species})
        self.register_buffer("scale", torch.ones(n_out) if n_out > 1 else torch.ones(()))

    def extra_repr(self) -> str:
        return (f"species={self.species}, n_in={self.n_in}, n_out={self.n_out}, "
                f"n_hidden={self.n_hidden}, aggregation={self.aggregation!r}")

    def forward(self, features: AtomicFeatures, batch: AtomicBatch) -> torch.Tensor:
        """[n_structures, n_out] (or [n_atoms, n_out]; no last axis when n_out is 1)."""
        x = features.scalar
        atomic = x.new_zeros(x.shape[0], self.n_out)
        for z in self.species:
            mask = batch.numbers == z
            if mask.any():
                atomic = atomic.index_put((mask.nonzero()[:, 0],), self.nets[str(z)](x[mask]))
        atomic = atomic * self.scale
        if self.aggregation is not None:
            atomic = atomic.new_zeros(batch.n_structures, self.n_out).index_add(
                0, batch.structure, atomic)
            if self.aggregation == "mean":
                atomic = atomic / batch.n_atoms.to(atomic.dtype)[:, None]
        return atomic[:, 0] if self.n_out == 1 else atomic
