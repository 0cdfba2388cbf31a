"""Heads: per-atom features -> targets, chosen by a target's layout (:func:`make_head`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ...errors import ConfigError
from ...targets import TargetSpec
from .density import DensityHead
from .invariant import InvariantHead
from .operator import OperatorHead
from .tensor import DipoleHead, PolarizabilityHead

#: (kind, per_atom) pairs a head exists for, and whether it needs vector features.
HEAD_LAYOUTS = {("scalar", False): False, ("spectrum", False): False,
                ("scalar", True): False, ("spectrum", True): False,
                ("vector", False): False, ("rank2_symmetric", False): True,
                ("density_coefficients", False): True, ("operator", False): True}


def make_head(spec: TargetSpec, *, species: Sequence[int], n_features: int,
              n_vector: int = 0, n_hidden: Sequence[int] = (32,),
              activation: str = "silu") -> torch.nn.Module:
    """The head of ``spec``, chosen by its ``(kind, per_atom)`` and sized by its shape.

    Raises
    ------
    ConfigError
        For a layout no head learns (listing those that are), or a rank-2 tensor without
        vector features.
    """
    if spec.layout not in HEAD_LAYOUTS:
        pairs = sorted(f"{k}{' per atom' if a else ''}" for k, a in HEAD_LAYOUTS)
        raise ConfigError(f"No network head learns target {spec.name!r} of kind "
                          f"{spec.kind!r}{' per atom' if spec.per_atom else ''}; heads exist "
                          f"for {pairs}.")
    if HEAD_LAYOUTS[spec.layout] and not n_vector:
        raise ConfigError(
            f"Target {spec.name!r} ({spec.kind}) needs vector features, which this "
            "representation does not have; use 'mpnn' (PaiNN) or 'sa_gpr'.")
    if spec.kind in ("scalar", "spectrum"):
        aggregation = None if spec.per_atom else ("sum" if spec.extensive else "mean")
        return InvariantHead(species, n_features, math.prod(spec.shape), n_hidden, activation,
                             aggregation)
    if spec.kind == "vector":
        return DipoleHead(n_features, n_vector, n_hidden, activation)
    if spec.kind == "operator":
        from ...targets.operators import AtomicOrbitals, OperatorLayout

        layout = OperatorLayout(AtomicOrbitals.from_pyscf(spec.metadata["basis"], species))
        return OperatorHead(layout, species, n_features, n_vector, n_hidden, activation)
    if spec.kind == "density_coefficients":
        from ...targets.operators import AtomicOrbitals

        shells = AtomicOrbitals.from_pyscf(spec.metadata["basis"], species).shells
        return DensityHead(shells, n_features, n_vector, n_hidden, activation)
    return PolarizabilityHead(n_features, n_vector, n_hidden, activation)


__all__ = ["HEAD_LAYOUTS", "DensityHead", "DipoleHead", "InvariantHead", "OperatorHead",
           "PolarizabilityHead", "make_head"]
