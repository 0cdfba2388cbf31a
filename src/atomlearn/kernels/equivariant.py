"""The symmetry-adapted (lambda) kernel of SA-GPR as a kernel of the common algebra.

For a target that transforms as spherical order lambda (a dipole: lambda = 1; the
symmetric traceless part of a polarizability: lambda = 2), the covariance between
environments i and j is the (2 lambda + 1) x (2 lambda + 1) block

    k^lambda_{mu mu'}(i, j) = (x^lambda_i x^lambda_j^T)_{mu mu'} (x^0_i . x^0_j)^(zeta - 1)

of normalised lambda-SOAP features (zero between centres of different elements; Grisafi
et al., PRL 120, 036002 (2018)); the structure kernel sums it over both structures' atoms.
Because x^lambda rotates with the Wigner matrix D^lambda(R), so does every prediction,
whatever the weights. Rows of the kernel matrix are the spherical components of the
structures (``len`` of the input is n_structures * (2 lambda + 1)), so
``ConstantKernel(s**2) * SymmetryAdaptedKernel(...)`` scales it as any kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from ..descriptors import EquivariantFeatures
from ._base import GenericKernelMixin, Kernel


@dataclass
class EquivariantEnvironments:
    """lambda-SOAP of the atoms of a set of structures with their invariant part (a kernel
    input).

    Attributes
    ----------
    values : numpy.ndarray of shape (n_atoms, 2 lambda + 1, n_features)
        Normalised lambda-SOAP.
    scalar : numpy.ndarray of shape (n_atoms, n_scalar_features)
        Normalised lambda = 0 SOAP (the invariant factor of the kernel).
    numbers : numpy.ndarray of shape (n_atoms,)
    structure : numpy.ndarray of shape (n_atoms,)
    n_structures : int
    """

    values: np.ndarray
    scalar: np.ndarray
    numbers: np.ndarray
    structure: np.ndarray
    n_structures: int

    @property
    def o3_lambda(self) -> int:
        return (self.values.shape[1] - 1) // 2

    def __len__(self) -> int:
        return self.n_structures * self.values.shape[1]

    @classmethod
    def from_features(cls, features: EquivariantFeatures, invariant: EquivariantFeatures,
                      n_structures: int | None = None) -> EquivariantEnvironments:
        n = (int(features.structure.max()) + 1 if len(features.structure) else 0
             ) if n_structures is None else n_structures
        return cls(features.values, invariant.values[:, 0, :], features.numbers,
                   features.structure, n)

    def points(self, rows: np.ndarray) -> EquivariantEnvironments:
        """Environments ``rows`` as one-atom "structures" (sparse points)."""
        return EquivariantEnvironments(self.values[rows], self.scalar[rows],
                                       self.numbers[rows], np.arange(len(rows)), len(rows))

    def subset(self, structures: np.ndarray) -> EquivariantEnvironments:
        """The environments of ``structures``, renumbered 0..len(structures)-1."""
        structures = np.asarray(structures)
        lookup = np.full(self.n_structures, -1)
        lookup[structures] = np.arange(len(structures))
        keep = np.flatnonzero(lookup[self.structure] >= 0)
        keep = keep[np.argsort(lookup[self.structure[keep]], kind="stable")]
        return EquivariantEnvironments(self.values[keep], self.scalar[keep],
                                       self.numbers[keep], lookup[self.structure[keep]],
                                       len(structures))


class SymmetryAdaptedKernel(GenericKernelMixin, Kernel):
    """Structure-level lambda kernel of normalised lambda-SOAP (see the module docstring).

    Parameters
    ----------
    zeta : int
        Power of the invariant factor :math:`(x^0_i\\cdot x^0_j)^{\\zeta - 1}`; 1 is linear.
    per_species : bool
        Zero covariance between environments with different central elements.
    """

    def __init__(self, zeta: int = 2, *, per_species: bool = True) -> None:
        self.zeta = zeta
        self.per_species = per_species

    def is_stationary(self):
        return False

    def __repr__(self):
        return f"SymmetryAdaptedKernel(zeta={self.zeta}, per_species={self.per_species})"

    def _scalar(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        dot = a @ b.T
        z = int(self.zeta)
        return dot ** (z - 1) if z > 1 else np.ones_like(dot)

    def environment_blocks(self, X: EquivariantEnvironments, Y: EquivariantEnvironments
                           ) -> np.ndarray:
        """:math:`k^\\lambda(i, j)` of every pair, shape (n_atoms_X, d, n_atoms_Y, d)."""
        d = X.values.shape[1]
        G = (X.values.reshape(-1, X.values.shape[2]) @ Y.values.reshape(-1, Y.values.shape[2]
                                                                        ).T)
        G = G.reshape(len(X.numbers), d, len(Y.numbers), d)
        w = self._scalar(X.scalar, Y.scalar)
        if self.per_species:
            w = w * (X.numbers[:, None] == Y.numbers[None, :])
        return G * w[:, None, :, None]

    def __call__(self, X: EquivariantEnvironments, Y: EquivariantEnvironments | None = None,
                 eval_gradient: bool = False):
        Y = X if Y is None else Y
        d = X.values.shape[1]
        nx, ny = len(X.numbers), len(Y.numbers)
        blocks = self.environment_blocks(X, Y)                        # [nx, d, ny, d]
        K = (_summation(X.structure, X.n_structures) @ blocks.reshape(nx, -1))
        K = K.reshape(X.n_structures, d, ny, d).transpose(2, 0, 1, 3).reshape(ny, -1)
        K = (_summation(Y.structure, Y.n_structures) @ K).reshape(
            Y.n_structures, X.n_structures, d, d).transpose(1, 2, 0, 3).reshape(len(X), len(Y))
        if eval_gradient:
            return K, np.empty(K.shape + (0,))
        return K

    def diag(self, X: EquivariantEnvironments) -> np.ndarray:
        return np.concatenate([np.diag(b) for b in self.prior_blocks(X)])

    def rows(self, X: EquivariantEnvironments, sparse: EquivariantEnvironments
             ) -> np.ndarray:
        """K_NM against sparse environments, shape (n_structures * d, n_sparse * d),
        computed per element group."""
        d = X.values.shape[1]
        K = np.zeros((X.n_structures, d, len(sparse.numbers), d))
        groups = (np.unique(sparse.numbers) if self.per_species else [None])
        for z in groups:
            env = np.flatnonzero(X.numbers == z) if z is not None else np.arange(
                len(X.numbers))
            cols = np.flatnonzero(sparse.numbers == z) if z is not None else np.arange(
                len(sparse.numbers))
            if len(env) == 0:
                continue
            G = (X.values[env].reshape(-1, X.values.shape[2])
                 @ sparse.values[cols].reshape(-1, sparse.values.shape[2]).T
                 ).reshape(len(env), d, len(cols), d)
            G *= self._scalar(X.scalar[env], sparse.scalar[cols])[:, None, :, None]
            S = _summation(X.structure[env], X.n_structures)
            K[:, :, cols, :] = (S @ G.reshape(len(env), -1)).reshape(X.n_structures, d,
                                                                    len(cols), d)
        return K.reshape(X.n_structures * d, len(sparse.numbers) * d)

    def prior_blocks(self, X: EquivariantEnvironments) -> np.ndarray:
        """Prior covariance blocks :math:`k(A, A)`, shape (n_structures, d, d)."""
        d = X.values.shape[1]
        out = np.zeros((X.n_structures, d, d))
        starts = np.searchsorted(X.structure, np.arange(X.n_structures + 1))
        for a in range(X.n_structures):
            sl = slice(starts[a], starts[a + 1])
            x, n = X.values[sl], X.numbers[sl]
            w = self._scalar(X.scalar[sl], X.scalar[sl])
            if self.per_species:
                w = w * (n[:, None] == n[None, :])
            out[a] = np.einsum("iap,jbp,ij->ab", x, x, w)
        return out


def _summation(structure: np.ndarray, n_structures: int) -> scipy.sparse.csr_matrix:
    """The (n_structures, n_atoms) 0/1 matrix that sums atoms into their structures."""
    return scipy.sparse.csr_matrix((np.ones(len(structure)), (structure,
                                                              np.arange(len(structure)))),
                                   shape=(n_structures, len(structure)))
