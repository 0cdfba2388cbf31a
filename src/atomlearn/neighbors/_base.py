"""Neighbour lists: pairs (i, j) within a cutoff, with periodic images."""

from __future__ import annotations

from dataclasses import dataclass

import ase
import numpy as np
from ase.neighborlist import neighbor_list as _ase_neighbor_list

from ..errors import DataError
from ..structures.io import where


@dataclass(frozen=True)
class Neighbors:
    """Directed neighbour pairs of one structure.

    Attributes
    ----------
    i, j : numpy.ndarray of shape (n_pairs,)
        Centre and neighbour atom indices.
    shifts : numpy.ndarray of shape (n_pairs, 3)
        Integer cell shifts S, so that ``vectors = r_j - r_i + S @ cell``.
    vectors : numpy.ndarray of shape (n_pairs, 3)
        Pair vectors in Å.
    distances : numpy.ndarray of shape (n_pairs,)
        Pair distances in Å.
    """

    i: np.ndarray
    j: np.ndarray
    shifts: np.ndarray
    vectors: np.ndarray
    distances: np.ndarray


#: Thinnest periodic cell accepted, in Å: thinner cells are almost always a molecule
#: flagged periodic by mistake or a cell in the wrong unit.
MIN_CELL_HEIGHT = 1.0


def check_cell(atoms: ase.Atoms, cutoff: float) -> None:
    """Raise :class:`DataError` when a periodic cell is degenerate or absurdly small.

    Cells narrower than the cutoff are fine (periodic images are included, so a 2-atom
    silicon cell and its supercells describe the same crystal). A singular cell, or one
    thinner than :data:`MIN_CELL_HEIGHT` along a periodic direction (which would bring
    thousands of images inside the cutoff), is refused.
    """
    if not atoms.pbc.any():
        return
    cell = atoms.cell.array[atoms.pbc]
    if np.linalg.matrix_rank(cell) < int(atoms.pbc.sum()):
        raise DataError(
            f"The cell of {where(atoms)} is singular along periodic directions; give a "
            "full cell or set pbc=False for the non-periodic directions."
        )
    if atoms.pbc.all():
        heights = atoms.cell.volume / np.linalg.norm(
            np.cross(atoms.cell.array[[1, 2, 0]], atoms.cell.array[[2, 0, 1]]), axis=1)
        if heights.min() < MIN_CELL_HEIGHT:
            raise DataError(
                f"The cell of {where(atoms)} is only {heights.min():.3g} Å thick along "
                f"lattice vector {int(np.argmin(heights))}, far too small for a cutoff of "
                f"{cutoff:g} Å. Check that the cell is in Å, or set pbc=False for a molecule."
            )


def neighbor_list(atoms: ase.Atoms, cutoff: float) -> Neighbors:
    """All ordered pairs (i, j), i != j or a periodic image, with distance below ``cutoff``.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure (periodic along ``atoms.pbc``).
    cutoff : float
        Cutoff radius in Å.

    Returns
    -------
    Neighbors
        The pairs, each pair listed in both directions.
    """
    check_cell(atoms, cutoff)
    i, j, d, D, S = _ase_neighbor_list("ijdDS", atoms, cutoff)
    return Neighbors(i=i, j=j, shifts=S, vectors=D, distances=d)
