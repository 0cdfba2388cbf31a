"""The electron density as a target: coefficients in an atom-centred auxiliary basis.

A density fitted in an auxiliary basis (PySCF's ``density_fit``; the shipped ethanol
data use def2-universal-jkfit) is :math:`\\rho(r) = \\sum_P c_P \\chi_P(r)`, with the
coefficients of a structure in PySCF's order: atoms in file order, shells in basis order,
p functions as x, y, z, l >= 2 as m = -l..l. :class:`DensityLayout` splits them into the
equivariant channels SALTED learns: every atom of one element and one angular momentum
lambda (the shells of that lambda as outputs, p reordered to featomic's m order), with
the interface of :class:`~atomlearn.targets.operators.OperatorLayout`, so one block-wise
SA-GPR fits both.

The moments of the auxiliary functions (:func:`moments`) are libcint's overlap and
dipole integrals with an s function so wide (exponent 1e-14 bohr^-2) that it is constant
over a molecule to 1e-12; they give the electron count and the dipole of a density
without a grid, and :func:`normalise` the shift of the l = 0 coefficients that makes the
count exact.
"""

from __future__ import annotations

from functools import lru_cache

import ase
import numpy as np

from .operators import P_TO_FEATOMIC, AtomicOrbitals, BlockSamples, electron_count, molecule

#: The auxiliary basis of the shipped ethanol densities (PySCF's name).
DEFAULT_BASIS = "def2-universal-jkfit"


class DensityLayout:
    """How the coefficient vectors of a density split into equivariant channels.

    A channel ``("atom", z, lambda, 1)`` holds, for every atom of element z, the
    (2 lambda + 1) components of each of its shells of angular momentum lambda, shape
    ``(n_samples, 2 lambda + 1, n_shells)`` in featomic's m order (real harmonics of a
    scalar field are even under inversion up to (-1)^lambda: featomic's sigma = +1).

    Parameters
    ----------
    orbitals : AtomicOrbitals
        The shells of the auxiliary basis.
    """

    def __init__(self, orbitals: AtomicOrbitals) -> None:
        self.orbitals = orbitals
        self._columns: dict[tuple, dict] = {}

    def outputs(self, kind: str, z1: int, z2: int) -> dict[tuple[int, int], tuple]:
        """``{(lambda, 1): (shell, ...)}`` of element ``z1``."""
        return _outputs(self.orbitals.shells[z1])

    def keys(self, numbers) -> list[tuple]:
        """Every channel of a structure of atoms ``numbers``."""
        return [("atom", z, *ls) for z in np.unique(np.asarray(numbers, int)).tolist()
                for ls in self.outputs("atom", z, z)]

    def samples(self, structures_numbers: list[np.ndarray], key: tuple) -> BlockSamples:
        """The atoms of ``key``'s element in each structure, in (structure, atom) order."""
        parts = [np.column_stack([np.full(n.sum(), s), np.flatnonzero(n)])
                 for s, n in enumerate(np.asarray(z) == key[1] for z in structures_numbers)]
        rows = np.concatenate(parts) if parts else np.zeros((0, 2), int)
        return BlockSamples(rows[:, 0], rows[:, 1], rows[:, 1])

    def decompose(self, coefficients: np.ndarray, numbers) -> dict[tuple, np.ndarray]:
        """The channels of coefficients ``(n, n_coefficients)`` (PySCF order) of ``n``
        structures with atoms ``numbers``: ``{key: (n * n_atoms_z, 2 lambda + 1,
        n_shells)}``, rows in the order of :meth:`samples`."""
        coefficients = np.asarray(coefficients, float)
        out = {}
        for key, index in self._indices(tuple(int(z) for z in numbers)).items():
            values = coefficients[:, index]          # (n, atoms, shells, m)
            out[key] = values.transpose(0, 1, 3, 2).reshape(-1, index.shape[-1],
                                                          index.shape[1])
        return out

    def assemble(self, parts: dict[tuple, np.ndarray], numbers, n: int) -> np.ndarray:
        """Inverse of :meth:`decompose`; channels missing from ``parts`` count as zero."""
        index = self._indices(tuple(int(z) for z in numbers))
        size = sum(self.orbitals.n_functions(int(z)) for z in numbers)
        out = np.zeros((n, size))
        for key, values in parts.items():
            atoms, shells, m = index[key].shape
            out[:, index[key]] = values.reshape(n, atoms, m, shells).transpose(0, 1, 3, 2)
        return out

    def adjoint(self, gradient: np.ndarray, numbers) -> dict[tuple, np.ndarray]:
        """The gradient with respect to the channels of a function of the assembled
        coefficients whose gradient is ``gradient`` (the map is a permutation)."""
        return self.decompose(gradient, numbers)

    def columns(self, numbers, key: tuple) -> np.ndarray:
        """Where the values of channel ``key`` (flattened in :meth:`decompose`'s order:
        atom, component, shell) sit in a structure's coefficient vector."""
        return self._indices(tuple(int(z) for z in numbers))[key].transpose(0, 2, 1).ravel()

    def _indices(self, numbers: tuple) -> dict[tuple, np.ndarray]:
        """Column of every (atom, shell, m) of each channel: ``(atoms, shells, 2l+1)``."""
        if numbers not in self._columns:
            self._columns[numbers] = self._new_indices(numbers)
        return self._columns[numbers]

    def _new_indices(self, numbers: tuple) -> dict[tuple, np.ndarray]:
        starts, start = [], 0
        for z in numbers:
            starts.append(start)
            start += self.orbitals.n_functions(z)
        out = {}
        for key in self.keys(numbers):
            z, lam = key[1], key[2]
            offsets = np.cumsum([0, *(2 * ell + 1 for ell in self.orbitals.shells[z])])
            shells = self.outputs("atom", z, z)[(lam, 1)]
            order = P_TO_FEATOMIC if lam == 1 else np.arange(2 * lam + 1)
            out[key] = np.array([[starts[a] + offsets[s] + order for s in shells]
                                 for a in np.flatnonzero(np.array(numbers) == z)])
        return out


