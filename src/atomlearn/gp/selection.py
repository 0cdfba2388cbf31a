"""Inducing-point (sparse point) selection: random, farthest-point sampling, CUR."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, check_choice

SELECTIONS = ("fps", "cur", "random")


def select_sparse_points(X, n_sparse: int, method: str = "fps", *, random_state=None,
                         what: str = "samples") -> np.ndarray:
    """Choose ``n_sparse`` rows of ``X`` as inducing points.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    n_sparse : int
        Number of rows to select, in [1, n_samples].
    method : {"fps", "cur", "random"}
        ``"fps"``: farthest-point sampling in feature space (greedy max-min distance,
        starting from a random row); ``"cur"``: rows of largest statistical leverage on
        the top ``n_sparse`` left singular vectors (deterministic CUR); ``"random"``:
        uniform without replacement.
    random_state : int or None
        Seed of the random choices.
    what : str
        Name of the rows for error messages ("samples", "environments").

    Returns
    -------
    numpy.ndarray of shape (n_sparse,)
        Sorted row indices.
    """
    check_choice(method, SELECTIONS, "sparse-point selection")
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    if not isinstance(n_sparse, (int, np.integer)) or not 1 <= n_sparse <= n:
        raise ConfigError(
            f"The 'n_sparse' parameter must be an int in the range [1, n_{what}]. Got "
            f"{n_sparse!r} instead (the training set has {n} {what})."
        )
    rng = np.random.default_rng(random_state)
    if method == "random":
        return np.sort(rng.choice(n, size=n_sparse, replace=False))
    if method == "cur":
        return np.sort(_cur(X, n_sparse))
    return np.sort(_fps(X, n_sparse, int(rng.integers(n))))


def _fps(X: np.ndarray, n_sparse: int, first: int) -> np.ndarray:
    chosen = np.empty(n_sparse, dtype=int)
    chosen[0] = first
    sq = np.einsum("ij,ij->i", X, X)
    dist = sq + sq[first] - 2.0 * X @ X[first]
    for k in range(1, n_sparse):
        nxt = int(np.argmax(dist))
        chosen[k] = nxt
        np.minimum(dist, sq + sq[nxt] - 2.0 * X @ X[nxt], out=dist)
    return chosen


def _cur(X: np.ndarray, n_sparse: int) -> np.ndarray:
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    k = min(n_sparse, int(np.sum(s > s[0] * 1e-12)) if s.size else 0) or 1
    leverage = np.einsum("ij,ij->i", U[:, :k], U[:, :k])
    return np.argsort(-leverage, kind="stable")[:n_sparse]
