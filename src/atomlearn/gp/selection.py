"""Inducing-point (sparse point) selection: random, farthest-point sampling, CUR."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from ..errors import ConfigError, check_choice

log = logging.getLogger("atomlearn.models")

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


def check_n_sparse(n_sparse) -> None:
    """Refuse an ``n_sparse`` that is neither a positive int nor a dict of them."""
    counts = list(n_sparse.values()) if isinstance(n_sparse, Mapping) else [n_sparse]
    if not counts or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool)
                             and c >= 1 for c in counts):
        raise ConfigError(
            f"The 'n_sparse' parameter must be a positive int (sparse points per element) "
            f"or a dict of positive ints per element symbol. Got {n_sparse!r}; use at "
            "least one sparse point per element.")


def sparse_counts(numbers: np.ndarray, n_sparse, *, report: bool = True) -> dict[int, int]:
    """Sparse points per element, GAP's convention: ``n_sparse`` of every element (an
    int) or per element symbol (a dict), capped at the environments there are.

    Parameters
    ----------
    numbers : array of int, shape (n_environments,)
        Atomic number of every training environment.
    n_sparse : int or dict
        Count per element, or ``{symbol: count}`` naming every element of ``numbers``.
    report : bool
        Log the counts when some were capped.

    Returns
    -------
    dict
        ``{atomic number: count}`` in increasing atomic number.
    """
    species, available = np.unique(np.asarray(numbers, int), return_counts=True)
    if isinstance(n_sparse, Mapping):
        given = {atomic_numbers[k] if isinstance(k, str) else int(k): int(v)
                 for k, v in n_sparse.items() if not isinstance(k, str) or k in atomic_numbers}
        missing = sorted(chemical_symbols[z] for z in species if int(z) not in given)
        if missing:
            raise ConfigError(
                f"'n_sparse' has no count for element(s) {missing} of the training set; "
                f"give one per element {[chemical_symbols[z] for z in species]} or one "
                "int for every element.")
        wanted = {int(z): given[int(z)] for z in species}
    else:
        wanted = {int(z): int(n_sparse) for z in species}
    capped = {int(z): min(wanted[int(z)], int(n)) for z, n in zip(species, available,
                                                               strict=True)}
    if report and capped != wanted:
        log.info("n_sparse capped at the environments of the training set: %s",
                 {chemical_symbols[z]: n for z, n in capped.items()})
    return capped


def select_per_element(X, numbers: np.ndarray, counts: dict[int, int], method: str, *,
                       random_state: int = 0) -> np.ndarray:
    """Sparse rows of ``X`` chosen element by element (seed ``random_state + k`` for the
    k-th element), grouped by element in increasing atomic number so that each
    element's sparse points are contiguous columns of the kernel."""
    numbers = np.asarray(numbers, int)
    chosen = []
    for k, (z, m) in enumerate(sorted(counts.items())):
        rows = np.flatnonzero(numbers == z)
        picked = select_sparse_points(X[rows], m, method, random_state=random_state + k,
                                      what="environments")
        chosen.append(rows[picked])
    return np.concatenate(chosen)