@lru_cache(maxsize=None)
def _outputs(shells: tuple) -> dict[tuple[int, int], tuple]:
    return {(lam, 1): tuple(s for s, ell in enumerate(shells) if ell == lam)
            for lam in sorted(set(shells))}


def auxiliary_molecule(atoms, basis: str = DEFAULT_BASIS):
    """PySCF's molecule of ``atoms`` in the auxiliary ``basis`` (its functions are in the
    order of the coefficients)."""
    return molecule(atoms, basis)


def moments(atoms, basis: str = DEFAULT_BASIS) -> tuple[np.ndarray, np.ndarray]:
    """The integral of every auxiliary function (``(n_coefficients,)``, bohr^-3 * bohr^3)
    and its dipole moment about the origin (``(3, n_coefficients)``, bohr) for a
    structure.

    Assembled from one table per element: a function's integral does not depend on where
    it sits, and its dipole about the origin is its centre times its integral plus its
    dipole about its centre.
    """
    from pyscf.data.nist import BOHR

    tables = [_element_moments(int(z), basis) for z in atoms.numbers]
    charge = np.concatenate([q for q, _ in tables])
    dipole = np.concatenate([np.outer(centre / BOHR, q) + d for (q, d), centre
                             in zip(tables, atoms.positions, strict=True)], axis=1)
    return charge, dipole


@lru_cache(maxsize=None)
def _element_moments(z: int, basis: str) -> tuple[np.ndarray, np.ndarray]:
    """Integrals and dipoles about their centre of one element's auxiliary functions."""
    from pyscf import gto

    aux = auxiliary_molecule(ase.Atoms(numbers=[z]), basis)
    flat = _flat_function()
    value = float(flat.eval_gto("GTOval", np.zeros((1, 3)))[0, 0])
    charge = gto.intor_cross("int1e_ovlp", aux, flat)[:, 0] / value
    dipole = gto.intor_cross("int1e_r", aux, flat)[:, :, 0] / value
    # exactly zero by symmetry: charges of l > 0, dipoles of l != 1
    ls = np.concatenate([[aux.bas_angular(i)] * ((2 * aux.bas_angular(i) + 1)
                                                  * aux.bas_nctr(i)) for i in range(aux.nbas)])
    charge[ls > 0] = 0.0
    dipole[:, ls != 1] = 0.0
    charge.flags.writeable = dipole.flags.writeable = False
    return charge, dipole


