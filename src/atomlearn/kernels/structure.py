"""Structure kernels: a structure's property as a sum (or mean) of atomic contributions.

With :math:`E(A) = \\sum_{i\\in A} e(x_i)` and a GP prior on :math:`e` with environment kernel
:math:`k`, the covariance of a structure with a sparse environment :math:`x_m` is
:math:`\\sum_{i\\in A} k(x_i, x_m)`, and that of a force component
:math:`F_{j\\alpha} = -\\partial E/\\partial r_{j\\alpha}` is
:math:`-\\sum_i \\partial k(x_i, x_m)/\\partial x_i \\cdot \\partial x_i/\\partial r_{j\\alpha}`
(GAP's derivative observations; Bartók & Csányi, IJQC 115, 1051 (2015), eq. 21).
Environments of different central elements are uncorrelated when ``per_species``.

Both environment kernels are functions of :math:`u = \\hat x\\cdot\\hat x_m` for unit-normalised
descriptors, so one derivative path serves them:
:math:`\\nabla_x k = k'(u)\\,(\\hat x_m - u\\hat x)/|x|`. All force rows then come from one
large matrix product of the stacked descriptor gradients with the sparse environments,
which runs at the machine's DGEMM rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError


class SoapKernel:
    """:math:`k(u) = \\delta^2 u^\\zeta` on unit descriptors (GAP's ``dot_product``, ``zeta``).

    Parameters
    ----------
    zeta : int
        Power, a positive integer.
    delta : float
        Amplitude :math:`\\delta` in target units per atom (GAP's ``delta``).
    """

    def __init__(self, zeta: int = 4, delta: float = 1.0) -> None:
        self.zeta = zeta
        self.delta = delta

    def __repr__(self) -> str:
        return f"SoapKernel(zeta={self.zeta}, delta={self.delta:.4g})"

    def profile(self, u: np.ndarray, order: int = 1):
        """Return ``k(u)`` and its first (and second, ``order=2``) derivative in u."""
        z, d2 = int(self.zeta), self.delta**2
        if z != self.zeta or z < 1:
            raise ConfigError(f"'zeta' must be a positive integer. Got {self.zeta!r}.")
        k = d2 * u**z
        dk = d2 * z * u ** (z - 1)
        if order == 1:
            return k, dk
        return k, dk, d2 * z * (z - 1) * u ** max(z - 2, 0) if z >= 2 else 0.0 * u


class UnitRBFKernel:
    """:math:`k = \\delta^2 \\exp(-|\\hat x - \\hat x_m|^2 / 2l^2) = \\delta^2 \\exp((u-1)/l^2)`.

    Parameters
    ----------
    length_scale : float
        :math:`l`, in units of the normalised descriptor.
    delta : float
        Amplitude in target units per atom.
    """

    def __init__(self, length_scale: float = 1.0, delta: float = 1.0) -> None:
        self.length_scale = length_scale
        self.delta = delta

    def __repr__(self) -> str:
        return f"UnitRBFKernel(length_scale={self.length_scale}, delta={self.delta:.4g})"

    def profile(self, u: np.ndarray, order: int = 1):
        inv = 1.0 / self.length_scale**2
        k = self.delta**2 * np.exp((u - 1.0) * inv)
        if order == 1:
            return k, k * inv
        return k, k * inv, k * inv * inv


@dataclass
class Environments:
    """Unit-normalised descriptors of a set of atoms and what is needed for derivatives."""

    unit: np.ndarray         # [n_atoms, n_features] x / |x|
    norm: np.ndarray         # [n_atoms] |x|
    numbers: np.ndarray      # [n_atoms]
    structure: np.ndarray    # [n_atoms] structure index (contiguous)

    @classmethod
    def from_values(cls, values, numbers, structure) -> Environments:
        norm = np.linalg.norm(values, axis=1)
        if np.any(norm == 0):
            raise ConfigError(
                "An atom has an all-zero descriptor (no neighbours within the cutoff); "
                "increase the cutoff so every atom sees at least one neighbour.")
        return cls(values / norm[:, None], norm, numbers, structure)


class AtomSumKernel:
    """Sum an environment kernel over the atoms of each structure, with derivatives.

    Parameters
    ----------
    env_kernel : SoapKernel or UnitRBFKernel
        Kernel of :math:`u = \\hat x\\cdot\\hat x'`.
    per_species : bool
        Zero covariance between environments with different central elements.
    aggregation : {"sum", "mean"}
        ``"sum"`` for extensive targets (energy), ``"mean"`` for intensive ones.
    """

    def __init__(self, env_kernel, *, per_species: bool = True,
                 aggregation: str = "sum") -> None:
        self.env_kernel = env_kernel
        self.per_species = per_species
        self.aggregation = aggregation

    def __repr__(self) -> str:
        return (f"AtomSumKernel({self.env_kernel!r}, per_species={self.per_species}, "
                f"aggregation={self.aggregation!r})")

    # -- environment level ------------------------------------------------------------
    def _blocks(self, numbers: np.ndarray, sparse_numbers: np.ndarray):
        """``(rows, cols)`` of the blocks of environments and sparse points that covary.

        With ``per_species`` the kernel is block diagonal in the central element, so only
        those blocks are computed (a third of the products for three elements). ``cols``
        is a slice when an element's sparse points are contiguous (as fitted models store
        them), an index array otherwise.
        """
        if not self.per_species:
            yield slice(None), slice(None)
            return
        for z in np.unique(sparse_numbers):
            rows = np.flatnonzero(numbers == z)
            if len(rows):
                yield rows, _as_slice(np.flatnonzero(sparse_numbers == z))

    def environment_kernel(self, env: Environments, sparse: Environments) -> np.ndarray:
        """:math:`k(x_i, x_m)`, shape (n_atoms, n_sparse)."""
        K = np.zeros((len(env.numbers), len(sparse.numbers)))
        for rows, cols in self._blocks(env.numbers, sparse.numbers):
            k, _ = self.env_kernel.profile(env.unit[rows] @ sparse.unit[cols].T)
            _put(K, rows, cols, k)
        return K

    def _aggregate(self, K_atoms: np.ndarray, structure: np.ndarray) -> np.ndarray:
        starts = np.flatnonzero(np.r_[True, np.diff(structure) != 0])
        K = np.add.reduceat(K_atoms, starts, axis=0)
        if self.aggregation == "mean":
            K /= np.diff(np.r_[starts, len(structure)])[:, None]
        return K

    # -- rows of K_NM -----------------------------------------------------------------
    def energy_rows(self, env: Environments, sparse: Environments) -> np.ndarray:
        """Structure-sparse covariances, shape (n_structures, n_sparse)."""
        return self._aggregate(self.environment_kernel(env, sparse), env.structure)

    def derivative_rows(self, env: Environments, sparse: Environments,
                        grad_values: np.ndarray, grad_center: np.ndarray,
                        grad_target: np.ndarray, n_targets: int, *,
                        nonzero_blocks: np.ndarray | None = None) -> np.ndarray:
        """Rows :math:`\\sum_i \\partial k(x_i, x_m)/\\partial q` for derivative variables q.

        Parameters
        ----------
        grad_values : array of shape (n_pairs, n_comp, n_features)
            :math:`\\partial x_i/\\partial q` for each pair (centre i, target variable block).
        grad_center : array of shape (n_pairs,)
            Row i of ``env`` for each pair.
        grad_target : array of shape (n_pairs,)
            Which target block (atom j, or structure for strain) each pair feeds.
        n_targets : int
            Number of target blocks.
        nonzero_blocks : array of shape (n_pairs, n_blocks), optional
            Which equal column blocks of each pair's gradient may be non-zero
            (:attr:`Features.gradient_blocks`: a neighbour moves only the SOAP species
            pairs that involve its element). Rows are then grouped by their non-zero
            blocks and each group multiplies only those columns.

        Returns
        -------
        numpy.ndarray of shape (n_targets * n_comp, n_sparse)
            Rows ordered block by block, components inside (j*3 + alpha).
        """
        n_pairs, n_comp, _ = grad_values.shape
        s = np.einsum("pcd,pd->pc", grad_values, env.unit[grad_center]).reshape(-1)
        target_rows = (np.repeat(grad_target, n_comp) * n_comp
                       + np.tile(np.arange(n_comp), n_pairs))
        out = np.zeros((n_targets * n_comp, len(sparse.numbers)))
        position = np.empty(len(env.numbers), int)      # row of each centre in its block
        for atoms, cols in self._blocks(env.numbers, sparse.numbers):
            centres = np.arange(len(env.numbers))[atoms]
            position[centres] = np.arange(len(centres))
            u, a = self._gradient_factors(env, sparse, atoms, cols)
            pairs = np.flatnonzero(np.isin(grad_center, centres))
            rows = (pairs[:, None] * n_comp + np.arange(n_comp)).ravel()
            local = np.repeat(position[grad_center[pairs]], n_comp)
            T = _sparse_rows_product(grad_values, sparse.unit[cols], nonzero_blocks, pairs)
            T -= u[local] * s[rows, None]
            T *= a[local]
            # sum pairs into their target rows: a sparse (n_targets*c, pairs*c) summation
            S = sp.csr_matrix((np.ones(len(rows)), (target_rows[rows], np.arange(len(rows)))),
                              shape=(out.shape[0], len(rows)))
            out[:, cols] += S @ T
        return out

    def _gradient_factors(self, env, sparse, atoms, cols):
        """u and :math:`k'(u)/|x|` of one block."""
        u = env.unit[atoms] @ sparse.unit[cols].T
        _, dk = self.env_kernel.profile(u)
        return u, dk / env.norm[atoms, None]

    def energy_rows_and_gradient(self, env: Environments, sparse: Environments,
                                 weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`energy_rows` and :meth:`descriptor_gradient` sharing one product."""
        K = np.zeros((len(env.numbers), len(sparse.numbers)))
        grad = np.zeros_like(env.unit)
        for atoms, cols in self._blocks(env.numbers, sparse.numbers):
            xm = sparse.unit[cols]
            # few atoms against many sparse points: the products with the sparse matrix
            # on the left run about 25% faster in OpenBLAS (MD calls this every step)
            u = (xm @ env.unit[atoms].T).T
            k, dk = self.env_kernel.profile(u)
            _put(K, atoms, cols, k)
            aw = dk / env.norm[atoms, None] * weights[cols][None, :]
            grad[atoms] = (xm.T @ aw.T).T - env.unit[atoms] * np.sum(aw * u, axis=1)[:, None]
        return self._aggregate(K, env.structure), grad

    def descriptor_gradient(self, env: Environments, sparse: Environments,
                            weights: np.ndarray) -> np.ndarray:
        """:math:`\\partial e(x_i)/\\partial x_i` for ``e = sum_m c_m k(., x_m)``, (n_atoms, D)."""
        return self.energy_rows_and_gradient(env, sparse, weights)[1]

    # -- prior variances (for the DTC predictive variance) ----------------------------
    def energy_prior_variance(self, env: Environments) -> np.ndarray:
        """:math:`K(A, A)` of each structure, shape (n_structures,)."""
        starts = np.flatnonzero(np.r_[True, np.diff(env.structure) != 0])
        ends = np.r_[starts[1:], len(env.structure)]
        out = np.empty(len(starts))
        for s, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
            k, _ = self.env_kernel.profile(env.unit[lo:hi] @ env.unit[lo:hi].T)
            if self.per_species:
                k = k * (env.numbers[lo:hi, None] == env.numbers[None, lo:hi])
            out[s] = k.sum() / ((hi - lo) ** 2 if self.aggregation == "mean" else 1)
        return out

    def derivative_prior_variance(self, env: Environments, grad_values, grad_center,
                                  grad_target, n_targets) -> np.ndarray:
        """Prior variance of every derivative component, shape (n_targets * n_comp,).

        :math:`\\mathrm{var}(\\partial E/\\partial q) = \\sum_{i,i'} g_i^T
        \\partial^2 k(x_i, x_{i'})/\\partial x_i\\partial x_{i'}\\, g_{i'}`, summed over the centres
        i, i' whose descriptors depend on q (and of the same element if ``per_species``).
        """
        n_pairs, n_comp, _ = grad_values.shape
        out = np.zeros((n_targets, n_comp))
        order = np.argsort(grad_target, kind="stable")
        bounds = np.searchsorted(grad_target[order], np.arange(n_targets + 1))
        for t in range(n_targets):
            p = order[bounds[t] : bounds[t + 1]]
            if len(p) == 0:
                continue
            c = grad_center[p]
            g = grad_values[p]                                    # [q, comp, D]
            xh, nrm = env.unit[c], env.norm[c]
            u = xh @ xh.T                                         # [q, q]
            _, dk, d2k = self.env_kernel.profile(u, order=2)
            gx = np.einsum("qcd,rd->cqr", g, xh)                  # g_q . x̂_r
            gg = np.einsum("qcd,rcd->cqr", g, g)                  # g_q . g_r
            diag = np.einsum("cqq->cq", gx)                       # g_q . x̂_q
            # du/dx . g for each ordered pair (q, r): (g_q . x̂_r - u g_q . x̂_q)/|x_q|
            du_q = (gx - u[None] * diag[:, :, None]) / nrm[None, :, None]
            du_r = np.swapaxes(du_q, 1, 2)
            # g_q^T [(I - x̂_r x̂_r^T) - x̂_q (x̂_q - u x̂_r)^T] g_r / (|x_q| |x_r|)
            second = (gg - gx * diag[:, None, :] - diag[:, :, None] * np.swapaxes(gx, 1, 2)
                      + u[None] * diag[:, :, None] * diag[:, None, :]
                      ) / (nrm[:, None] * nrm[None, :])[None]
            H = d2k[None] * du_q * du_r + dk[None] * second
            if self.per_species:
                H = H * (env.numbers[c][:, None] == env.numbers[c][None, :])[None]
            out[t] = H.sum(axis=(1, 2))
        return np.maximum(out.reshape(-1), 0.0)


def _as_slice(index: np.ndarray):
    """``index`` as a slice when it is a contiguous range (views instead of copies)."""
    if len(index) and index[-1] - index[0] + 1 == len(index):
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def _put(target: np.ndarray, rows, cols, value: np.ndarray) -> None:
    """``target[rows, cols] = value`` for the block spanned by ``rows`` x ``cols``."""
    if isinstance(cols, slice) or isinstance(rows, slice):
        target[rows, cols] = value
    else:
        target[np.ix_(rows, cols)] = value


def _sparse_rows_product(grad_values: np.ndarray, basis: np.ndarray,
                         nonzero: np.ndarray | None, pairs: np.ndarray) -> np.ndarray:
    """``grad_values[pairs].reshape(-1, D) @ basis.T``, multiplying only the column
    blocks that ``nonzero`` marks as non-zero.

    Rows with the same non-zero blocks that are consecutive in ``grad_values`` (as
    :meth:`SoapExpansion.power_spectrum_position_gradients` lays them out) multiply as
    strided views, one DGEMM per block, so nothing is gathered; other rows are gathered.
    """
    _, n_comp, n_feat = grad_values.shape
    G = grad_values.reshape(-1, n_feat)
    out = np.empty((len(pairs) * n_comp, basis.shape[0]))
    if nonzero is None:
        out[:] = G[(pairs[:, None] * n_comp + np.arange(n_comp)).ravel()] @ basis.T
        return out
    width = n_feat // nonzero.shape[1]
    patterns, group = np.unique(nonzero[pairs], axis=0, return_inverse=True)
    group = group.ravel()
    # runs of positions with one pattern whose pairs are consecutive as well
    cut = np.flatnonzero((np.diff(group) != 0) | (np.diff(pairs) != 1)) + 1
    for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(pairs)], strict=True):
        blocks = np.flatnonzero(patterns[group[lo]])
        src = slice(int(pairs[lo]) * n_comp, (int(pairs[hi - 1]) + 1) * n_comp)
        dst = out[lo * n_comp : hi * n_comp]
        if len(blocks) == 0:
            dst[:] = 0.0
        for j, b in enumerate(blocks):
            cols = slice(int(b) * width, (int(b) + 1) * width)
            if j == 0:
                np.matmul(G[src, cols], basis[:, cols].T, out=dst)
            else:
                dst += G[src, cols] @ basis[:, cols].T
    return out
