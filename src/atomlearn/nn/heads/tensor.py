"""Heads for structure-level vectors and tensors: dipoles and polarizabilities.

Both are equivariant by construction: they combine invariant per-atom scalars with
positions (which rotate as vectors) and, for PaiNN, with the equivariant vector channels.
"""

from __future__ import annotations

import torch

from ..batch import AtomicBatch
from ..features import AtomicFeatures
from ..layers import MLP


def _per_structure(values: torch.Tensor, batch: AtomicBatch) -> torch.Tensor:
    out = values.new_zeros((batch.n_structures, *values.shape[1:]))
    return out.index_add(0, batch.structure, values)


class DipoleHead(torch.nn.Module):
    """μ = Σ_i q_i r_i + Σ_i μ_i in e·Å: the head of any per-structure vector target.

    Atomic charges q_i come from an MLP of the scalars, shifted within each structure so
    they sum to its total charge (``batch.total_charge``, 0 for neutral molecules); the
    first term is then independent of the origin for neutral structures. Atomic dipoles
    μ_i are a learned linear combination of the vector channels (when the
    representation has them).

    Parameters
    ----------
    n_in : int
        Scalar feature width.
    n_vector : int
        Vector channels (0 for representations without them).
    n_hidden, activation : MLP settings of the charges.
    """

    def __init__(self, n_in: int, n_vector: int = 0, n_hidden=(32,),
                 activation: str = "silu") -> None:
        super().__init__()
        self.charges = MLP(n_in, n_hidden, 1, activation)
        self.atomic_dipoles = (torch.nn.Linear(n_vector, 1, bias=False) if n_vector
                               else None)

    def forward(self, features: AtomicFeatures, batch: AtomicBatch) -> torch.Tensor:
        q = self.charges(features.scalar)[:, 0]
        n = batch.n_atoms.to(q.dtype)
        excess = (_per_structure(q, batch) - batch.total_charge) / n
        q = q - excess[batch.structure]
        mu = _per_structure(q[:, None] * batch.positions, batch)
        if self.atomic_dipoles is not None and features.vector is not None:
            mu = mu + _per_structure(self.atomic_dipoles(features.vector)[..., 0], batch)
        return mu


class PolarizabilityHead(torch.nn.Module):
    """α = Σ_i [a_i I + ν_i ⊗ ν'_i + ν'_i ⊗ ν_i] in Å^3, symmetric by construction.

    a_i = MLP(s_i) (the per-element isotropic baseline is added by the model);
    ν_i and ν'_i are two linear combinations of the atom's vector channels, so the
    anisotropic part rotates as R α R^T.

    Parameters
    ----------
    n_in : int
        Scalar feature width.
    n_vector : int
        Vector channels (required: an invariant representation cannot give anisotropy).
    n_hidden, activation : MLP settings of a_i.
    """

    def __init__(self, n_in: int, n_vector: int, n_hidden=(32,),
                 activation: str = "silu") -> None:
        super().__init__()
        self.isotropic = MLP(n_in, n_hidden, 1, activation)
        self.directions = torch.nn.Linear(n_vector, 2, bias=False)

    def forward(self, features: AtomicFeatures, batch: AtomicBatch) -> torch.Tensor:
        a = self.isotropic(features.scalar)[:, 0]
        nu = self.directions(features.vector)                  # [n_atoms, 3, 2]
        outer = nu[:, :, None, 0] * nu[:, None, :, 1]
        eye = torch.eye(3, dtype=a.dtype, device=a.device)
        atomic = a[:, None, None] * eye + outer + outer.transpose(1, 2)
        return _per_structure(atomic, batch)
