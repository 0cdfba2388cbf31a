"""Equivariant head for an operator in an atom-centred basis (a Kohn-Sham matrix): the
channels of :class:`~atomlearn.targets.operators.OperatorLayout`, block by block.

Every on-site block (atom i) and pair block (ordered atoms i != j) is predicted as its
irreducible parts (lambda, sigma), which rotate like lambda-SOAP features in featomic's
convention (the layout's). They are built from directions that rotate as vectors: for an
on-site block, K learned combinations of atom i's vector channels; for a pair block, the
unit bond vector and K combinations of each atom's channels. A sigma = +1 part is a sum
of solid harmonics of degree lambda of those directions; a sigma = -1 part (a
pseudotensor: (l1, l2) blocks with l1 + l2 + lambda odd) a sum of Clebsch-Gordan
products of harmonics of two of them (degrees 1 and 1, 1 and 2, 2 and 2, whichever give
that lambda with odd parity); lambda = 0 parts come straight from invariants. The sums'
weights are MLPs of invariants (the atoms' scalar features, and for a pair a radial
basis of its distance). Harmonics are PySCF's real solid harmonics with p reordered as
featomic orders it, coupled with featomic's own coefficients, so the parts rotate
exactly as the layout's labels do and under inversion change by sigma (-1)^lambda.

The output is every channel's values, flat, in the layout's order for the structures'
common atoms (normalised: the model maps them to eV); structures of one batch must have
the same atoms in the same order.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

from ...targets.operators import OperatorLayout, clebsch_gordan, parity
from ..batch import AtomicBatch
from ..features import AtomicFeatures
from ..layers import MLP
from .harmonics import SolidHarmonics

#: Degree pairs whose Clebsch-Gordan product gives a pseudotensor of each lambda.
_PSEUDO = {lam: [(l1, l2) for l1, l2 in itertools.product((1, 2), repeat=2)
                 if abs(l1 - l2) <= lam <= l1 + l2 and parity(l1, l2, lam) < 0]
           for lam in range(1, 4)}


class OperatorHead(SolidHarmonics, torch.nn.Module):
    """The layout's channel values of each structure, flat ``[n_structures, n_values]``.

    Channels of one kind of block (on-site blocks of one element, pair blocks of one
    ordered pair of elements) share their directions, their harmonics and one MLP that
    gives all their weights.

    Parameters
    ----------
    layout : OperatorLayout
        The basis's channels.
    species : sequence of int
        Elements the network knows.
    n_in, n_vector : int
        Scalar feature width and vector channels of the representation.
    n_hidden, activation
        MLP settings of the weights.
    n_directions : int
        Learned directions K per atom and kind of block.
    n_rbf : int
        Gaussians of the pair distance (0.5 to ``r_max`` Å) among a pair's invariants.
    """

    def __init__(self, layout: OperatorLayout, species: Sequence[int], n_in: int,
                 n_vector: int, n_hidden=(32,), activation: str = "silu",
                 n_directions: int = 4, n_rbf: int = 16, r_max: float = 8.0) -> None:
        super().__init__()
        self.layout = layout
        self.n_directions = n_directions
        species = sorted(int(z) for z in species)
        self.register_buffer("rbf_centres", torch.linspace(0.5, r_max, n_rbf))
        self.rbf_width = float((r_max - 0.5) / max(n_rbf - 1, 1))
        self.weights = torch.nn.ModuleDict()
        self.directions = torch.nn.ModuleDict()
        #: per kind: [(key, lambda, sigma, n_features, n_out, first weight)]
        self.channels: dict[str, list[tuple]] = {}
        keys = layout.keys(np.repeat(species, 2))       # every element twice: every pair
        for key in keys:
            kind = _kind(key)
            lam, sigma = key[-2:]
            n_out = len(layout.outputs(key[0], key[1], key[-3])[(lam, sigma)])
            pair = key[0] == "pair"
            n_features = self._n_features(lam, sigma, pair)
            rows = self.channels.setdefault(kind, [])
            first = rows[-1][5] + rows[-1][3] * rows[-1][4] if rows else 0
            rows.append((key, lam, sigma, n_features, n_out, first))
        for kind, rows in self.channels.items():
            pair = kind.startswith("pair")
            self.directions[kind] = torch.nn.Linear(
                n_vector, (2 if pair else 1) * n_directions, bias=False)
            n_weights = rows[-1][5] + rows[-1][3] * rows[-1][4]
            self.weights[kind] = MLP(2 * n_in + n_rbf if pair else n_in, n_hidden,
                                     n_weights, activation)
        self.lambda_max = max(2, *(key[-2] for key in keys))
        self._register_harmonics(range(1, self.lambda_max + 1), featomic_p=True)
        for lam, degrees in _PSEUDO.items():
            for l1, l2 in degrees:
                self.register_buffer(f"cg_{l1}_{l2}_{lam}",
                                     torch.tensor(clebsch_gordan(l1, l2, lam)))
        self._plans: dict[tuple, list] = {}

    def _direction_pairs(self, pair: bool) -> list[tuple[int, int]]:
        k = self.n_directions
        if pair:        # bond with each atom's directions, and the atoms' with each other
            return ([(0, 1 + a) for a in range(2 * k)]
                    + [(1 + a, 1 + k + a) for a in range(k)])
        return [(a, (a + 1) % k) for a in range(k)] if k > 1 else []

    def _n_features(self, lam: int, sigma: int, pair: bool) -> int:
        if lam == 0:
            return 1
        if sigma > 0:
            return 1 + 2 * self.n_directions if pair else self.n_directions
        return len(self._direction_pairs(pair)) * len(_PSEUDO[lam])

    def _equivariants(self, d: torch.Tensor, pair: bool, wanted: set) -> dict:
        """``{(lambda, sigma): [n, n_features, 2 lambda + 1]}`` from directions
        ``d [n, n_dir, 3]``, for the ``wanted`` (lambda, sigma) with lambda > 0."""
        harmonics = {ell: self._harmonics(d, ell) for ell in range(1, self.lambda_max + 1)}
        out = {}
        pairs = self._direction_pairs(pair)
        p = [a for a, _ in pairs]
        q = [b for _, b in pairs]
        for lam, sigma in wanted:
            if sigma > 0:
                out[(lam, sigma)] = harmonics[lam]
                continue
            parts = [torch.einsum("npa,npb,abm->npm", harmonics[l1][:, p],
                                  harmonics[l2][:, q],
                                  getattr(self, f"cg_{l1}_{l2}_{lam}").to(d.dtype))
                     for l1, l2 in _PSEUDO[lam]]
            out[(lam, sigma)] = torch.cat(parts, dim=1)
        return out

    def _plan(self, numbers: np.ndarray) -> list:
        """``(kind, first atoms, second atoms, channels present)`` of a structure, the
        channels in the layout's order."""
        key = tuple(int(z) for z in numbers)
        if key not in self._plans:
            present = self.layout.keys(numbers)
            plan = {}
            for channel in present:
                kind = _kind(channel)
                if kind not in plan:
                    pairs = np.array(self.layout.atom_pairs(numbers, channel),
                                     int).reshape(-1, 2)
                    plan[kind] = (pairs[:, 0], pairs[:, 1])
            self._plans[key] = (present, plan)
        return self._plans[key]

    def forward(self, features: AtomicFeatures, batch: AtomicBatch) -> torch.Tensor:
        n_structures = batch.n_structures
        n_atoms = len(batch.numbers) // n_structures
        present, plan = self._plan(batch.numbers[:n_atoms].cpu().numpy())
        s, v, pos = features.scalar, features.vector, batch.positions
        offsets = torch.arange(n_structures, device=s.device)[:, None] * n_atoms
        values = {}
        for kind, (first, second) in plan.items():
            i = (offsets + torch.as_tensor(first, device=s.device)).reshape(-1)
            j = (offsets + torch.as_tensor(second, device=s.device)).reshape(-1)
            pair = kind.startswith("pair")
            learned = self.directions[kind](v).transpose(1, 2)          # [n_atoms, K', 3]
            if pair:
                r = pos[j] - pos[i]
                dist = torch.linalg.norm(r, dim=-1, keepdim=True)
                rbf = torch.exp(-((dist - self.rbf_centres) / self.rbf_width) ** 2)
                invariants = torch.cat([s[i], s[j], rbf], dim=1)
                k = self.n_directions
                d = torch.cat([(r / dist)[:, None], learned[i, :k], learned[j, k:]], dim=1)
            else:
                invariants, d = s[i], learned[i]
            weights = self.weights[kind](invariants)
            rows = self.channels[kind]
            equivariants = self._equivariants(d, pair, {(lam, sigma) for _, lam, sigma, *_
                                                        in rows if lam > 0})
            for key, lam, sigma, n_features, n_out, first_weight in rows:
                w = weights[:, first_weight:first_weight + n_features * n_out].reshape(
                    len(i), n_features, n_out)
                if lam == 0:
                    values[key] = w
                else:
                    values[key] = torch.einsum("nfm,nft->nmt",
                                               equivariants[(lam, sigma)], w)
        return torch.cat([values[key].reshape(n_structures, -1) for key in present],
                         dim=1)


def _kind(key) -> str:
    """The kind of block of a channel: ``atom_z`` or ``pair_z1_z2``."""
    return "_".join(str(k) for k in key[:-2])
