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
        starting from a random row); ``"cur"``: rows sampled in proportion to their
        statistical leverage on the top ``n_sparse`` left singular vectors (CUR);
        ``"random"``: uniform without replacement.
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
        return np.sort(_cur(X, n_sparse, rng))
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


def _cur(X: np.ndarray, n_sparse: int, rng: np.random.Generator) -> np.ndarray:
    # Rows sampled without replacement with probability proportional to their leverage on
    # the top singular vectors (Mahoney & Drineas, PNAS 106, 697 (2009)); taking the
    # largest leverages deterministically favours outliers and predicts worse.
    U = _top_left_singular_vectors(X, n_sparse)
    leverage = np.einsum("ij,ij->i", U, U)
    p = leverage / leverage.sum()
    if np.count_nonzero(p) < n_sparse:
        p = (p + 1e-12) / (1.0 + 1e-12 * len(p))
        p /= p.sum()
    return rng.choice(len(p), size=n_sparse, replace=False, p=p)


def _top_left_singular_vectors(X: np.ndarray, k: int, oversample: int = 10,
                               n_iter: int = 3) -> np.ndarray:
    """Leading ``k`` left singular vectors (numerical rank permitting).

    A full SVD when ``k`` is a large part of the matrix, else a seeded randomised range
    finder with power iterations (Halko, Martinsson & Tropp, SIAM Rev. 53, 217 (2011),
    Alg. 4.4), which costs a few products with ``X`` instead of ``O(n D min(n, D))``.
    """
    n, d = X.shape
    if 2 * (k + oversample) >= min(n, d):
        U, s, _ = np.linalg.svd(X, full_matrices=False)
    else:
        omega = np.random.default_rng(0).normal(size=(d, k + oversample))
        Q, _ = np.linalg.qr(X @ omega)
        for _ in range(n_iter):
            Q, _ = np.linalg.qr(X.T @ Q)
            Q, _ = np.linalg.qr(X @ Q)
        Ub, s, _ = np.linalg.svd(Q.T @ X, full_matrices=False)
        U = Q @ Ub
    rank = int(np.sum(s > s[0] * 1e-12)) if s.size and s[0] > 0 else 1
    return U[:, : max(1, min(k, rank))]
