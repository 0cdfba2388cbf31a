"""PaiNN, a message-passing network with scalar and vector features (Schütt, Unke and
Gastegger, ICML 2021, arXiv:2102.03150), written from the paper's equations."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..batch import AtomicBatch
from ..features import AtomicFeatures
from ..layers import MLP, cosine_cutoff


class RadialBasis(torch.nn.Module):
    """sin(n π r / r_c) / r for n = 1..n_rbf, [n_edges, n_rbf] (r in Å)."""

    def __init__(self, n_rbf: int, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.register_buffer("frequencies",
                             math.pi * torch.arange(1, n_rbf + 1, dtype=torch.float64) / cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return torch.sin(r[:, None] * self.frequencies) / r[:, None]


class _Message(torch.nn.Module):
    """Continuous-filter convolution: neighbours' scalars times a filter of r_ij send
    scalar and vector messages (eqs. 7-8 of the paper)."""

    def __init__(self, n_features: int, n_rbf: int, activation: str) -> None:
        super().__init__()
        self.n = n_features
        self.phi = MLP(n_features, [n_features], 3 * n_features, activation)
        self.filter = torch.nn.Linear(n_rbf, 3 * n_features)

    def forward(self, s, v, batch, rbf, fc, unit):
        i, j = batch.edge_i, batch.edge_j
        x = self.phi(s)[j] * self.filter(rbf) * fc[:, None]
        ds, dvv, dvs = torch.split(x, self.n, dim=1)
        dv = v[j] * dvv[:, None, :] + dvs[:, None, :] * unit[:, :, None]
        return (s.index_add(0, i, ds),
                v.index_add(0, i, dv))


class _Update(torch.nn.Module):
    """Per-atom mixing of scalar and vector channels (eqs. 9-11 of the paper)."""

    def __init__(self, n_features: int, activation: str) -> None:
        super().__init__()
        self.n = n_features
        self.mix = torch.nn.Linear(n_features, 2 * n_features, bias=False)
        self.gate = MLP(2 * n_features, [n_features], 3 * n_features, activation)

    def forward(self, s, v):
        uv, vv = torch.split(self.mix(v), self.n, dim=-1)
        norm = torch.sqrt((vv**2).sum(dim=1) + 1e-8)       # smooth at v = 0
        a_vv, a_sv, a_ss = torch.split(self.gate(torch.cat([s, norm], dim=1)), self.n, dim=1)
        return (s + a_sv * (uv * vv).sum(dim=1) + a_ss,
                v + a_vv[:, None, :] * uv)


class PaiNN(torch.nn.Module):
    """Polarizable atom interaction network: ``n_interactions`` rounds of messages and
    updates on invariant scalars s_i and equivariant vectors v_i.

    Parameters
    ----------
    species : sequence of int
        Atomic numbers the network embeds.
    cutoff : float
        Cutoff radius in Å (cosine cutoff on every filter, so energies are smooth).
    n_features : int
        Width of the scalar and vector channels.
    n_interactions : int
        Message-passing rounds; the receptive field is ``n_interactions * cutoff``.
    n_rbf : int
        Radial basis functions sin(n π r / r_c) / r.
    activation : str
        ``"silu"`` (default), ``"tanh"`` or ``"softplus"``.
    """

    def __init__(self, species: Sequence[int], *, cutoff: float = 5.0, n_features: int = 64,
                 n_interactions: int = 3, n_rbf: int = 20, activation: str = "silu") -> None:
        super().__init__()
        self.species = [int(z) for z in species]
        self.cutoff = float(cutoff)
        self.n_features = int(n_features)
        lookup = torch.full((max(self.species) + 1,), -1, dtype=torch.long)
        lookup[torch.tensor(self.species)] = torch.arange(len(self.species))
        self.register_buffer("species_index", lookup)
        self.embedding = torch.nn.Embedding(len(self.species), n_features)
        self.rbf = RadialBasis(n_rbf, cutoff)
        self.messages = torch.nn.ModuleList(
            [_Message(n_features, n_rbf, activation) for _ in range(n_interactions)])
        self.updates = torch.nn.ModuleList(
            [_Update(n_features, activation) for _ in range(n_interactions)])

    def extra_repr(self) -> str:
        return f"species={self.species}, cutoff={self.cutoff}"

    def forward(self, batch: AtomicBatch) -> AtomicFeatures:
        vec = batch.edge_vectors()
        r = torch.linalg.norm(vec, dim=1)
        unit = vec / r[:, None]
        rbf = self.rbf(r)
        fc = cosine_cutoff(r, self.cutoff)
        s = self.embedding(self.species_index[batch.numbers])
        v = s.new_zeros(s.shape[0], 3, self.n_features)
        for message, update in zip(self.messages, self.updates, strict=True):
            s, v = message(s, v, batch, rbf, fc, unit)
            s, v = update(s, v)
        return AtomicFeatures(s, v)
