"""Descriptor output: per-atom features with sparse position gradients."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    gradient_values : numpy.ndarray of shape (n_pairs, 3, n_features), optional
        :math:`\\partial x_i / \\partial r_j` for each (centre row i, moved atom j) pair in
        Å^-1 (feature units per Å); present when position gradients were asked for.
    gradient_center, gradient_atom : numpy.ndarray of shape (n_pairs,), optional
        Row i of ``values`` and global atom index j of each gradient pair.
    strain_gradients : numpy.ndarray of shape (n_atoms_total, 3, 3, n_features), optional
        :math:`\\partial x_i / \\partial \\epsilon_{ab}` for periodic structures.
    gradient_blocks : numpy.ndarray of shape (n_pairs, n_blocks), optional
        Which equal column blocks of each pair's gradient may be non-zero (SOAP: a moved
        atom changes only the species pairs that involve its element).
    """

    values: np.ndarray
    structure_index: np.ndarray
    numbers: np.ndarray
    gradient_values: np.ndarray | None = None
    gradient_center: np.ndarray | None = None
    gradient_atom: np.ndarray | None = None
    strain_gradients: np.ndarray | None = None
    gradient_blocks: np.ndarray | None = None

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
