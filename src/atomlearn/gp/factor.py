"""Sparse GP fits by QR of the stacked, noise-scaled rows: the condition number of the
kernel rows is never squared.

Forming :math:`K_{NM}^T\\Sigma^{-1}K_{NM}` squares the condition number of the rows: with
hundreds of similar sparse environments (cond ~1e7) the normal equations keep two
digits, and a fit's errors then move by 10% with the order of a sum (threads, chunks).
Here every observation type t (target values, forces, stress) keeps instead the upper
triangular factor :math:`R_t` of its rows and labels, :math:`R_t^T R_t =
[K_t\\,|\\,y_t]^T\\Sigma_t^{-1}[K_t\\,|\\,y_t]`, updated chunk by chunk with LAPACK's
triangular-pentagonal QR (``tpqrt``, 2 n M^2 flops for n rows) and merged the same way.
A solve for prior scale :math:`\\delta` and noise levels :math:`\\sigma_t` is the least
squares problem

.. math:: \\min_u \\sum_t \\|R^K_t u - r_t\\|^2/\\sigma_t^2 + u^T(K_{MM} + jI)u/\\delta^2,

solved by the QR of the stacked triangles :math:`[R_t/\\sigma_t;\\; L^T/\\delta]`
(:math:`LL^T = K_{MM} + jI`) at O(M^3), without returning to the data; predictions are
:math:`k(x)^T u`. The same factors serve rank-k updates (new rows) and tree reductions
over chunks computed elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack, solve_triangular

from .solver import SparseSolution, cholesky_jittered

_NB = 64          # block size of tpqrt


def stack_triangle(upper: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The upper-triangular R of ``[upper; rows]`` (``upper`` square upper triangular,
    ``rows`` any number of rows of the same width; upper-trapezoidal rows are exploited)."""
    n = upper.shape[0]
    if rows.shape[0] == 0:
        return upper
    p = rows.shape[0]
    trapezoidal = p <= n and not np.any(np.tril(rows, -1))
    a, _, _, info = lapack.dtpqrt(p if trapezoidal else 0, min(_NB, n),
                                  np.asfortranarray(upper), np.asfortranarray(rows))
    if info != 0:        # pragma: no cover - LAPACK argument error
        raise RuntimeError(f"LAPACK dtpqrt failed (info {info}).")
    return np.triu(a)


def update_triangle(upper: np.ndarray, rows: np.ndarray, trapezoidal: bool = False
                    ) -> np.ndarray:
    """:func:`stack_triangle` in place: ``upper`` (Fortran-ordered, zero below the
    diagonal) is overwritten with the R of ``[upper; rows]`` at 2 k n^2 flops for k rows
    (fewer for ``trapezoidal`` rows, zero below their diagonal); returned (the same
    array)."""
    if rows.shape[0] == 0:
        return upper
    if not upper.flags.f_contiguous:
        raise ValueError("update_triangle needs a Fortran-ordered triangle")
    # blocks as wide as the new rows: each block is a pass over the trailing triangle,
    # which for a few rows costs more in memory traffic than the wider block saves
    nb = max(1, min(_NB, upper.shape[0], rows.shape[0]))
    pentagon = rows.shape[0] if trapezoidal and rows.shape[0] <= upper.shape[0] else 0
    if pentagon:                  # a merge of triangles: blocks as stack_triangle's
        nb = min(_NB, upper.shape[0])
    a, _, _, info = lapack.dtpqrt(pentagon, nb, upper, np.asfortranarray(rows),
                                  overwrite_a=True)
    if info != 0:        # pragma: no cover - LAPACK argument error
        raise RuntimeError(f"LAPACK dtpqrt failed (info {info}).")
    return a


