"""AtomisticNetwork: a representation and heads keyed by target name."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .batch import AtomicBatch
from .features import AtomicFeatures
from .response import compute_forces


class AtomisticNetwork(torch.nn.Module):
    """``representation(batch) -> features``, standardised, then ``heads[name](features)``.

    Parameters
    ----------
    representation : torch.nn.Module
        Returns per-atom invariant features [n_atoms, n_features], or
        :class:`AtomicFeatures` with vector channels too. The scalars are standardised
        with ``feature_mean`` and ``feature_std`` (identity unless set).
    heads : mapping of str to torch.nn.Module
        One head per target, keyed by the target's name.
    forces_of : str, optional
        The head whose (per-structure scalar) output forces are the negative gradient of
        (an energy); None when no target has forces.
    """

    def __init__(self, representation: torch.nn.Module,
                 heads: Mapping[str, torch.nn.Module], *, forces_of: str | None = None
                 ) -> None:
        super().__init__()
        self.representation = representation
        self.heads = torch.nn.ModuleDict(dict(heads))
        self.forces_of = forces_of
        n = representation.n_features
        self.register_buffer("feature_mean", torch.zeros(n))
        self.register_buffer("feature_std", torch.ones(n))

    def features(self, batch: AtomicBatch) -> AtomicFeatures:
        out = self.representation(batch)
        if not isinstance(out, AtomicFeatures):
            out = AtomicFeatures(out)
        return AtomicFeatures((out.scalar - self.feature_mean) / self.feature_std, out.vector)

    def forward(self, batch: AtomicBatch, *, compute_forces_: bool = False,
                training: bool = False) -> dict[str, torch.Tensor]:
        if compute_forces_ and not batch.positions.requires_grad:
            batch.positions.requires_grad_(True)
        x = self.features(batch)
        out = {name: head(x, batch) for name, head in self.heads.items()}
        if compute_forces_:
            if self.forces_of not in out:
                raise ValueError(
                    "Forces need a target with forces (an energy); this network has heads "
                    f"{sorted(out)}. Add 'forces: true' to a scalar target or drop forces.")
            out["forces"] = compute_forces(out[self.forces_of], batch.positions,
                                           training=training)
        return out