@lru_cache(maxsize=1)
def _flat_function():
    from pyscf import gto

    return gto.M(atom=[["X", (0.0, 0.0, 0.0)]], basis={"X": [[0, [1e-14, 1.0]]]},
                 unit="Bohr", verbose=0)


def electrons(coefficients: np.ndarray, structures, basis: str = DEFAULT_BASIS, *,
              integrals: list | None = None) -> np.ndarray:
    """Electrons in each structure's density ``(n, n_coefficients)`` (``integrals``: the
    structures' :func:`moments`, if already computed)."""
    integrals = integrals or [moments(a, basis) for a in structures]
    return np.array([w @ c for (w, _), c in zip(integrals, coefficients, strict=True)])


def dipoles(coefficients: np.ndarray, structures, basis: str = DEFAULT_BASIS, *,
            integrals: list | None = None) -> np.ndarray:
    """Dipole moments (e Å) of the densities ``(n, n_coefficients)`` with the nuclei
    (charge ``info["charge"]`` is the nuclei's less the density's)."""
    from pyscf.data.nist import BOHR  # the Å per bohr of PySCF's positions

    integrals = integrals or [moments(a, basis) for a in structures]
    return np.array([a.numbers @ a.positions - BOHR * (r @ c) for a, (_, r), c in
                     zip(structures, integrals, coefficients, strict=True)])


def normalise(coefficients: np.ndarray, structures, basis: str = DEFAULT_BASIS, *,
              integrals: list | None = None) -> np.ndarray:
    """Coefficients whose densities hold exactly the structures' electron counts: the
    smallest (Euclidean) change of the l = 0 coefficients, the only ones with charge."""
    integrals = integrals or [moments(a, basis) for a in structures]
    out = np.array(coefficients, float, copy=True)
    for row, (a, (w, _)) in enumerate(zip(structures, integrals, strict=True)):
        out[row] += (electron_count(a) - w @ out[row]) * w / (w @ w)
    return out


def outputs(spec, coefficients: np.ndarray, structures, names) -> dict[str, np.ndarray]:
    """What a model of the density target ``spec`` returns for ``names``: its
    coefficients (normalised if the target asks for it), the electrons and the dipole of
    the density (:func:`~atomlearn.targets.spec.density_outputs`)."""
    basis = spec.metadata["basis"]
    integrals = [moments(a, basis) for a in structures]
    if spec.metadata.get("normalize", True):
        coefficients = normalise(coefficients, structures, integrals=integrals)
    out = {spec.name: coefficients}
    if "density_electrons" in names:
        out["density_electrons"] = electrons(coefficients, structures, integrals=integrals)
    if "dipole" in names:
        out["dipole"] = dipoles(coefficients, structures, integrals=integrals)
    return {name: out[name] for name in names if name in out}


def coulomb_metric(atoms, basis: str = DEFAULT_BASIS) -> np.ndarray:
    """The Coulomb metric J_PQ = (P|Q) (hartree per unit charge) of a structure's
    auxiliary functions: the error of a density as the Hartree energy of the error,
    :math:`\\delta c^T J \\delta c / 2`."""
    return auxiliary_molecule(atoms, basis).intor("int2c2e")


def __getattr__(name: str):
    if name == "BOHR":       # PySCF's Å per bohr, without importing PySCF with this module
        from pyscf.data.nist import BOHR

        return BOHR
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_BASIS", "DensityLayout", "auxiliary_molecule",
           "coulomb_metric", "dipoles", "electrons", "moments", "normalise", "outputs"]
