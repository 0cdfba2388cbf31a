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


def electron_count(atoms) -> int:
    """Electrons of a structure: ``n_electrons`` (or ``2 n_occ``) from its info, else the
    atomic numbers less ``info["charge"]``."""
    info = atoms.info
    if "n_electrons" in info:
        return int(round(float(info["n_electrons"])))
    if "n_occ" in info:
        return 2 * int(info["n_occ"])
    return int(atoms.numbers.sum()) - int(round(float(info.get("charge", 0))))


def molecule(atoms, basis: str):
    """PySCF's molecule of ``atoms`` (Å) in ``basis``, charge from ``info["charge"]``
    (default 0), lowest spin."""
    from pyscf import gto

    charge = int(round(float(atoms.info.get("charge", 0))))
    spin = (int(atoms.numbers.sum()) - charge) % 2
    return gto.M(atom=[(int(z), tuple(p)) for z, p in zip(atoms.numbers, atoms.positions,
                                                         strict=True)],
                 unit="Angstrom", basis=basis, charge=charge, spin=spin, verbose=0)


def overlap_matrices(structures, basis: str) -> list[np.ndarray]:
    """The exact overlap matrix of each structure in ``basis`` (PySCF's AO order)."""
    return [molecule(a, basis).intor("int1e_ovlp") for a in structures]


def hermitian_power(S: np.ndarray, power: float) -> np.ndarray:
    """S^power of a Hermitian positive-definite matrix, or of a stack of them (real or
    complex; -1/2: Löwdin's orthogonalisation)."""
    w, v = np.linalg.eigh(S)
    return (v * w[..., None, :] ** power) @ np.swapaxes(v, -1, -2).conj()


def overlap_powers(structures, basis: str, power: float) -> list[np.ndarray]:
    """S^power of each structure's exact overlap (-1/2: Löwdin's orthogonalisation)."""
    return [hermitian_power(S, power) for S in overlap_matrices(structures, basis)]


#: How many of the lowest occupied-to-virtual orbital pairs' strengths a Hamiltonian gives.
N_PAIRS = 10


def eigenpairs(matrices, structures, basis: str):
    """PySCF's molecule, the generalised eigenvalues (ascending, in the matrices' unit) and
    eigenvectors of each Hamiltonian ``(n, n_ao, n_ao)`` with its structure's exact
    overlap, one structure at a time."""
    from scipy.linalg import eigh

    for H, atoms in zip(matrices, structures, strict=True):
        mol = molecule(atoms, basis)
        yield (mol, *eigh(H, mol.intor("int1e_ovlp")))


def orbital_energies(matrices, structures, basis: str) -> np.ndarray:
    """Generalised eigenvalues (ascending, in the matrices' unit) of Hamiltonians ``(n,
    n_ao, n_ao)`` with the structures' exact overlaps."""
    return np.array([e for _, e, _ in eigenpairs(matrices, structures, basis)])


def pair_strengths(mol, energies: np.ndarray, coefficients: np.ndarray, n_occ: int,
                   n_pairs: int = N_PAIRS) -> np.ndarray:
    """Oscillator strengths :math:`\\frac{4}{3}\\Delta\\varepsilon_{ia}|\\langle i|r|a
    \\rangle|^2` (closed shell, length gauge) of the ``n_pairs`` occupied-to-virtual
    orbital pairs of lowest :math:`\\Delta\\varepsilon`, ascending in it, from the
    orbital ``energies`` (Ha) and ``coefficients`` of PySCF's molecule ``mol``."""
    n_virtual = min(len(energies) - n_occ, n_pairs)
    gaps = (energies[n_occ:n_occ + n_virtual][None, :] - energies[:n_occ, None]).ravel()
    dipoles = np.einsum("cmn,mi,na->iac", mol.intor("int1e_r"), coefficients[:, :n_occ],
                        coefficients[:, n_occ:n_occ + n_virtual]).reshape(-1, 3)
    strengths = 4.0 / 3.0 * gaps * (dipoles**2).sum(axis=1)
    return strengths[np.argsort(gaps, kind="stable")[:n_pairs]]


