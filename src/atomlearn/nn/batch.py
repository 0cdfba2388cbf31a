"""Batches of structures as tensors, with neighbour pairs and angle triplets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ase
import numpy as np
import torch

from ..neighbors import neighbor_list


@dataclass
class AtomicBatch:
    """Structures packed for a network.

    Attributes
    ----------
    positions : Tensor [n_atoms, 3]
        Å; ``requires_grad`` is set when forces are needed.
    numbers, structure : Tensor [n_atoms]
        Atomic numbers and structure index of each atom.
    cells : Tensor [n_structures, 3, 3]
    edge_i, edge_j : Tensor [n_edges]
        Neighbour pairs (centre, neighbour) within the cutoff, both directions.
    edge_shift : Tensor [n_edges, 3]
        Integer cell shifts, so that ``r_ij = r_j - r_i + shift @ cell``.
    triplet_ij, triplet_ik : Tensor [n_triplets]
        Pairs of edges sharing the centre i (j != k), for angular terms.
    n_atoms : Tensor [n_structures]
    total_charge : Tensor [n_structures]
        Total charge in e (``atoms.info["charge"]``, 0 when absent).
    """

    positions: torch.Tensor
    numbers: torch.Tensor
    structure: torch.Tensor
    cells: torch.Tensor
    edge_i: torch.Tensor
    edge_j: torch.Tensor
    edge_shift: torch.Tensor
    triplet_ij: torch.Tensor
    triplet_ik: torch.Tensor
    n_atoms: torch.Tensor
    total_charge: torch.Tensor

    @property
    def n_structures(self) -> int:
        return len(self.n_atoms)

    def edge_vectors(self) -> torch.Tensor:
        """r_j - r_i (+ periodic shift), [n_edges, 3], differentiable in positions."""
        shift = torch.einsum("ea,eab->eb", self.edge_shift,
                             self.cells[self.structure[self.edge_i]])
        return self.positions[self.edge_j] - self.positions[self.edge_i] + shift

    def to(self, device=None, dtype=None) -> AtomicBatch:
        def conv(t):
            if t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)
        return AtomicBatch(**{k: conv(v) for k, v in self.__dict__.items()})


def make_batch(structures: Sequence[ase.Atoms], cutoff: float, *, angles: bool = True,
               dtype=torch.float64) -> AtomicBatch:
    """Pack ``structures`` with their neighbour pairs (and triplets) within ``cutoff`` Å."""
    offset = 0
    pos, num, struct, cells, ei, ej, sh = [], [], [], [], [], [], []
    for s, atoms in enumerate(structures):
        nl = neighbor_list(atoms, cutoff)
        pos.append(atoms.positions)
        num.append(atoms.numbers)
        struct.append(np.full(len(atoms), s))
        cells.append(atoms.cell.array if atoms.pbc.any() else np.zeros((3, 3)))
        ei.append(nl.i + offset)
        ej.append(nl.j + offset)
        sh.append(nl.shifts)
        offset += len(atoms)
    edge_i = np.concatenate(ei).astype(np.int64)
    edge_j = np.concatenate(ej).astype(np.int64)
    if angles and len(edge_i):
        order = np.argsort(edge_i, kind="stable")
        starts = np.searchsorted(edge_i[order], np.arange(offset + 1))
        tij, tik = [], []
        for a in range(offset):
            e = order[starts[a] : starts[a + 1]]
            if len(e) > 1:
                jj, kk = np.meshgrid(e, e, indexing="ij")
                keep = jj != kk
                tij.append(jj[keep])
                tik.append(kk[keep])
        tij = np.concatenate(tij) if tij else np.zeros(0, np.int64)
        tik = np.concatenate(tik) if tik else np.zeros(0, np.int64)
    else:
        tij = tik = np.zeros(0, np.int64)
    return AtomicBatch(
        positions=torch.tensor(np.concatenate(pos), dtype=dtype),
        numbers=torch.tensor(np.concatenate(num), dtype=torch.long),
        structure=torch.tensor(np.concatenate(struct), dtype=torch.long),
        cells=torch.tensor(np.stack(cells), dtype=dtype),
        edge_i=torch.tensor(edge_i), edge_j=torch.tensor(edge_j),
        edge_shift=torch.tensor(np.concatenate(sh), dtype=dtype),
        triplet_ij=torch.tensor(tij, dtype=torch.long),
        triplet_ik=torch.tensor(tik, dtype=torch.long),
        n_atoms=torch.tensor([len(a) for a in structures], dtype=torch.long),
        total_charge=torch.tensor([float(a.info.get("charge", 0.0)) for a in structures],
                                  dtype=dtype),
    )