@dataclass
class RowFactor:
    """Triangular factor of noise-scaled rows and labels of one observation type.

    Attributes
    ----------
    R : numpy.ndarray of shape (M + T, M + T)
        Upper triangular: :math:`R^TR = [K|y]^T\\Sigma^{-1}[K|y]` for the rows added so far.
    n_sparse : int
        M.
    logdet_sigma : float
        :math:`\\log|\\Sigma|` of the rows (one column).
    n : int
        Rows added.
    """

    R: np.ndarray
    n_sparse: int
    logdet_sigma: float = 0.0
    n: int = 0

    @classmethod
    def zeros(cls, n_sparse: int, n_columns: int | None = None) -> RowFactor:
        # Fortran order for in-place updates; pages of a factor no row reaches are never
        # touched (calloc), so an unused observation type costs no memory
        width = n_sparse + (n_columns or 1)
        return cls(np.zeros((width, width), order="F"), n_sparse)

    @property
    def n_columns(self) -> int:
        return self.R.shape[1] - self.n_sparse

    def add(self, K: np.ndarray, y: np.ndarray, sigma2: np.ndarray) -> None:
        """Add rows ``K`` (n, M) with labels ``y`` (n,) or (n, T) and noise variances
        ``sigma2`` (n,), in place."""
        if len(K) == 0:
            return
        s = 1.0 / np.sqrt(sigma2)
        rows = np.hstack([K * s[:, None], (y * s if y.ndim == 1 else y * s[:, None]
                                           ).reshape(len(K), -1)])
        self.R = update_triangle(self._own_triangle(), rows)
        self.logdet_sigma += float(np.sum(np.log(sigma2)))
        self.n += len(K)

    def compact(self) -> RowFactor:
        """This factor with only the rows that can be nonzero (``min(n, M + T)``): what a
        task of a tree fit sends back."""
        return RowFactor(np.ascontiguousarray(self.R[: min(self.n, len(self.R))]),
                         self.n_sparse, self.logdet_sigma, self.n)

    def square(self) -> RowFactor:
        """This factor with its square triangle (a :meth:`compact` one padded)."""
        width = self.R.shape[1]
        if self.R.shape[0] == width:
            return self
        R = np.zeros((width, width), order="F")
        R[: len(self.R)] = self.R
        return RowFactor(R, self.n_sparse, self.logdet_sigma, self.n)

    def _own_triangle(self) -> np.ndarray:
        """This factor's square triangle as an array LAPACK may overwrite (Fortran order,
        writeable, aligned), copied only when it is not one."""
        R = self.square().R
        if not (R.flags.f_contiguous and R.flags.writeable and R.flags.aligned):
            R = np.array(R, order="F")
        return R

    def __add__(self, other: RowFactor) -> RowFactor:
        """The factor of the rows of both (a tree reduction's merge)."""
        out = RowFactor(np.array(self.square().R, order="F"), self.n_sparse,
                        self.logdet_sigma, self.n)
        out += other
        return out

    def __iadd__(self, other: RowFactor) -> RowFactor:
        """:meth:`__add__` in place: this factor's triangle takes ``other``'s rows (upper
        trapezoidal, so the triangular-pentagonal QR costs 2/3 (M+T)^3 for a full one),
        with no copy of this triangle."""
        rows = other.R[: min(other.n, len(other.R))]
        if len(rows):
            self.R = update_triangle(self._own_triangle(), rows, trapezoidal=True)
        self.logdet_sigma += other.logdet_sigma
        self.n += other.n
        return self

    @property
    def KK(self) -> np.ndarray:
        """:math:`R^K`: the rows' part, (M + T, M)."""
        return self.R[:, : self.n_sparse]

    @property
    def Ky(self) -> np.ndarray:
        """:math:`r`: the labels' part, (M + T, T)."""
        return self.R[:, self.n_sparse :]


@dataclass
class FactoredSolution(SparseSolution):
    """A :class:`SparseSolution` with what hyperparameter gradients need.

    Attributes
    ----------
    unit_weights : numpy.ndarray of shape (M,) or (M, T)
        :math:`u`: predictions are :math:`k(x)^T u` with the unit kernel.
    R_S : numpy.ndarray of shape (M, M)
        Upper triangular, :math:`R_S^TR_S = \\sum_t A_t/\\sigma_t^2 + (K + jI)/\\delta^2`.
    residual : float
        :math:`\\sum_t \\|R^K_t u - r_t\\|^2/\\sigma_t^2 + u^T(K + jI)u/\\delta^2`, all columns.
    """

    unit_weights: np.ndarray = None
    R_S: np.ndarray = None
    residual: float = 0.0


