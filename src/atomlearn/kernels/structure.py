"""Structure kernels: a structure's property as a sum (or mean) of atomic contributions.

With :math:`E(A) = \\sum_{i\\in A} e(x_i)` and a GP prior on :math:`e` with environment kernel
:math:`k`, the covariance of two structures is
:math:`K(A, B) = \\sum_{i\\in A}\\sum_{j\\in B} k(x_i, x_j)`, and the covariance of a structure
with a sparse environment :math:`x_m` is :math:`\\sum_{i\\in A} k(x_i, x_m)`. Environments
of different central elements are uncorrelated when ``per_species`` (GAP's default), so
each element has its own atomic-energy function.
"""

from __future__ import annotations

import numpy as np

from ._base import Kernel


class AtomSumKernel:
    """Sum an environment kernel over the atoms of each structure.

    Parameters
    ----------
    env_kernel : Kernel
        Kernel between atomic environments (e.g. ``ConstantKernel * NormalizedDotProduct``).
    per_species : bool
        Zero covariance between environments with different central elements.
    aggregation : {"sum", "mean"}
        ``"sum"`` for extensive targets (energy), ``"mean"`` for intensive ones.
    """

    def __init__(self, env_kernel: Kernel, *, per_species: bool = True,
                 aggregation: str = "sum") -> None:
        self.env_kernel = env_kernel
        self.per_species = per_species
        self.aggregation = aggregation

    def __repr__(self) -> str:
        return (f"AtomSumKernel({self.env_kernel!r}, per_species={self.per_species}, "
                f"aggregation={self.aggregation!r})")

    def environments(self, X, Z, X_sparse, Z_sparse) -> np.ndarray:
        """Environment kernel rows :math:`k(x_i, x_m)`, shape (n_atoms, n_sparse)."""
        K = self.env_kernel(X, X_sparse)
        if self.per_species:
            K *= Z[:, None] == Z_sparse[None, :]
        return K

    def aggregate(self, K_atoms: np.ndarray, structure_index: np.ndarray) -> np.ndarray:
        """Sum (or average) atom rows per structure; atoms of a structure are contiguous."""
        starts = np.flatnonzero(np.r_[True, np.diff(structure_index) != 0])
        K = np.add.reduceat(K_atoms, starts, axis=0)
        if self.aggregation == "mean":
            K /= np.diff(np.r_[starts, len(structure_index)])[:, None]
        return K

    def structure_diag(self, X, Z, structure_index) -> np.ndarray:
        """Prior variance :math:`K(A, A)` of each structure, shape (n_structures,)."""
        starts = np.flatnonzero(np.r_[True, np.diff(structure_index) != 0])
        ends = np.r_[starts[1:], len(structure_index)]
        out = np.empty(len(starts))
        for s, (a, b) in enumerate(zip(starts, ends, strict=True)):
            K = self.env_kernel(X[a:b])
            if self.per_species:
                K = K * (Z[a:b, None] == Z[None, a:b])
            out[s] = K.sum() / ((b - a) ** 2 if self.aggregation == "mean" else 1)
        return out
