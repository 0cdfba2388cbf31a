"""Equivariant per-atom head for the coefficients of a density in an atom-centred basis.

Each atom of element z outputs every shell of its auxiliary basis: l = 0 shells from an
MLP of its invariant features (about the training mean), l >= 1 shells from K learned
directions u_k (linear combinations of the atom's vector channels, which rotate as
vectors) through PySCF's real solid harmonics of degree l,
:math:`c_{nlm} = \\sum_k g_{knl}(s)\\,P_{lm}(u_k)`, with invariant gates g. A solid
harmonic of a rotated vector is the harmonic rotated by the Wigner matrix of l, and
P_lm are PySCF's own cartesian-to-spherical combinations, so the outputs transform
exactly as PySCF's functions of that l (p as x, y, z) for any l; their parity (-1)^l is
that of a density's coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..batch import AtomicBatch
from ..features import AtomicFeatures
from ..layers import MLP
from .harmonics import SolidHarmonics


class DensityHead(SolidHarmonics, torch.nn.Module):
    """Per-structure coefficient vectors (PySCF's order: atoms in order, each atom's
    shells in basis order) of an atom-centred basis.

    Parameters
    ----------
    shells : mapping of int to sequence of int
        Angular momentum of every shell of each element's basis.
    n_in : int
        Scalar feature width.
    n_vector : int
        Vector channels of the representation.
    n_hidden, activation
        MLP settings of the l = 0 outputs and the gates.
    n_directions : int
        Learned directions K per element and l.
    """

    def __init__(self, shells: Mapping[int, Sequence[int]], n_in: int, n_vector: int,
                 n_hidden=(32,), activation: str = "silu", n_directions: int = 8) -> None:
        super().__init__()
        self.shells = {int(z): tuple(int(ell) for ell in s) for z, s in shells.items()}
        self.n_directions = n_directions
        self.ls = sorted({ell for s in self.shells.values() for ell in s if ell > 0})
        self.scalars = torch.nn.ModuleDict()
        self.directions = torch.nn.ModuleDict()
        self.gates = torch.nn.ModuleDict()
        for z, s in self.shells.items():
            self.scalars[str(z)] = MLP(n_in, n_hidden, max(s.count(0), 1), activation)
            for ell in sorted(set(s) - {0}):
                key = f"{z}_{ell}"
                self.directions[key] = torch.nn.Linear(n_vector, n_directions, bias=False)
                self.gates[key] = MLP(n_in, n_hidden, n_directions * s.count(ell),
                                      activation)
            # where each shell's components go in the atom's vector, and scales/offsets
            # per function set from the training labels (model._initialise)
            size = sum(2 * ell + 1 for ell in s)
            self.register_buffer(f"offset_{z}", torch.zeros(size))
            self.register_buffer(f"scale_{z}", torch.ones(size))
        self._register_harmonics(self.ls)

    def n_functions(self, z: int) -> int:
        return sum(2 * ell + 1 for ell in self.shells[z])

    def atomic(self, features: AtomicFeatures, z: int) -> torch.Tensor:
        """The coefficients [n, n_functions(z)] of atoms of element ``z`` with features
        ``features`` (scaled and offset)."""
        s, v = features.scalar, features.vector
        shells = self.shells[z]
        scalar_out = self.scalars[str(z)](s)
        parts: dict[int, torch.Tensor] = {}
        for ell in sorted(set(shells) - {0}):
            key = f"{z}_{ell}"
            u = self.directions[key](v).transpose(1, 2)            # [n, K, 3]
            harmonics = self._harmonics(u, ell)                    # [n, K, 2l+1]
            gates = self.gates[key](s).reshape(len(s), self.n_directions, -1)
            parts[ell] = torch.einsum("nkc,nkm->ncm", gates, harmonics)
        counters = dict.fromkeys(set(shells), 0)
        pieces = []
        for ell in shells:
            c = counters[ell]
            counters[ell] += 1
            pieces.append(scalar_out[:, c:c + 1] if ell == 0 else parts[ell][:, c])
        out = torch.cat(pieces, dim=1)
        return out * getattr(self, f"scale_{z}") + getattr(self, f"offset_{z}")

    def forward(self, features: AtomicFeatures, batch: AtomicBatch) -> torch.Tensor:
        """[n_structures, n_coefficients] (all structures with the same count)."""
        numbers = batch.numbers
        sizes = torch.zeros_like(numbers)
        for z in self.shells:
            sizes = torch.where(numbers == z, self.n_functions(z), sizes)
        starts = torch.cumsum(sizes, 0) - sizes
        total = int(sizes.sum())
        out = features.scalar.new_zeros(total)
        for z in self.shells:
            mask = numbers == z
            if not bool(mask.any()):
                continue
            rows = mask.nonzero()[:, 0]
            sub = AtomicFeatures(features.scalar[rows], features.vector[rows])
            values = self.atomic(sub, z)
            index = starts[rows][:, None] + torch.arange(self.n_functions(z),
                                                         device=numbers.device)
            out = out.index_put((index.reshape(-1),), values.reshape(-1))
        return out.reshape(batch.n_structures, -1)

    def initialise(self, numbers: Sequence[np.ndarray], coefficients: np.ndarray) -> None:
        """Offsets (mean of l = 0 coefficients) and scales (spread of each function)
        from training structures' atomic numbers and coefficients [n, n_coefficients]."""
        per_element: dict[int, list] = {z: [] for z in self.shells}
        for z_row, c in zip(numbers, coefficients, strict=True):
            start = 0
            for z in z_row:
                n = self.n_functions(int(z))
                per_element[int(z)].append(c[start:start + n])
                start += n
        with torch.no_grad():
            for z, rows in per_element.items():
                if not rows:
                    continue
                y = np.stack(rows)
                shell = np.concatenate([[k] * (2 * ell + 1)
                                        for k, ell in enumerate(self.shells[z])])
                is_s = np.concatenate([[ell == 0] * (2 * ell + 1) for ell in self.shells[z]])
                offset = np.where(is_s, y.mean(0), 0.0)
                # one scale per shell: its components must rotate together
                square = np.bincount(shell, ((y - offset) ** 2).mean(0)) / np.bincount(shell)
                scale = np.maximum(np.sqrt(square), 1e-6)[shell]
                getattr(self, f"offset_{z}").copy_(torch.tensor(offset))
                getattr(self, f"scale_{z}").copy_(torch.tensor(scale))
