"""Per-atom features passed from a representation to the heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AtomicFeatures:
    """Invariant (and optionally equivariant) per-atom features.

    Attributes
    ----------
    scalar : Tensor [n_atoms, n_features]
        Invariant under rotations, translations and permutations of like atoms.
    vector : Tensor [n_atoms, 3, n_vector] or None
        Rotate as vectors (``v -> R v``); PaiNN's vector channels. Heads for dipoles and
        polarizabilities build on them.
    """

    scalar: torch.Tensor
    vector: torch.Tensor | None = None
