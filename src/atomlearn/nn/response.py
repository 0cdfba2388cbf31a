"""Derivatives of the energy by automatic differentiation (the only place that calls
``torch.autograd.grad``)."""

from __future__ import annotations

import torch


def compute_forces(energy: torch.Tensor, positions: torch.Tensor, *,
                   training: bool = False) -> torch.Tensor:
    """F = -dE/dr, [n_atoms, 3]; ``training`` keeps the graph to differentiate the forces
    again (force loss)."""
    (grad,) = torch.autograd.grad(energy.sum(), positions, create_graph=training,
                                  retain_graph=training)
    return -grad
