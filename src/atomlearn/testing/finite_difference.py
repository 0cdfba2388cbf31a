"""Central finite differences for gradient checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numeric_gradient(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                     delta: float = 1e-5) -> np.ndarray:
    """Central-difference derivative of ``fn`` with respect to every entry of ``x``.

    Returns
    -------
    numpy.ndarray of shape ``x.shape + fn(x).shape``
    """
    x = np.asarray(x, dtype=float)
    f0 = np.asarray(fn(x))
    out = np.empty(x.shape + f0.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += delta
        xm[idx] -= delta
        out[idx] = (np.asarray(fn(xp)) - np.asarray(fn(xm))) / (2 * delta)
    return out
