"""SOAP power spectrum through featomic, as dense per-atom arrays."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations_with_replacement

import ase
import numpy as np

from ..errors import ConfigError, DataError
from ..neighbors import check_cell
from ..structures.io import check_positions, where
from ._base import Features

_GRADIENTS = ("positions", "strain")


class SoapPowerSpectrum:
    """The SOAP power spectrum of every atomic environment (featomic).

    Features of an atom are laid out per pair of neighbour species (a <= b, in the order
    of ``species``), then featomic's ``(l, n_1, n_2)`` order; pairs absent from a
    structure are zero, so every structure gets the same columns.

    Parameters
    ----------
    cutoff : float
        Radial cutoff in Å.
    cutoff_width : float
        Width of the shifted-cosine smoothing at the cutoff, in Å.
    n_max : int
        Number of radial basis functions (GTO), as GAP's ``n_max``.
    l_max : int
        Largest angular channel, as GAP's ``l_max``.
    atom_width : float
        Width of the Gaussian atomic density in Å (GAP's ``atom_sigma``).
    species : sequence of int, optional
        Atomic numbers to describe; fixed at the first :meth:`compute` if not given.

    Examples
    --------
    >>> from ase.build import molecule
    >>> soap = SoapPowerSpectrum(cutoff=4.0, n_max=2, l_max=2, species=[1, 6, 8])
    >>> soap.compute([molecule("CH3CH2OH")]).values.shape
    (9, 72)
    """

    def __init__(
        self,
        *,
        cutoff: float = 5.0,
        cutoff_width: float = 0.5,
        n_max: int = 8,
        l_max: int = 6,
        atom_width: float = 0.5,
        species: Sequence[int] | None = None,
    ) -> None:
        self.cutoff = cutoff
        self.cutoff_width = cutoff_width
        self.n_max = n_max
        self.l_max = l_max
        self.atom_width = atom_width
        self.species = species

    def __repr__(self) -> str:
        return (f"SoapPowerSpectrum(cutoff={self.cutoff}, cutoff_width={self.cutoff_width}, "
                f"n_max={self.n_max}, l_max={self.l_max}, atom_width={self.atom_width}, "
                f"species={self.species})")

    def get_params(self) -> dict:
        """Constructor parameters (JSON-ready)."""
        species = None if self.species is None else [int(z) for z in self.species]
        return {"cutoff": self.cutoff, "cutoff_width": self.cutoff_width,
                "n_max": self.n_max, "l_max": self.l_max, "atom_width": self.atom_width,
                "species": species}

    @property
    def n_features(self) -> int:
        n_pairs = len(self.species) * (len(self.species) + 1) // 2
        return n_pairs * self.n_max**2 * (self.l_max + 1)

    def _calculator(self):
        # Building featomic's calculator costs as much as computing one small molecule:
        # keep it while the hyperparameters stay the same.
        key = (self.cutoff, self.cutoff_width, self.n_max, self.l_max, self.atom_width)
        cached = getattr(self, "_cached", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        calculator = self._new_calculator()
        self._cached = (key, calculator)
        return calculator

    def _new_calculator(self):
        from featomic import SoapPowerSpectrum as _Featomic

        for name, value in (("cutoff", self.cutoff), ("atom_width", self.atom_width)):
            if not value > 0:
                raise ConfigError(f"SOAP '{name}' must be positive (Å). Got {value!r}.")
        for name, value in (("n_max", self.n_max), ("l_max", self.l_max + 1)):
            if int(value) < 1:
                raise ConfigError(f"SOAP '{name}' must be at least 1. Got {value!r}.")
        return _Featomic(
            cutoff={"radius": float(self.cutoff),
                    "smoothing": {"type": "ShiftedCosine", "width": float(self.cutoff_width)}},
            density={"type": "Gaussian", "width": float(self.atom_width)},
            basis={"type": "TensorProduct", "max_angular": int(self.l_max),
                   "radial": {"type": "Gto", "max_radial": int(self.n_max) - 1}},
        )

    def compute(
        self, structures: Sequence[ase.Atoms], *, gradients: Sequence[str] = ()
    ) -> Features:
        """Compute the power spectrum of every atom of ``structures``.

        Parameters
        ----------
        structures : sequence of ase.Atoms
            Molecules or periodic cells.
        gradients : sequence of {"positions", "strain"}
            Derivatives to compute as well; ``"strain"`` needs fully periodic cells.

        Returns
        -------
        Features
            Values of shape (n_atoms_total, n_features) and the requested gradients.

        Raises
        ------
        DataError
            For an element outside ``species``, non-finite positions or a singular cell.
        """
        for g in gradients:
            if g not in _GRADIENTS:
                raise ConfigError(f"Unknown gradient {g!r}; valid choices are {_GRADIENTS}.")
        structures = list(structures)
        present = sorted({int(z) for a in structures for z in a.numbers})
        if self.species is None:
            self.species = present
        species = [int(z) for z in self.species]
        for s, atoms in enumerate(structures):
            check_positions(atoms, where(atoms, s))
            check_cell(atoms, self.cutoff)
            unknown = sorted(set(atoms.numbers.tolist()) - set(species))
            if unknown:
                symbols = [ase.data.chemical_symbols[z] for z in unknown]
                raise DataError(
                    f"{where(atoms, s)} contains element(s) {symbols} that this descriptor "
                    f"was not set up for (species {species}); refit with these elements "
                    "in the training set or in 'species'."
                )
            if "strain" in gradients and not atoms.pbc.all():
                raise DataError(
                    f"Strain gradients need a fully periodic cell; {where(atoms, s)} has "
                    f"pbc={atoms.pbc.tolist()}."
                )
        tensor = self._calculator().compute(structures, gradients=list(gradients))
        return self._densify(tensor, structures, species, gradients)

    def _densify(self, tensor, structures, species, gradients) -> Features:
        sizes = np.array([len(a) for a in structures])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        n_total = int(offsets[-1])
        pairs = {p: k for k, p in enumerate(combinations_with_replacement(species, 2))}
        width = self.n_max**2 * (self.l_max + 1)
        values = np.zeros((n_total, len(pairs) * width))
        blocks = []
        for key, block in tensor.items():
            col = pairs[(int(key["neighbor_1_type"]), int(key["neighbor_2_type"]))] * width
            s = block.samples.values
            rows = offsets[s[:, 0]] + s[:, 1]
            values[rows, col : col + width] = block.values
            blocks.append((col, rows, block))

        features = Features(values=values,
                            structure_index=np.repeat(np.arange(len(structures)), sizes),
                            numbers=np.concatenate([a.numbers for a in structures]))
        if "positions" in gradients:
            self._position_gradients(features, blocks, offsets, n_total, width)
        if "strain" in gradients:
            strain = np.zeros((n_total, 3, 3, values.shape[1]))
            for col, rows, block in blocks:
                g = block.gradient("strain")
                strain[rows[g.samples.values[:, 0]], :, :, col : col + width] = g.values
            features.strain_gradients = strain
        return features

    @staticmethod
    def _position_gradients(features, blocks, offsets, n_total, width) -> None:
        # Merge the (centre, moved atom) pairs of all blocks into one sparse layout.
        per_block = []
        for col, rows, block in blocks:
            g = block.gradient("positions")
            gs = g.samples.values
            center = rows[gs[:, 0]]
            moved = offsets[gs[:, 1]] + gs[:, 2]
            per_block.append((col, center * n_total + moved, g.values))
        codes = np.unique(np.concatenate([c for _, c, _ in per_block]))
        grad = np.zeros((len(codes), 3, features.values.shape[1]))
        for col, code, vals in per_block:
            grad[np.searchsorted(codes, code), :, col : col + width] = vals
        features.gradient_values = grad
        features.gradient_center = codes // n_total
        features.gradient_atom = codes % n_total
