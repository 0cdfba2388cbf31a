"""Small building blocks: MLPs and cutoff functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def cosine_cutoff(r: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Behler's cutoff 0.5 (cos(π r / r_c) + 1) inside r_c, 0 outside (smooth to C1)."""
    return torch.where(r < cutoff, 0.5 * (torch.cos(math.pi * r / cutoff) + 1.0),
                       torch.zeros_like(r))


class MLP(torch.nn.Sequential):
    """Linear layers with an activation between them (none after the last).

    Parameters
    ----------
    n_in : int
    n_hidden : sequence of int
    n_out : int
    activation : {"tanh", "silu", "softplus"}
        Smooth activations, so forces (first derivatives) are continuous.
    """

    _ACTIVATIONS = {"tanh": torch.nn.Tanh, "silu": torch.nn.SiLU,
                    "softplus": torch.nn.Softplus}

    def __init__(self, n_in: int, n_hidden: Sequence[int], n_out: int,
                 activation: str = "tanh") -> None:
        layers: list[torch.nn.Module] = []
        widths = [n_in, *n_hidden, n_out]
        for k, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(torch.nn.Linear(a, b))
            if k < len(widths) - 2:
                layers.append(self._ACTIVATIONS[activation]())
        super().__init__(*layers)
