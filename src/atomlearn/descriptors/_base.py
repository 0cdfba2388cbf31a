"""Descriptor output: per-atom features and their gradients.

The layout of the gradients stays here: kernels and models multiply them
(:meth:`DescriptorGradient.matmul`), contract them (:meth:`DescriptorGradient.vjp`) and
sum them into variables (:meth:`DescriptorGradient.sum_pairs`), and never index them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class DescriptorGradient:
    """:math:`\\partial x_i/\\partial q` of descriptor rows with respect to variables q, as
    sparse (row, variable) pairs.

    For positions a variable is an atom and has 3 components (Å^-1 in feature units per
    Å); for strain it is a structure and has 9 components (feature units).

    Attributes
    ----------
    values : numpy.ndarray of shape (n_pairs, n_components, n_features)
    center : numpy.ndarray of shape (n_pairs,)
        Descriptor row i of each pair.
    variable : numpy.ndarray of shape (n_pairs,)
        Variable (global atom index, or structure) of each pair.
    n_variables : int
    nonzero : numpy.ndarray of shape (n_pairs, n_groups), optional
        Which equal column groups of each pair may be non-zero (SOAP: a moved atom changes
        only the species pairs that involve its element); products skip the others.
    """

    values: np.ndarray
    center: np.ndarray
    variable: np.ndarray
    n_variables: int
    nonzero: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        return self.values.shape[1]

    def dot_rows(self, X: np.ndarray) -> np.ndarray:
        """:math:`g_p \\cdot X_{i(p)}` for every pair, shape (n_pairs, n_components)."""
        return np.matmul(self.values, X[self.center][:, :, None])[:, :, 0]

    def vjp(self, dEdx: np.ndarray) -> np.ndarray:
        """:math:`\\sum_i \\partial E/\\partial x_i \\cdot \\partial x_i/\\partial q`, shape
        (n_variables, n_components): forces (with a minus sign) or the virial."""
        per_pair = self.dot_rows(dEdx)
        out = np.zeros((self.n_variables, self.n_components))
        np.add.at(out, self.variable, per_pair)
        return out

    def matmul(self, B: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
        """``values[pairs].reshape(-1, D) @ B.T``, multiplying only the column groups that
        :attr:`nonzero` marks, shape (len(pairs) * n_components, len(B)).

        Rows with the same non-zero groups that are consecutive in :attr:`values` (as
        :meth:`SoapExpansion.power_spectrum_position_gradients` lays them out) multiply as
        strided views, one DGEMM per group, so nothing is gathered; other rows are
        gathered.
        """
        pairs = np.arange(len(self.center)) if pairs is None else pairs
        _, n_comp, n_feat = self.values.shape
        G = self.values.reshape(-1, n_feat)
        out = np.empty((len(pairs) * n_comp, B.shape[0]))
        if self.nonzero is None:
            out[:] = G[(pairs[:, None] * n_comp + np.arange(n_comp)).ravel()] @ B.T
            return out
        width = n_feat // self.nonzero.shape[1]
        patterns, group = np.unique(self.nonzero[pairs], axis=0, return_inverse=True)
        group = group.ravel()
        # runs of positions with one pattern whose pairs are consecutive as well
        cut = np.flatnonzero((np.diff(group) != 0) | (np.diff(pairs) != 1)) + 1
        for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(pairs)], strict=True):
            groups = np.flatnonzero(patterns[group[lo]])
            src = slice(int(pairs[lo]) * n_comp, (int(pairs[hi - 1]) + 1) * n_comp)
            dst = out[lo * n_comp : hi * n_comp]
            if len(groups) == 0:
                dst[:] = 0.0
            for j, g in enumerate(groups):
                cols = slice(int(g) * width, (int(g) + 1) * width)
                if j == 0:
                    np.matmul(G[src, cols], B[:, cols].T, out=dst)
                else:
                    dst += G[src, cols] @ B[:, cols].T
        return out

    def sum_pairs(self, T: np.ndarray, pairs: np.ndarray) -> np.ndarray:
        """Sum rows ``T`` of the pairs ``pairs`` (``n_components`` rows each, as
        :meth:`matmul` returns them) into their variables, shape
        (n_variables * n_components, T.shape[1])."""
        n_comp = self.n_components
        rows = np.arange(len(pairs) * n_comp)
        targets = np.repeat(self.variable[pairs], n_comp) * n_comp + np.tile(
            np.arange(n_comp), len(pairs))
        S = sp.csr_matrix((np.ones(len(rows)), (targets, rows)),
                          shape=(self.n_variables * n_comp, len(rows)))
        return S @ T

    def scale_features(self, scale: np.ndarray) -> None:
        """Multiply every feature column by ``scale`` in place."""
        self.values *= scale


@dataclass
class Features:
    """Per-atom features of a list of structures, ready for an estimator.

    Attributes
    ----------
    values : numpy.ndarray of shape (n_atoms_total, n_features)
        One row per atom, structures one after the other.
    structure_index : numpy.ndarray of shape (n_atoms_total,)
        Structure of each row.
    numbers : numpy.ndarray of shape (n_atoms_total,)
        Atomic number of each row's centre atom.
    positions : DescriptorGradient, optional
        Gradients with respect to atom positions (3 components per atom).
    strain : DescriptorGradient, optional
        Gradients with respect to the cell strain of periodic structures (9 components
        per structure, :math:`\\partial x_i/\\partial\\epsilon_{ab}` as a, b).
    """

    values: np.ndarray
    structure_index: np.ndarray
    numbers: np.ndarray
    positions: DescriptorGradient | None = None
    strain: DescriptorGradient | None = None

    @property
    def n_structures(self) -> int:
        return int(self.structure_index.max()) + 1 if len(self.structure_index) else 0

    def structure_sum(self) -> np.ndarray:
        """Sum of the atom features of each structure, shape (n_structures, n_features)."""
        out = np.zeros((self.n_structures, self.values.shape[1]))
        np.add.at(out, self.structure_index, self.values)
        return out

    def structure_mean(self) -> np.ndarray:
        """Mean of the atom features of each structure, shape (n_structures, n_features)."""
        counts = np.bincount(self.structure_index, minlength=self.n_structures)
        return self.structure_sum() / counts[:, None]
