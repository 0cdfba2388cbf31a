"""Atom and pair lambda-SOAP of both parities: the features of the on-site and pair
blocks of an operator in an atom-centred basis (a Kohn-Sham Hamiltonian).

An on-site block of atom i is described by the lambda-SOAP of i's environment; a block
of the ordered pair (i, j) by featomic's equivariant power spectrum by pair, the
Clebsch-Gordan product of i's neighbour density with the expansion of the bond vector
r_ij (Nigam et al., J. Chem. Phys. 156, 014115 (2022)). Both come for o3_sigma = +1 and
-1, since the parts of a block of shells (l1, l2) with l1 + l2 + lambda odd change sign
under inversion relative to a lambda-tensor.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import ase
import numpy as np

from . import _featomic
from .lambda_soap import LambdaSoap, normalised

#: ``(kind, lambda, sigma)`` with kind "atom" or "pair"
FeatureKey = tuple


@dataclass
class BlockFeatures:
    """Normalised equivariant features of atoms or ordered atom pairs for one (lambda,
    sigma).

    Attributes
    ----------
    values : ndarray [n_samples, 2 lambda + 1, n_features]
        Each sample's (2 lambda + 1)^2 matrix ``x x^T`` has unit Frobenius norm.
    structure, first, second : ndarray [n_samples]
        Structure and atoms of each sample (``first == second`` for atoms).
    """

    values: np.ndarray
    structure: np.ndarray
    first: np.ndarray
    second: np.ndarray

    def rows(self, structure, first, second) -> np.ndarray:
        """Feature rows of the given samples (zero for pairs farther apart than the
        pair cutoff, which featomic does not list)."""
        width = max(int(self.first.max(initial=0)), int(np.max(first, initial=0))) + 1
        code = (self.structure * width + self.first) * width + self.second
        want = (np.asarray(structure) * width + first) * width + second
        order = np.argsort(code)
        pos = np.searchsorted(code[order], want)
        pos = np.minimum(pos, len(code) - 1)
        found = code[order][pos] == want if len(code) else np.zeros(len(want), bool)
        out = np.zeros((len(want), *self.values.shape[1:]))
        out[found] = self.values[order[pos[found]]]
        return out


class PairLambdaSoap(LambdaSoap):
    """lambda-SOAP of atoms and of ordered atom pairs, both parities.

    Parameters
    ----------
    cutoff, cutoff_width, n_max, l_max, atom_width, species
        The atom density, as :class:`~atomlearn.descriptors.LambdaSoap` (Å).
    pair_cutoff : float
        Largest distance (Å) of a pair with features; blocks of farther pairs are zero.
    pair_n_max, pair_l_max : int
        Radial and angular basis of the bond-vector expansion.
    """

    def __init__(self, *, cutoff: float = 4.0, cutoff_width: float = 0.5, n_max: int = 4,
                 l_max: int = 4, atom_width: float = 0.3,
                 species: Sequence[int] | None = None, pair_cutoff: float = 5.0,
                 pair_n_max: int = 4, pair_l_max: int = 4) -> None:
        super().__init__(cutoff=cutoff, cutoff_width=cutoff_width, n_max=n_max,
                         l_max=l_max, atom_width=atom_width, species=species)
        self.pair_cutoff = pair_cutoff
        self.pair_n_max = pair_n_max
        self.pair_l_max = pair_l_max

    def get_params(self) -> dict:
        return {**super().get_params(), "pair_cutoff": self.pair_cutoff,
                "pair_n_max": self.pair_n_max, "pair_l_max": self.pair_l_max}

    def _pair_calculator(self, species):
        key = (self.cutoff, self.cutoff_width, self.n_max, self.l_max, self.atom_width,
               self.pair_cutoff, self.pair_n_max, self.pair_l_max, tuple(species))
        cached = getattr(self, "_cached_pair", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        featomic = _featomic.featomic()
        density = featomic.SphericalExpansion(**json.loads(self._new_calculator().parameters))
        bond = featomic.SphericalExpansionByPair(
            cutoff={"radius": float(self.pair_cutoff),
                    "smoothing": {"type": "ShiftedCosine", "width": float(self.cutoff_width)}},
            density={"type": "Gaussian", "width": float(self.atom_width)},
            basis={"type": "TensorProduct", "max_angular": int(self.pair_l_max),
                   "radial": {"type": "Gto", "max_radial": int(self.pair_n_max) - 1}})
        calculator = _featomic.clebsch_gordan().EquivariantPowerSpectrumByPair(
            density, bond, neighbor_types=list(species))
        self._cached_pair = (key, calculator)
        return calculator

    def compute_blocks(self, structures: Sequence[ase.Atoms], keys: Sequence[FeatureKey]
                       ) -> dict[FeatureKey, BlockFeatures]:
        """Features of every atom (``("atom", lambda, sigma)``) and ordered pair i != j
        within the pair cutoff (``("pair", lambda, sigma)``) of ``structures``."""
        metatensor = _featomic.metatensor()
        structures = list(structures)
        species = self._check(structures, ())
        out = {}
        for kind in ("atom", "pair"):
            wanted = sorted({k[1:] for k in keys if k[0] == kind})
            if not wanted:
                continue
            calc = (self._equivariant_calculator(species) if kind == "atom"
                    else self._pair_calculator(species))
            selected = metatensor.Labels(["o3_lambda", "o3_sigma"],
                                         np.array(wanted, dtype=np.int32))
            tensor = calc.compute(structures, selected_keys=selected,
                                  neighbors_to_properties=True)
            for lam, sigma in wanted:
                out[(kind, lam, sigma)] = _gathered(tensor, lam, sigma, kind)
        return out


def _gathered(tensor, lam: int, sigma: int, kind: str) -> BlockFeatures:
    """One (lambda, sigma) of a featomic TensorMap as dense, normalised rows (the key's
    blocks of every centre type stacked; features of absent neighbour types are zero)."""
    values, samples = [], []
    width = 0
    for key, block in tensor.items():
        if int(key["o3_lambda"]) != lam or int(key["o3_sigma"]) != sigma:
            continue
        s = block.samples
        if kind == "atom":
            idx = np.stack([s.column("system"), s.column("atom"), s.column("atom")], axis=1)
            keep = slice(None)
        else:            # molecules: no periodic images; a pair is i != j
            shift = np.stack([s.column(c) for c in ("cell_shift_a", "cell_shift_b",
                                                    "cell_shift_c")], axis=1)
            keep = ~np.any(shift != 0, axis=1) & (s.column("first_atom")
                                                  != s.column("second_atom"))
            idx = np.stack([s.column("system"), s.column("first_atom"),
                            s.column("second_atom")], axis=1)[keep]
        values.append(block.values[keep])
        samples.append(np.asarray(idx, int))
        width = max(width, block.values.shape[2])
    if not values:
        empty = np.zeros(0, int)
        return BlockFeatures(np.zeros((0, 2 * lam + 1, 0)), empty, empty, empty)
    # blocks of different centre types share featomic's property layout when neighbours
    # go to properties, so their columns line up
    values = np.concatenate([np.pad(v, ((0, 0), (0, 0), (0, width - v.shape[2])))
                             for v in values])
    samples = np.concatenate(samples)
    return BlockFeatures(normalised(values), samples[:, 0], samples[:, 1], samples[:, 2])


__all__ = ["BlockFeatures", "PairLambdaSoap"]
