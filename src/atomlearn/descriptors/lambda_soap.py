"""lambda-SOAP: the equivariant SOAP power spectrum (featomic's Clebsch-Gordan product of
two spherical expansions), normalised as in SA-GPR (Grisafi et al., PRL 120, 036002
(2018)), for symmetry-adapted kernels of vectors and tensors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ase
import numpy as np

from . import _featomic
from .soap import SoapPowerSpectrum


def normalised(values: np.ndarray) -> np.ndarray:
    """lambda-features ``(n, 2 lambda + 1, n_features)`` scaled in place so each sample's
    matrix ``x x^T`` has unit Frobenius norm (SA-GPR's normalisation)."""
    norm = np.linalg.norm(np.einsum("iap,ibp->iab", values, values), axis=(1, 2))
    values /= np.sqrt(np.maximum(norm, 1e-300))[:, None, None]
    return values


@dataclass
class EquivariantFeatures:
    """lambda-SOAP of every environment for one lambda.

    Attributes
    ----------
    o3_lambda : int
    values : ndarray [n_env, 2 lambda + 1, n_features]
        Normalised: the (2 lambda + 1)^2 matrix ``x x^T`` of every environment has unit
        Frobenius norm, so the linear lambda-kernel of an environment with itself is
        normalised rotation-invariantly. Rows rotate with the Wigner D-matrix of lambda in
        featomic's real-spherical-harmonic convention.
    numbers : ndarray [n_env]
        Atomic number of each centre.
    structure : ndarray [n_env]
        Index of each environment's structure.
    """

    o3_lambda: int
    values: np.ndarray
    numbers: np.ndarray
    structure: np.ndarray

    def subset(self, structures: np.ndarray) -> EquivariantFeatures:
        """Environments of the given structures, renumbered 0..len(structures)-1."""
        structures = np.asarray(structures)
        lookup = np.full(self.structure.max() + 1, -1)
        lookup[structures] = np.arange(len(structures))
        keep = lookup[self.structure] >= 0
        order = np.argsort(lookup[self.structure[keep]], kind="stable")
        idx = np.flatnonzero(keep)[order]
        return EquivariantFeatures(self.o3_lambda, self.values[idx], self.numbers[idx],
                                   lookup[self.structure[idx]])


class LambdaSoap(SoapPowerSpectrum):
    """Equivariant power spectrum (lambda-SOAP) of proper parity (o3_sigma = +1), the
    kind that describes polar vectors (lambda = 1) and symmetric tensors (0 and 2).

    Parameters are those of :class:`SoapPowerSpectrum` (cutoff and widths in Å).
    """

    def __init__(self, *, cutoff: float = 5.0, cutoff_width: float = 0.5, n_max: int = 6,
                 l_max: int = 4, atom_width: float = 0.5,
                 species: Sequence[int] | None = None) -> None:
        super().__init__(cutoff=cutoff, cutoff_width=cutoff_width, n_max=n_max, l_max=l_max,
                         atom_width=atom_width, species=species)

    def get_params(self) -> dict:
        params = super().get_params()
        params.pop("angular_decay")        # the equivariant features are featomic's own
        return params

    def _equivariant_calculator(self, species):
        SphericalExpansion = _featomic.featomic().SphericalExpansion
        EquivariantPowerSpectrum = _featomic.clebsch_gordan().EquivariantPowerSpectrum

        key = (self.cutoff, self.cutoff_width, self.n_max, self.l_max, self.atom_width,
               tuple(species))
        cached = getattr(self, "_cached_equivariant", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        hypers = self._new_calculator().parameters
        import json

        calculator = EquivariantPowerSpectrum(SphericalExpansion(**json.loads(hypers)),
                                              neighbor_types=list(species))
        self._cached_equivariant = (key, calculator)
        return calculator

    def compute_equivariant(self, structures: Sequence[ase.Atoms],
                            lambdas: Sequence[int] = (0, 1)
                            ) -> dict[int, EquivariantFeatures]:
        """lambda-SOAP of every atom of ``structures`` for each of ``lambdas``.

        Returns
        -------
        dict of int to EquivariantFeatures
            Environments in structure order, then atom order.
        """
        metatensor = _featomic.metatensor()
        structures = list(structures)
        species = self._check(structures, ())
        calc = self._equivariant_calculator(species)
        keys = metatensor.Labels(["o3_lambda", "o3_sigma"],
                                 np.array([[lam, 1] for lam in lambdas], dtype=np.int32))
        tensor = calc.compute(structures, selected_keys=keys, neighbors_to_properties=True)
        n_atoms = np.array([len(a) for a in structures])
        offsets = np.concatenate([[0], np.cumsum(n_atoms)])
        numbers = np.concatenate([a.numbers for a in structures])
        structure = np.repeat(np.arange(len(structures)), n_atoms)
        out = {}
        for lam in lambdas:
            values = None
            for key, block in tensor.items():
                if int(key["o3_lambda"]) != lam:
                    continue
                rows = (offsets[block.samples.column("system")]
                        + block.samples.column("atom"))
                if values is None:
                    values = np.zeros((offsets[-1], 2 * lam + 1, block.values.shape[2]))
                values[rows] = block.values
            out[lam] = EquivariantFeatures(lam, normalised(values), numbers, structure)
        return out
