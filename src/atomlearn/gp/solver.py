"""The sparse-GP solver core, shared by the array-level regressor and every structure-level
GP family (which build their kernel rows their own way).

The lecture's sparse GPR writes the weights as

.. math::  c_M = (K_{NM}^T K_{NM} + \\eta K_{MM})^{-1} K_{NM}^T y_N ,

which is the posterior mean of the projected-process (DTC) approximation with noise
variance :math:`\\sigma^2 = \\eta` (for a kernel whose amplitude :math:`s^2` is part of
:math:`K`). With one noise variance per observation, :math:`\\Sigma = \\mathrm{diag}(\\sigma_n^2)`,
it generalises to

.. math::  \\tilde A\\, c_M = K_{MN}\\Sigma^{-1} y, \\qquad
           \\tilde A = K_{MM} + K_{MN}\\Sigma^{-1}K_{NM}.

``y`` may have several columns (a spectrum, a vector of invariants): they share the rows,
the noise and so one factorisation of :math:`\\tilde A`.

**How it is solved.** :math:`A = K_{MN}\\Sigma^{-1}K_{NM}` and :math:`b` are accumulated chunk
by chunk (peak memory :math:`O(M^2 + \\text{chunk}\\times M)`; the cost is the matrix
products one cannot avoid), then :math:`\\tilde A = K_{MM} + A` is factorised by Cholesky
(as GAP does). Cholesky is backward stable, so this fails only when :math:`\\tilde A` is
singular to working precision; then a jitter proportional to its diagonal is added, with a
warning that says how much. Forming :math:`A` squares the condition number of
:math:`\\Sigma^{-1/2}K_{NM}`; :func:`solve_stacked` avoids that with a QR factorisation of
the stacked matrix :math:`[\\Sigma^{-1/2} K_{NM} L^{-T};\\; I]` (:math:`K_{MM} = LL^T`), at
twice the flops and with :math:`K_{NM}` held in memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular


@dataclass
class NormalEquations:
    """Accumulated :math:`A = K_{MN}\\Sigma^{-1}K_{NM}`, :math:`b = K_{MN}\\Sigma^{-1}y`, and
    the scalars of the log marginal likelihood.

    Attributes
    ----------
    A : numpy.ndarray of shape (M, M)
    b : numpy.ndarray of shape (M,) or (M, n_columns)
    yy : float
        :math:`\\sum y^T\\Sigma^{-1}y` over all columns.
    logdet_sigma : float
        :math:`\\log|\\Sigma|` (of one column).
    n : int
        Observations per column.
    """

    A: np.ndarray
    b: np.ndarray
    yy: float = 0.0
    logdet_sigma: float = 0.0
    n: int = 0

    @classmethod
    def zeros(cls, n_sparse: int, n_columns: int | None = None) -> NormalEquations:
        shape = (n_sparse,) if n_columns is None else (n_sparse, n_columns)
        return cls(np.zeros((n_sparse, n_sparse)), np.zeros(shape))

    def add(self, K: np.ndarray, y: np.ndarray, sigma2: np.ndarray) -> None:
        """Add a chunk: rows ``K`` (n_chunk, M), targets ``y`` (n_chunk,) or
        (n_chunk, n_columns), noise variances ``sigma2`` (n_chunk,)."""
        w = 1.0 / sigma2
        if np.all(w == w[0]):          # one noise level: scale A instead of K (no copy)
            self.A += w[0] * (K.T @ K)
        else:
            Kw = K * np.sqrt(w)[:, None]
            self.A += Kw.T @ Kw
        wy = w * y if y.ndim == 1 else w[:, None] * y
        self.b += K.T @ wy
        self.yy += float(np.sum(wy * y))
        self.logdet_sigma += float(np.sum(np.log(sigma2)))
        self.n += len(y)

    def __add__(self, other: NormalEquations) -> NormalEquations:
        """Equations of the union of two disjoint sets of observations."""
        return NormalEquations(self.A + other.A, self.b + other.b, self.yy + other.yy,
                               self.logdet_sigma + other.logdet_sigma, self.n + other.n)

    def scaled(self, weight: float) -> NormalEquations:
        """Equations of the same rows with every noise variance divided by ``weight``."""
        return NormalEquations(weight * self.A, weight * self.b, weight * self.yy,
                               self.logdet_sigma - self.n * np.log(weight), self.n)


@dataclass
class SparseSolution:
    """Weights and factors of a solved sparse GP."""

    weights: np.ndarray      # c_M, (M,) or (M, n_columns)
    L: np.ndarray            # lower Cholesky factor of K_MM + jitter I
    R: np.ndarray            # lower Cholesky factor of Ã = K_MM + K_MN Σ^-1 K_NM
    log_marginal_likelihood: float


def solve_normal_equations(K_MM: np.ndarray, eq: NormalEquations, jitter: float
                           ) -> SparseSolution:
    """Solve :math:`(K_{MM} + A) c = b` by Cholesky (see the module docstring)."""
    L = cholesky_jittered(K_MM, jitter)
    A_tilde = K_MM + eq.A
    A_tilde[np.diag_indices_from(A_tilde)] += jitter
    R = _cholesky_with_fallback(A_tilde)
    w = solve_triangular(R, eq.b, lower=True, check_finite=False)
    weights = solve_triangular(R, w, lower=True, trans="T", check_finite=False)
    return SparseSolution(weights, L, R, _lml(eq.yy, w, eq.logdet_sigma, R, L, eq.n))


def _lml(yy, w, logdet_sigma, R, L, n) -> float:
    # log N(y | 0, Q + Σ) summed over columns; matrix determinant lemma:
    # log|Q+Σ| = log|Σ| + log|Ã| - log|K_MM|
    n_columns = 1 if w.ndim == 1 else w.shape[1]
    logdet = (logdet_sigma + 2.0 * np.log(np.abs(np.diag(R))).sum()
              - 2.0 * np.log(np.diag(L)).sum() + n * np.log(2.0 * np.pi))
    return float(-0.5 * (yy - float(np.sum(w * w)) + n_columns * logdet))


def _cholesky_with_fallback(A: np.ndarray) -> np.ndarray:
    try:
        return cholesky(A, lower=True, check_finite=False)
    except LinAlgError:
        pass
    scale = float(np.mean(np.diag(A)))
    for power in range(-14, -5):
        added = scale * 10.0**power
        try:
            R = cholesky(A + added * np.eye(len(A)), lower=True, check_finite=False)
        except LinAlgError:
            continue
        warnings.warn(
            f"The sparse-GP system K_MM + K_MN Σ^-1 K_NM is singular to working precision; "
            f"added {added:.3g} to its diagonal. Increase the noise ('alpha'/'sigma') or "
            "'jitter', or use fewer sparse points, for a better-conditioned fit.",
            stacklevel=3)
        return R
    raise np.linalg.LinAlgError(
        "The sparse-GP system K_MM + K_MN Σ^-1 K_NM is not positive definite even with "
        "added jitter; increase the noise ('alpha'/'sigma') or 'jitter'.")


def cholesky_jittered(K_MM: np.ndarray, jitter: float) -> np.ndarray:
    """Lower Cholesky factor of :math:`K_{MM} + \\text{jitter}\\, I`, or a clear error."""
    K = K_MM.copy()
    K[np.diag_indices_from(K)] += jitter
    try:
        return cholesky(K, lower=True, check_finite=False)
    except LinAlgError as err:
        raise np.linalg.LinAlgError(
            "The sparse-point kernel matrix K_MM is not positive definite (duplicate or "
            f"nearly identical sparse points?). Increase 'jitter' (currently {jitter!r}), "
            f"e.g. to {max(jitter * 100, 1e-8):.0e}, or use fewer sparse points."
        ) from err


def predictive_variance(K_sM: np.ndarray, k_ss: np.ndarray, sol: SparseSolution
                        ) -> np.ndarray:
    """DTC / projected-process variance of the latent function (one value per row; the
    same for every column of a multi-column target).

    .. math:: \\sigma_*^2 = k_{**} - k_{*M}K_{MM}^{-1}k_{M*} + k_{*M}\\tilde A^{-1}k_{M*}

    (Quiñonero-Candela & Rasmussen 2005, Table 1, DTC; Titsias 2009 eq. 6 without the
    trace term). The last term is the uncertainty of the weights; far from all sparse
    points both corrections vanish and the prior variance :math:`k_{**}` is returned.
    """
    V = solve_triangular(sol.L, K_sM.T, lower=True, check_finite=False)
    W = solve_triangular(sol.R, K_sM.T, lower=True, check_finite=False)
    var = k_ss - np.einsum("ij,ij->j", V, V) + np.einsum("ij,ij->j", W, W)
    return np.maximum(var, 0.0)


def chunk_slices(n: int, chunk_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``chunk_size`` rows covering ``range(n)``."""
    for start in range(0, n, chunk_size):
        yield slice(start, min(start + chunk_size, n))


__all__ = ["NormalEquations", "SparseSolution", "chunk_slices", "cholesky_jittered",
           "predictive_variance", "solve_normal_equations"]