def levels(matrices, structures, basis: str, unit: str = "eV") -> dict[str, np.ndarray]:
    """What follows from predicted Hamiltonians ``(n, n_ao, n_ao)`` in ``unit`` (ASE's
    name): all orbital energies with the exact overlap, and the HOMO, LUMO and gap of
    closed shells (n_electrons / 2 occupied), in that unit, and the oscillator strengths
    of the lowest orbital pairs (:func:`pair_strengths`; names of
    :func:`~atomlearn.targets.operator_outputs`)."""
    import ase.units

    to_hartree = getattr(ase.units, unit) / ase.units.Hartree
    n_occ = np.array([electron_count(a) // 2 for a in structures])
    energies, pairs = [], []
    for (mol, e, C), n in zip(eigenpairs(matrices, structures, basis), n_occ, strict=True):
        energies.append(e)
        pairs.append(pair_strengths(mol, e * to_hartree, C, n))
    energies = np.array(energies)
    rows = np.arange(len(structures))
    homo, lumo = energies[rows, n_occ - 1], energies[rows, n_occ]
    return {"orbital_energies": energies, "homo": homo, "lumo": lumo, "gap": lumo - homo,
            "orbital_pair_strengths": np.array(pairs)}


#: A block channel: ``("atom", z, lambda, sigma)`` for the on-site blocks of element z,
#: ``("pair", z_i, z_j, lambda, sigma)`` for the blocks of ordered pairs i != j.
BlockKey = tuple


def parity(l1: int, l2: int, lam: int) -> int:
    """featomic's ``o3_sigma`` of the lambda part of an (l1, l2) block: under inversion
    the part changes by (-1)^(l1 + l2) = sigma (-1)^lambda."""
    return 1 if (l1 + l2 + lam) % 2 == 0 else -1


@dataclass(frozen=True)
class BlockSamples:
    """Which blocks of which structures a channel's rows are.

    Attributes
    ----------
    structure, first, second : ndarray [n_samples]
        Structure and atom indices (``first == second`` for on-site blocks).
    """

    structure: np.ndarray
    first: np.ndarray
    second: np.ndarray


class OperatorLayout:
    """How the matrices of an operator split into equivariant channels.

    A channel gathers every block of one kind (on-site blocks of one element, blocks of
    one ordered pair of elements) and one (lambda, sigma): its targets have shape
    ``(n_samples, 2 lambda + 1, n_outputs)``, one output per shell pair (a, b) whose
    coupling has that (lambda, sigma). On-site blocks are symmetric, so only a <= b is
    learned and the parts of a block with itself that would be antisymmetric (sigma =
    -1) are zero and skipped. Pair blocks are learned for both orders (H_ji = H_ij^T) and
    predictions averaged as H_ij = (B_ij + B_ji^T) / 2, so an assembled matrix is
    symmetric and follows permutations of the atoms.

    Parameters
    ----------
    orbitals : AtomicOrbitals
    """

    def __init__(self, orbitals: AtomicOrbitals) -> None:
        self.orbitals = orbitals

    def outputs(self, kind: str, z1: int, z2: int) -> dict[tuple[int, int], tuple]:
        """``{(lambda, sigma): ((a, b), ...)}`` of on-site blocks (``kind="atom"``,
        z1 == z2) or pair blocks (``"pair"``)."""
        return _outputs(kind, self.orbitals.shells[z1], self.orbitals.shells[z2])

    def keys(self, numbers) -> list[BlockKey]:
        """Every channel of a structure of atoms ``numbers`` (pairs of one element only
        where it has two atoms)."""
        zs, counts = np.unique(np.asarray(numbers, int), return_counts=True)
        many = dict(zip(zs.tolist(), (counts > 1).tolist(), strict=True))
        keys = [("atom", z, *ls) for z in many for ls in self.outputs("atom", z, z)]
        keys += [("pair", z1, z2, *ls) for z1 in many for z2 in many
                 if z1 != z2 or many[z1] for ls in self.outputs("pair", z1, z2)]
        return keys

    def samples(self, structures_numbers: list[np.ndarray], key: BlockKey) -> BlockSamples:
        """The blocks of ``key`` in structures of the given atomic numbers, in (structure,
        first atom, second atom) order."""
        parts = []
        for s, numbers in enumerate(structures_numbers):
            pairs = np.array(self.atom_pairs(np.asarray(numbers), key), int).reshape(-1, 2)
            parts.append(np.column_stack([np.full(len(pairs), s), pairs]))
        rows = np.concatenate(parts) if parts else np.zeros((0, 3), int)
        return BlockSamples(*(rows[:, k].astype(int) for k in range(3)))

    def decompose(self, matrices: np.ndarray, numbers) -> dict[BlockKey, np.ndarray]:
        """The channels of operators ``(n, n_ao, n_ao)`` (PySCF order) of ``n`` structures
        with the same atoms ``numbers``: ``{key: (n * n_blocks, 2 lambda + 1, n_outputs)}``,
        rows in the order of :meth:`samples`."""
        numbers = np.asarray(numbers)
        matrices = np.asarray(matrices, float)
        slices = self.orbitals.shell_slices(numbers)
        out = {}
        for key in self.keys(numbers):
            lam, sigma = key[-2:]
            pairs = self.atom_pairs(numbers, key)
            channels = self.outputs(key[0], key[1], key[-3])[(lam, sigma)]
            values = np.empty((len(matrices), len(pairs), 2 * lam + 1, len(channels)))
            for p, (i, j) in enumerate(pairs):
                for t, (a, b) in enumerate(channels):
                    (l1, s1), (l2, s2) = slices[i][a], slices[j][b]
                    block = to_featomic_order(matrices[:, s1, s2].transpose(1, 2, 0), l1, l2)
                    values[:, p, :, t] = np.einsum("abf,abm->fm", block,
                                                   clebsch_gordan(l1, l2, lam))
            out[key] = values.reshape(-1, 2 * lam + 1, len(channels))
        return out

    def assemble(self, parts: dict[BlockKey, np.ndarray], numbers, n: int) -> np.ndarray:
        """Inverse of :meth:`decompose` (``n`` structures with atoms ``numbers``), pair
        blocks symmetrised; channels missing from ``parts`` count as zero."""
        numbers = np.asarray(numbers)
        slices = self.orbitals.shell_slices(numbers)
        n_ao = sum(self.orbitals.n_functions(int(z)) for z in numbers)
        H = np.zeros((n, n_ao, n_ao))
        for key, values in parts.items():
            lam, sigma = key[-2:]
            pairs = self.atom_pairs(numbers, key)
            channels = self.outputs(key[0], key[1], key[-3])[(lam, sigma)]
            values = values.reshape(n, len(pairs), 2 * lam + 1, len(channels))
            weight = 1.0 if key[0] == "atom" else 0.5
            for p, (i, j) in enumerate(pairs):
                for t, (a, b) in enumerate(channels):
                    (l1, s1), (l2, s2) = slices[i][a], slices[j][b]
                    block = weight * to_pyscf_order(np.einsum(
                        "fm,abm->abf", values[:, p, :, t], clebsch_gordan(l1, l2, lam)),
                        l1, l2).transpose(2, 0, 1)
                    H[:, s1, s2] += block
                    if key[0] == "pair" or a != b:
                        H[:, s2, s1] += block.transpose(0, 2, 1)
        return H

    def flatten(self, parts: dict[BlockKey, np.ndarray], n: int) -> np.ndarray:
        """The channels of :meth:`decompose` for ``n`` structures as one row each,
        ``(n, n_values)``, channels in the order of :meth:`keys`."""
        return np.concatenate([v.reshape(n, -1) for v in parts.values()], axis=1)

    def unflatten(self, flat: np.ndarray, numbers) -> dict[BlockKey, np.ndarray]:
        """Inverse of :meth:`flatten` for structures of atoms ``numbers``."""
        numbers = np.asarray(numbers)
        parts, start = {}, 0
        for key in self.keys(numbers):
            shape = (2 * key[-2] + 1, len(self.outputs(key[0], key[1], key[-3])[key[-2:]]))
            size = len(self.atom_pairs(numbers, key)) * shape[0] * shape[1]
            parts[key] = flat[:, start:start + size].reshape(-1, *shape)
            start += size
        return parts

    def adjoint(self, gradient: np.ndarray, numbers) -> dict[BlockKey, np.ndarray]:
        """The gradient with respect to the channels of a function of assembled matrices
        whose (symmetric) gradient is ``gradient``: :meth:`decompose`, with off-diagonal
        on-site blocks counted twice (they are placed at (a, b) and (b, a))."""
        out = self.decompose(gradient, numbers)
        for key, part in out.items():
            if key[0] == "atom":
                pairs = self.outputs("atom", key[1], key[1])[key[-2:]]
                out[key] = part * np.array([1.0 if a == b else 2.0 for a, b in pairs])
        return out

    @staticmethod
    def atom_pairs(numbers: np.ndarray, key: BlockKey) -> list[tuple[int, int]]:
        """The (first, second) atoms of every block of channel ``key`` in a structure of
        atoms ``numbers``, in the channel's row order."""
        if key[0] == "atom":
            return [(i, i) for i in np.flatnonzero(numbers == key[1])]
        return [(i, j) for i in np.flatnonzero(numbers == key[1])
                for j in np.flatnonzero(numbers == key[2]) if i != j]


@lru_cache(maxsize=None)
def _outputs(kind: str, shells1: tuple, shells2: tuple) -> dict[tuple[int, int], tuple]:
    out: dict[tuple[int, int], list] = {}
    for a, l1 in enumerate(shells1):
        for b, l2 in enumerate(shells2):
            if kind == "atom" and b < a:
                continue
            for lam in range(abs(l1 - l2), l1 + l2 + 1):
                sigma = parity(l1, l2, lam)
                if kind == "atom" and a == b and sigma < 0:
                    continue
                out.setdefault((lam, sigma), []).append((a, b))
    return {k: tuple(v) for k, v in sorted(out.items())}


__all__ = ["AtomicOrbitals", "BlockSamples", "OperatorLayout", "couple", "electron_count",
           "hermitian_power", "levels", "molecule", "orbital_energies", "overlap_matrices",
           "overlap_powers", "parity",
           "to_featomic_order", "to_pyscf_order", "uncouple"]
