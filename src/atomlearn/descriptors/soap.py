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
        structures = list(structures)
        species = self._check(structures, gradients)
        tensor = self._calculator().compute(structures, gradients=list(gradients))
        return self._densify(tensor, structures, species, gradients)

    def _check(self, structures, gradients) -> list[int]:
        for g in gradients:
            if g not in _GRADIENTS:
                raise ConfigError(f"Unknown gradient {g!r}; valid choices are {_GRADIENTS}.")
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
        return species

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

    # -- fast path: power spectrum and its vector-Jacobian product from the expansion ---
    def _expansion_calculator(self):
        key = ("expansion", self.cutoff, self.cutoff_width, self.n_max, self.l_max,
               self.atom_width)
        cached = getattr(self, "_cached_expansion", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        from featomic import SphericalExpansion

        hypers = self._new_calculator().parameters
        import json

        h = json.loads(hypers)
        calculator = SphericalExpansion(cutoff=h["cutoff"], density=h["density"],
                                        basis=h["basis"])
        self._cached_expansion = (key, calculator)
        return calculator

    def expand(self, structures: Sequence[ase.Atoms], *, gradients: Sequence[str] = ()
               ) -> SoapExpansion:
        """Spherical expansion of every atom, and the power spectrum built from it.

        featomic's power spectrum is
        :math:`p^{ab}_{l n_1 n_2} = (-1)^l (2l+1)^{-1/2} \\sum_m c^a_{n_1 lm} c^b_{n_2 lm}`
        (times :math:`\\sqrt 2` for a != b); computing it from the expansion costs a fifth of
        featomic's power spectrum with gradients, and :meth:`SoapExpansion.vjp` turns
        descriptor gradients into forces and stress without ever forming
        :math:`\\partial p/\\partial r` (the fast path for MD).
        """
        structures = list(structures)
        species = self._check(structures, gradients)
        tensor = self._expansion_calculator().compute(structures, gradients=list(gradients))
        return SoapExpansion.from_tensor(tensor, structures, species, self.n_max, self.l_max,
                                         gradients)

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


class SoapExpansion:
    """Dense spherical expansion of a list of structures, with its power spectrum.

    Attributes
    ----------
    coefficients : numpy.ndarray of shape (n_atoms, n_species, l_max + 1, 2 l_max + 1, n_max)
        :math:`c^a_{n l m}` (m padded with zeros beyond 2l + 1).
    values : numpy.ndarray of shape (n_atoms, n_features)
        The power spectrum, identical to :meth:`SoapPowerSpectrum.compute`'s.
    numbers, structure_index : numpy.ndarray of shape (n_atoms,)
    """

    def __init__(self, coefficients, numbers, structure_index, n_max, l_max, n_species):
        self.coefficients = coefficients
        self.numbers = numbers
        self.structure_index = structure_index
        self.n_max, self.l_max, self.n_species = n_max, l_max, n_species
        self.pairs = list(combinations_with_replacement(range(n_species), 2))
        ls = np.arange(l_max + 1)
        self._factor = ((-1.0) ** ls / np.sqrt(2 * ls + 1))[None, :, None, None]
        self.position_blocks: list = []   # (l, a, centre rows, moved atoms, values)
        self.strain_blocks: list = []     # (l, a, centre rows, values [n, 3, 3, 2l+1, n])
        self.values = self._power_spectrum()

    @classmethod
    def from_tensor(cls, tensor, structures, species, n_max, l_max, gradients):
        sizes = np.array([len(a) for a in structures])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        n_total = int(offsets[-1])
        C = np.zeros((n_total, len(species), l_max + 1, 2 * l_max + 1, n_max))
        out_pos, out_strain = [], []
        # Extracting arrays from metatensor costs ~30 µs each: samples are shared by all
        # l of a (centre, neighbour) type pair, so read them once per pair.
        samples: dict = {}
        keys = tensor.keys
        names = list(keys.names)
        key_values = keys.values                  # one extraction instead of one per key
        col = {n: names.index(n) for n in ("o3_lambda", "center_type", "neighbor_type")}
        for i, row in enumerate(key_values.tolist()):
            block = tensor.block(i)
            lam = row[col["o3_lambda"]]
            pair = (row[col["center_type"]], row[col["neighbor_type"]])
            a = species.index(pair[1])
            if pair not in samples:
                s = block.samples.values
                rows = offsets[s[:, 0]] + s[:, 1]
                entry = {"rows": rows}
                if "positions" in gradients:
                    gs = block.gradient("positions").samples.values
                    entry["pos"] = (rows[gs[:, 0]], offsets[gs[:, 1]] + gs[:, 2])
                if "strain" in gradients:
                    entry["strain"] = rows[block.gradient("strain").samples.values[:, 0]]
                samples[pair] = entry
            entry = samples[pair]
            C[entry["rows"], a, lam, : 2 * lam + 1, :] = block.values
            if "positions" in gradients:
                out_pos.append((lam, a, *entry["pos"], block.gradient("positions").values))
            if "strain" in gradients:
                out_strain.append((lam, a, entry["strain"], block.gradient("strain").values))
        numbers = np.concatenate([at.numbers for at in structures])
        index = np.repeat(np.arange(len(structures)), sizes)
        exp = cls(C, numbers, index, n_max, l_max, len(species))
        exp.position_blocks, exp.strain_blocks = out_pos, out_strain
        return exp

    def _power_spectrum(self) -> np.ndarray:
        C = self.coefficients
        n = C.shape[0]
        parts = []
        for a, b in self.pairs:
            p = np.einsum("ilmx,ilmy->ilxy", C[:, a], C[:, b]) * self._factor
            parts.append((p if a == b else np.sqrt(2.0) * p).reshape(n, -1))
        return np.concatenate(parts, axis=1)

    def _coefficient_gradient(self, dEdx: np.ndarray) -> np.ndarray:
        """:math:`\\partial E/\\partial c` from :math:`\\partial E/\\partial p`, same shape as c."""
        C = self.coefficients
        n, L1, nm = C.shape[0], self.l_max + 1, self.n_max
        width = L1 * nm * nm
        out = np.zeros_like(C)
        for k, (a, b) in enumerate(self.pairs):
            G = dEdx[:, k * width : (k + 1) * width].reshape(n, L1, nm, nm) * self._factor
            if a != b:
                G = np.sqrt(2.0) * G
            out[:, a] += np.einsum("ilxy,ilmy->ilmx", G, C[:, b])
            out[:, b] += np.einsum("ilxy,ilmx->ilmy", G, C[:, a])
        return out

    def vjp_positions(self, dEdx: np.ndarray, n_atoms: int) -> np.ndarray:
        """Forces-like product :math:`\\sum_i \\partial E/\\partial x_i \\cdot
        \\partial x_i/\\partial r_j`, shape (n_atoms, 3)."""
        dEdc = self._coefficient_gradient(dEdx)
        out = np.zeros((n_atoms, 3))
        for lam, a, centres, moved, values in self.position_blocks:
            g = dEdc[centres, a, lam, : 2 * lam + 1, :]              # [n_grad, m, n]
            np.add.at(out, moved, np.einsum("gcmn,gmn->gc", values, g))
        return out

    def vjp_strain(self, dEdx: np.ndarray, n_structures: int) -> np.ndarray:
        """Virial-like product :math:`\\sum_i \\partial E/\\partial x_i \\cdot
        \\partial x_i/\\partial\\epsilon`, shape (n_structures, 3, 3)."""
        dEdc = self._coefficient_gradient(dEdx)
        out = np.zeros((n_structures, 3, 3))
        for lam, a, centres, values in self.strain_blocks:
            g = dEdc[centres, a, lam, : 2 * lam + 1, :]
            np.add.at(out, self.structure_index[centres],
                      np.einsum("gabmn,gmn->gab", values, g))
        return out