def solve_factored(K_MM: np.ndarray, factors: Sequence[tuple[RowFactor, float]],
                   delta: float, jitter: float) -> FactoredSolution:
    """Solve the sparse GP for prior scale ``delta`` from observation factors with their
    noise standard deviations ``(factor, sigma)``.

    ``K_MM`` is the unit-amplitude kernel of the sparse points; ``jitter`` is added to its
    diagonal (in units of :math:`\\delta^2`). The returned solution's ``weights``,
    ``L`` and ``R`` are those of the kernel :math:`\\delta^2 k` (as
    :func:`~atomlearn.gp.solver.solve_normal_equations` returns them), so predictions and
    :func:`~atomlearn.gp.solver.predictive_variance` work unchanged.
    """
    M = K_MM.shape[0]
    T = factors[0][0].n_columns
    L_unit = cholesky_jittered(K_MM, jitter)          # (K + jI) = L L^T
    width = M + T
    stacked = np.zeros((width, width))
    stacked[:M, :M] = L_unit.T / delta
    logdet_sigma, n = 0.0, 0
    for factor, sigma in factors:
        if factor.n == 0:
            continue
        rows = factor.R[: min(factor.n, width)] / sigma
        stacked = stack_triangle(stacked, rows)
        logdet_sigma += factor.logdet_sigma + factor.n * np.log(sigma**2)
        n += factor.n
    signs = np.where(np.diag(stacked)[:M] < 0, -1.0, 1.0)
    R_S = stacked[:M, :M] * signs[:, None]
    z = stacked[:M, M:] * signs[:, None]
    rho = stacked[M:, M:]
    u = solve_triangular(R_S, z, lower=False, check_finite=False)
    u = u[:, 0] if T == 1 else u
    residual = float(np.sum(rho**2))
    d2 = delta**2
    logdet_A = 4 * M * np.log(delta) + 2.0 * np.log(np.abs(np.diag(R_S))).sum()
    logdet_K = 2 * M * np.log(delta) + 2.0 * np.log(np.diag(L_unit)).sum()
    lml = -0.5 * (residual + T * (logdet_sigma + logdet_A - logdet_K + n * np.log(2 * np.pi)))
    return FactoredSolution(weights=u / d2, L=delta * L_unit, R=d2 * R_S.T,
                            log_marginal_likelihood=float(lml), unit_weights=u, R_S=R_S,
                            residual=residual)


def inverse_products(sol: FactoredSolution):
    """``(R_S^-1, solve)``: ``solve(v)`` applies :math:`(S^TS)^{-1} = R_S^{-1}R_S^{-T}`."""
    M = len(sol.R_S)
    Ri = solve_triangular(sol.R_S, np.eye(M), lower=False, check_finite=False)

    def solve(v):
        return Ri @ (Ri.T @ v)
    return Ri, solve


def lml_and_gradient(K_MM: np.ndarray, factors: Sequence[tuple[RowFactor, float]],
                     delta: float, jitter: float) -> tuple[float, np.ndarray]:
    """The DTC log marginal likelihood of :func:`solve_factored` and its gradient in
    (log delta, log sigma_t for every factor t).

    With the stacked factor :math:`S^TS = \\sum_t A_t/\\sigma_t^2 + (K+jI)/\\delta^2`
    (:math:`A_t = R_t^{KT}R^K_t`), weights u, T target columns and the misfit
    :math:`m_t = \\|R^K_t u - r_t\\|^2`:
    :math:`2\\partial F/\\partial\\log\\sigma_t = 2m_t/\\sigma_t^2 - 2Tn_t
    + 2T\\|R^K_t R_S^{-1}\\|^2/\\sigma_t^2` and
    :math:`2\\partial F/\\partial\\log\\delta = 2u^T(K+jI)u/\\delta^2 - 2TM
    + 2T\\|L^TR_S^{-1}\\|^2/\\delta^2` (envelope theorem for the minimised residual,
    :math:`\\partial\\log|S^TS| = \\operatorname{tr}((S^TS)^{-1}\\partial S^TS)`).

    Returns
    -------
    lml : float
    gradient : numpy.ndarray of shape (1 + len(factors),)
    """
    sol = solve_factored(K_MM, factors, delta, jitter)
    Ri, _ = inverse_products(sol)
    M = len(Ri)
    u = sol.unit_weights if sol.unit_weights.ndim == 2 else sol.unit_weights[:, None]
    T = u.shape[1]
    L = sol.L / delta                                  # K + jI = L L^T (unit kernel)
    grads = []
    for factor, sigma in factors:
        if factor.n == 0:
            grads.append(0.0)
            continue
        misfit = float(np.sum((factor.KK @ u - factor.Ky) ** 2))
        trace = float(np.sum((factor.KK @ Ri) ** 2))
        grads.append(misfit / sigma**2 - T * factor.n + T * trace / sigma**2)
    penalty = float(np.sum(u * (L @ (L.T @ u))))
    g_d = penalty / delta**2 - T * M + T * float(np.sum((L.T @ Ri) ** 2)) / delta**2
    return sol.log_marginal_likelihood, np.array([g_d, *grads])


def factor_of_rows(K: np.ndarray, y: np.ndarray, sigma2: np.ndarray) -> RowFactor:
    """The factor of one block of rows (for tests and one-shot fits)."""
    f = RowFactor.zeros(K.shape[1], None if y.ndim == 1 else y.shape[1])
    f.add(K, y, sigma2)
    return f


__all__ = ["FactoredSolution", "RowFactor", "factor_of_rows", "inverse_products",
           "lml_and_gradient", "solve_factored", "stack_triangle", "update_triangle"]
