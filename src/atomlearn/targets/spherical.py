"""Cartesian <-> spherical (real spherical-harmonic) components of vectors and rank-2
tensors, in featomic's conventions, so that targets and lambda-SOAP features rotate alike.

The matrices are taken once from :func:`featomic.clebsch_gordan.cartesian_to_spherical`
applied to the Cartesian unit basis; after that the conversions are matrix products. A
vector is lambda = 1 (components ordered y, z, x); a rank-2 tensor splits into lambda = 0
(the trace, times -1/sqrt(3)), lambda = 1 (antisymmetric part) and lambda = 2 (symmetric
traceless part). The maps are orthogonal, so the inverse is the transpose.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..descriptors import _featomic


def _tensor_map(values: np.ndarray, components: list[str]):
    metatensor = _featomic.metatensor()

    block = metatensor.TensorBlock(
        values=values,
        samples=metatensor.Labels(["sample"], np.arange(len(values))[:, None]),
        components=[metatensor.Labels([c], np.arange(3)[:, None]) for c in components],
        properties=metatensor.Labels(["property"], np.array([[0]])))
    return metatensor.TensorMap(metatensor.Labels(["_"], np.array([[0]])), [block])


@lru_cache(maxsize=2)
def spherical_basis(rank: int) -> dict[int, np.ndarray]:
    """``{lambda: U}`` with spherical = U @ flattened Cartesian, U of shape
    (2 lambda + 1, 3**rank), for rank 1 (vectors) or 2 (3x3 tensors)."""
    cartesian_to_spherical = _featomic.clebsch_gordan().cartesian_to_spherical

    if rank not in (1, 2):
        raise ValueError(f"rank must be 1 or 2; got {rank}.")
    names = ["xyz"] if rank == 1 else ["xyz_1", "xyz_2"]
    unit = np.eye(3**rank).reshape(3**rank, *([3] * rank), 1)
    out = cartesian_to_spherical(_tensor_map(unit, names), names,
                                 remove_blocks_threshold=None)
    return {int(key["o3_lambda"]): np.ascontiguousarray(block.values[:, :, 0].T)
            for key, block in out.items()}


def vector_to_spherical(v: np.ndarray) -> np.ndarray:
    """(..., 3) Cartesian -> (..., 3) lambda = 1 components."""
    return np.asarray(v) @ spherical_basis(1)[1].T


def spherical_to_vector(s: np.ndarray) -> np.ndarray:
    """Inverse of :func:`vector_to_spherical`."""
    return np.asarray(s) @ spherical_basis(1)[1]


def tensor_to_spherical(t: np.ndarray) -> dict[int, np.ndarray]:
    """(..., 3, 3) Cartesian -> ``{0: (..., 1), 1: (..., 3), 2: (..., 5)}``."""
    t = np.asarray(t)
    flat = t.reshape(*t.shape[:-2], 9)
    return {lam: flat @ U.T for lam, U in spherical_basis(2).items()}


def spherical_to_tensor(parts: dict[int, np.ndarray]) -> np.ndarray:
    """Inverse of :func:`tensor_to_spherical`; missing lambdas count as zero (a
    symmetric tensor needs only 0 and 2)."""
    basis = spherical_basis(2)
    flat = sum(np.asarray(parts[lam]) @ basis[lam] for lam in parts)
    return flat.reshape(*flat.shape[:-1], 3, 3)
