"""Operators in an atom-centred basis (Kohn-Sham Hamiltonians, overlaps): their layout
from the basis, and each (l1, l2) block as irreducible parts that rotate like
lambda-SOAP.

PySCF orders an atom's functions by shell and, within a shell, by m = -l..l, except for
p shells, which it orders x, y, z (m = +1, -1, 0). With p reordered to (y, z, x), PySCF's
real harmonics rotate with the same Wigner D-matrices as featomic's (checked for
l <= 3 in ``tests/targets/test_operators.py``), so a block coupled with featomic's real
Clebsch-Gordan coefficients has parts that rotate as lambda-SOAP features of that
lambda: :math:`H^{\\lambda}_\\mu = \\sum_{m_1 m_2} C^{\\lambda\\mu}_{l_1 m_1, l_2 m_2}
H_{m_1 m_2}`, lambda = |l1 - l2| .. l1 + l2, and the map is orthogonal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: PySCF's p order (x, y, z) -> featomic's (y, z, x), and back
P_TO_FEATOMIC = np.array([1, 2, 0])
P_FROM_FEATOMIC = np.argsort(P_TO_FEATOMIC)


@dataclass(frozen=True)
class AtomicOrbitals:
    """The shells of each element in a basis, in PySCF's order.

    Attributes
    ----------
    basis : str
        PySCF's name of the basis (``"def2-svp"``).
    shells : dict of int to tuple of int
        Angular momentum of every contracted shell of each atomic number.
    """

    basis: str
    shells: dict

    @classmethod
    def from_pyscf(cls, basis: str, numbers) -> AtomicOrbitals:
        """The shells of ``basis`` for the elements of ``numbers`` (from PySCF)."""
        from pyscf import gto

        shells = {}
        for z in sorted({int(z) for z in numbers}):
            mol = gto.M(atom=[[z, (0.0, 0.0, 0.0)]], basis=basis, spin=z % 2, unit="Bohr")
            shells[z] = tuple(int(mol.bas_angular(i)) for i in range(mol.nbas)
                              for _ in range(mol.bas_nctr(i)))
        return cls(basis, shells)

    def n_functions(self, z: int) -> int:
        """Basis functions of atomic number ``z``."""
        return sum(2 * ell + 1 for ell in self.shells[z])

    def shell_slices(self, numbers) -> list[list[tuple[int, slice]]]:
        """For every atom of a structure, ``(l, slice)`` of each of its shells in the
        structure's operator matrix."""
        out, start = [], 0
        for z in numbers:
            atom = []
            for ell in self.shells[int(z)]:
                atom.append((ell, slice(start, start + 2 * ell + 1)))
                start += 2 * ell + 1
            out.append(atom)
        return out


def to_featomic_order(block: np.ndarray, l1: int, l2: int) -> np.ndarray:
    """A (2 l1 + 1, 2 l2 + 1) block with PySCF's m order in featomic's (p reordered)."""
    return _reorder_p(block, l1, l2, P_TO_FEATOMIC)


def to_pyscf_order(block: np.ndarray, l1: int, l2: int) -> np.ndarray:
    """Inverse of :func:`to_featomic_order`."""
    return _reorder_p(block, l1, l2, P_FROM_FEATOMIC)


def _reorder_p(block: np.ndarray, l1: int, l2: int, order: np.ndarray) -> np.ndarray:
    if l1 == 1:
        block = block[order]
    return block[:, order] if l2 == 1 else block


@lru_cache(maxsize=None)
def clebsch_gordan(l1: int, l2: int, lam: int) -> np.ndarray:
    """featomic's real Clebsch-Gordan coefficients, shape (2 l1 + 1, 2 l2 + 1, 2 lam + 1)."""
    cg = _cg_table(max(l1, l2, lam))
    return np.ascontiguousarray(
        cg.block({"l1": l1, "l2": l2, "lambda": lam}).values[0, :, :, :, 0])


@lru_cache(maxsize=4)
def _cg_table(lambda_max: int):
    from ..descriptors import _featomic

    return _featomic.clebsch_gordan().calculate_cg_coefficients(
        max(lambda_max, 1), "python-dense", "numpy", np.float64, "cpu")


def couple(block: np.ndarray, l1: int, l2: int) -> dict[int, np.ndarray]:
    """The irreducible parts ``{lambda: (..., 2 lambda + 1)}`` of blocks
    ``(..., 2 l1 + 1, 2 l2 + 1)`` in featomic's m order."""
    return {lam: np.einsum("...ab,abm->...m", block, clebsch_gordan(l1, l2, lam))
            for lam in range(abs(l1 - l2), l1 + l2 + 1)}


def uncouple(parts: dict[int, np.ndarray], l1: int, l2: int) -> np.ndarray:
    """Inverse of :func:`couple` (the coupling is orthogonal)."""
    return sum(np.einsum("...m,abm->...ab", parts[lam], clebsch_gordan(l1, l2, lam))
               for lam in range(abs(l1 - l2), l1 + l2 + 1))


__all__ = ["AtomicOrbitals", "couple", "to_featomic_order", "to_pyscf_order", "uncouple"]
