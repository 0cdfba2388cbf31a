"""Structure kernels: a structure's property as a sum (or mean) of atomic contributions.

With :math:`E(A) = \\sum_{i\\in A} e(x_i)` and a GP prior on :math:`e` with environment kernel
:math:`k`, the covariance of two structures is :math:`\\sum_{i\\in A}\\sum_{j\\in B} k(x_i, x_j)`,
that of a structure with a sparse environment :math:`x_m` is :math:`\\sum_{i\\in A} k(x_i, x_m)`,
and that of a force component :math:`F_{j\\alpha} = -\\partial E/\\partial r_{j\\alpha}` is
:math:`-\\sum_i \\partial k(x_i, x_m)/\\partial x_i \\cdot \\partial x_i/\\partial r_{j\\alpha}`
(GAP's derivative observations; Bartók & Csányi, IJQC 115, 1051 (2015), eq. 21).
Environments of different central elements are uncorrelated when ``per_species``.

:class:`AtomSumKernel` is a :class:`~atomlearn.kernels.Kernel` on
:class:`AtomicEnvironments` (scikit-learn's ``GenericKernelMixin`` convention), so it
composes with ``ConstantKernel``, ``WhiteKernel``, ``+`` and ``*`` and serves scikit-learn
style regressors directly. Its derivative rows need an environment kernel of the
normalised dot product :math:`u = \\hat x\\cdot\\hat x_m` (:meth:`Kernel.profile`: SOAP's
``NormalizedDotProduct``, ``RBF``, ``DotProduct``, times constants), for which
:math:`\\nabla_x k = k'(u)\\,(\\hat x_m - u\\hat x)/|x|`: all force rows then come from one
large matrix product of the stacked descriptor gradients with the sparse environments,
which runs at the machine's DGEMM rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..descriptors import DescriptorGradient
from ..errors import ConfigError
from ._base import GenericKernelMixin, Kernel, KernelWrapper
from .dot_product import NormalizedDotProduct


@dataclass
class AtomicEnvironments:
    """Unit-normalised descriptors of the atoms of a set of structures (a kernel input).

    Attributes
    ----------
    unit : numpy.ndarray of shape (n_atoms, n_features)
        :math:`x/|x|` of every atom, structures one after the other.
    norm : numpy.ndarray of shape (n_atoms,)
        :math:`|x|`.
    numbers : numpy.ndarray of shape (n_atoms,)
        Atomic number of each centre.
    structure : numpy.ndarray of shape (n_atoms,)
        Structure of each atom (non-decreasing).
    n_structures : int
        Structures (rows of a structure kernel): ``len`` of this input.
    """

    unit: np.ndarray
    norm: np.ndarray
    numbers: np.ndarray
    structure: np.ndarray
    n_structures: int

    def __len__(self) -> int:
        return self.n_structures

    def __setstate__(self, state: dict) -> None:
        # arrays that arrive as views into a message buffer (dask's transport) can be
        # misaligned, which sends NumPy's products off BLAS: a distributed fit would then
        # differ from the serial one in round-off. Aligned copies keep them equal.
        self.__dict__.update({k: np.require(v, requirements="A") if isinstance(v, np.ndarray)
                              else v for k, v in state.items()})

    @classmethod
    def from_values(cls, values: np.ndarray, numbers: np.ndarray, structure: np.ndarray,
                    n_structures: int | None = None) -> AtomicEnvironments:
        norm = np.linalg.norm(values, axis=1)
        if np.any(norm == 0):
            raise ConfigError(
                "An atom has an all-zero descriptor (no neighbours within the cutoff); "
                "increase the cutoff so every atom sees at least one neighbour.")
        n = int(structure.max()) + 1 if n_structures is None and len(structure) else (
            n_structures or 0)
        return cls(values / norm[:, None], norm, numbers, structure, n)

    @classmethod
    def concatenate(cls, parts: list[AtomicEnvironments]) -> AtomicEnvironments:
        """The environments of consecutive chunks of structures as one input."""
        offsets = np.cumsum([0] + [p.n_structures for p in parts])
        return cls(np.concatenate([p.unit for p in parts]),
                   np.concatenate([p.norm for p in parts]),
                   np.concatenate([p.numbers for p in parts]),
                   np.concatenate([p.structure + o for p, o in zip(parts, offsets,
                                                                  strict=False)]),
                   int(offsets[-1]))

    def points(self, rows: np.ndarray | None = None) -> AtomicEnvironments:
        """Environments ``rows`` as one-atom "structures" (sparse points, per-atom targets)."""
        rows = np.arange(len(self.numbers)) if rows is None else np.asarray(rows)
        return AtomicEnvironments(self.unit[rows], self.norm[rows], self.numbers[rows],
                                  np.arange(len(rows)), len(rows))


class AtomSumKernel(GenericKernelMixin, KernelWrapper):
    """Sum an environment kernel over the atoms of each structure, with derivatives.

    Parameters
    ----------
    kernel : Kernel, optional
        Environment kernel on unit-normalised descriptors; default
        ``NormalizedDotProduct(zeta=4)`` (the SOAP kernel, GAP's ``dot_product`` with
        ``zeta=4``). Times a ``ConstantKernel`` it carries the prior scale
        :math:`\\delta^2` of an atomic contribution.
    per_species : bool
        Zero covariance between environments with different central elements.
    aggregation : {"sum", "mean"}
        ``"sum"`` for extensive targets (energy), ``"mean"`` for intensive ones.

    Examples
    --------
    >>> from ase.build import molecule
    >>> from atomlearn.descriptors import SoapPowerSpectrum
    >>> from atomlearn.kernels import ConstantKernel, NormalizedDotProduct
    >>> f = SoapPowerSpectrum(n_max=2, l_max=1).compute([molecule("H2O"), molecule("CH4")])
    >>> X = AtomicEnvironments.from_values(f.values, f.numbers, f.structure_index)
    >>> k = ConstantKernel(2.0) * AtomSumKernel(NormalizedDotProduct(zeta=2))
    >>> k(X).shape
    (2, 2)
    """

    def __init__(self, kernel: Kernel | None = None, *, per_species: bool = True,
                 aggregation: str = "sum") -> None:
        self.kernel = kernel
        self.per_species = per_species
        self.aggregation = aggregation

    @property
    def environment_kernel(self) -> Kernel:
        return NormalizedDotProduct(zeta=4) if self.kernel is None else self.kernel

    @property
    def inner_kernel(self) -> Kernel:       # its hyperparameters are this kernel's
        return self.environment_kernel

    def is_stationary(self):
        return False

    def __repr__(self):
        return (f"AtomSumKernel({self.environment_kernel!r}, per_species={self.per_species}, "
                f"aggregation={self.aggregation!r})")

    # -- kernel values ----------------------------------------------------------------
    def _groups(self, numbers: np.ndarray, other_numbers: np.ndarray):
        """``(rows, cols)`` of the element groups of environments that covary.

        With ``per_species`` the kernel is block diagonal in the central element, so only
        those groups are computed (a third of the products for three elements). ``cols``
        is a slice when an element's environments are contiguous (as fitted models store
        their sparse points), an index array otherwise.
        """
        if not self.per_species:
            yield slice(None), slice(None)
            return
        for z in np.unique(other_numbers):
            rows = np.flatnonzero(numbers == z)
            if len(rows):
                yield rows, _as_slice(np.flatnonzero(other_numbers == z))

    def _env_values(self, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
        kernel = self.environment_kernel
        if has_profile(kernel):
            return kernel.profile(xa @ xb.T)[0]
        return kernel(xa, xb)

    def environment_values(self, X: AtomicEnvironments, Y: AtomicEnvironments) -> np.ndarray:
        """:math:`k(x_i, y_j)` of every pair of environments, shape (n_atoms_X, n_atoms_Y)."""
        K = np.zeros((len(X.numbers), len(Y.numbers)))
        for rows, cols in self._groups(X.numbers, Y.numbers):
            _put(K, rows, cols, self._env_values(X.unit[rows], Y.unit[cols]))
        return K

    def _aggregate_rows(self, K_atoms: np.ndarray, X: AtomicEnvironments) -> np.ndarray:
        """Sum (or average) rows of atoms into their structures (atoms of a structure are
        consecutive: one reduceat)."""
        starts = np.searchsorted(X.structure, np.arange(X.n_structures))
        if len(K_atoms) == 0 or np.any(np.diff(np.r_[starts, len(X.structure)]) == 0):
            K = np.zeros((X.n_structures,) + K_atoms.shape[1:])     # a structure without atoms
            np.add.at(K, X.structure, K_atoms)
        else:
            K = np.add.reduceat(K_atoms, starts, axis=0)
        if self.aggregation == "mean":
            K /= np.maximum(np.bincount(X.structure, minlength=X.n_structures), 1).reshape(
                (-1,) + (1,) * (K.ndim - 1))
        return K

    def __call__(self, X: AtomicEnvironments, Y: AtomicEnvironments | None = None,
                 eval_gradient: bool = False):
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        if eval_gradient:
            K_env, dK_env = self.environment_kernel(X.unit, eval_gradient=True)
            if self.per_species:
                same = X.numbers[:, None] == X.numbers[None, :]
                K_env, dK_env = K_env * same, dK_env * same[:, :, None]
            K = self._aggregate_rows(self._aggregate_rows(K_env, X).swapaxes(0, 1), X)
            dK = self._aggregate_rows(self._aggregate_rows(dK_env, X).swapaxes(0, 1), X)
            return K.T, dK.swapaxes(0, 1)
        Y = X if Y is None else Y
        K = self._aggregate_rows(self.environment_values(X, Y), X)
        return self._aggregate_rows(K.T, Y).T

    def diag(self, X: AtomicEnvironments) -> np.ndarray:
        """:math:`K(A, A)` of each structure, shape (n_structures,)."""
        starts = np.searchsorted(X.structure, np.arange(X.n_structures + 1))
        out = np.empty(X.n_structures)
        for s in range(X.n_structures):
            lo, hi = starts[s], starts[s + 1]
            k = self._env_values(X.unit[lo:hi], X.unit[lo:hi])
            if self.per_species:
                k = k * (X.numbers[lo:hi, None] == X.numbers[None, lo:hi])
            out[s] = k.sum() / ((hi - lo) ** 2 if self.aggregation == "mean" else 1)
        return out

    # -- rows of K_NM against sparse environments -----------------------------------
    def rows(self, X: AtomicEnvironments, sparse: AtomicEnvironments) -> np.ndarray:
        """Structure-environment covariances, shape (n_structures, n_sparse)."""
        return self._aggregate_rows(self.environment_values(X, sparse), X)

    def rows_and_gradient(self, X: AtomicEnvironments, sparse: AtomicEnvironments,
                          weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`rows` and :math:`\\partial e(x_i)/\\partial x_i` of
        :math:`e = \\sum_m c_m k(\\cdot, x_m)` (shape (n_atoms, n_features)), sharing one
        product."""
        profile = self._profile()
        K = np.zeros((len(X.numbers), len(sparse.numbers)))
        grad = np.zeros_like(X.unit)
        for atoms, cols in self._groups(X.numbers, sparse.numbers):
            xm = sparse.unit[cols]
            # few atoms against many sparse points: the products with the sparse matrix
            # on the left run about 25% faster in OpenBLAS (MD calls this every step)
            u = (xm @ X.unit[atoms].T).T
            k, dk = profile(u)
            _put(K, atoms, cols, k)
            aw = dk / X.norm[atoms, None] * weights[cols][None, :]
            grad[atoms] = (xm.T @ aw.T).T - X.unit[atoms] * np.sum(aw * u, axis=1)[:, None]
        return self._aggregate_rows(K, X), grad

    def derivative_rows(self, X: AtomicEnvironments, sparse: AtomicEnvironments,
                        gradient: DescriptorGradient) -> np.ndarray:
        """Rows :math:`\\sum_i \\partial k(x_i, x_m)/\\partial q` for the variables q of
        ``gradient`` (atom positions or cell strain).

        Returns
        -------
        numpy.ndarray of shape (n_variables * n_components, n_sparse)
            Rows ordered variable by variable, components inside (j*3 + alpha).
        """
        profile = self._profile()
        n_comp = gradient.n_components
        s = gradient.dot_rows(X.unit)                                   # g_p . x̂_i
        out = np.zeros((gradient.n_variables * n_comp, len(sparse.numbers)))
        position = np.empty(len(X.numbers), int)     # row of each centre in its group
        for atoms, cols in self._groups(X.numbers, sparse.numbers):
            centres = np.arange(len(X.numbers))[atoms]
            position[centres] = np.arange(len(centres))
            u = X.unit[atoms] @ sparse.unit[cols].T
            _, dk = profile(u)
            a = dk / X.norm[atoms, None]                                 # k'(u)/|x|
            pairs = np.flatnonzero(np.isin(gradient.center, centres))
            local = np.repeat(position[gradient.center[pairs]], n_comp)
            T = gradient.matmul(sparse.unit[cols], pairs)               # g_p . x̂_m
            T -= u[local] * s[pairs].reshape(-1, 1)
            T *= a[local]
            out[:, cols] += gradient.sum_pairs(T, pairs)
        return out

    def derivative_prior_variance(self, X: AtomicEnvironments,
                                  gradient: DescriptorGradient) -> np.ndarray:
        """Prior variance of every derivative component, shape (n_variables * n_components,).

        :math:`\\mathrm{var}(\\partial E/\\partial q) = \\sum_{i,i'} g_i^T
        \\partial^2 k(x_i, x_{i'})/\\partial x_i\\partial x_{i'}\\, g_{i'}`, summed over the
        centres i, i' whose descriptors depend on q (and of the same element if
        ``per_species``).
        """
        profile = self._profile()
        n_comp = gradient.n_components
        out = np.zeros((gradient.n_variables, n_comp))
        order = np.argsort(gradient.variable, kind="stable")
        bounds = np.searchsorted(gradient.variable[order], np.arange(gradient.n_variables + 1))
        for t in range(gradient.n_variables):
            p = order[bounds[t] : bounds[t + 1]]
            if len(p) == 0:
                continue
            c = gradient.center[p]
            g = gradient.values[p].transpose(1, 0, 2)             # [comp, q, D]
            xh, nrm = X.unit[c], X.norm[c]
            u = xh @ xh.T                                         # [q, q]
            _, dk, d2k = profile(u, order=2)
            gx = g @ xh.T                                         # g_q . x̂_r [comp, q, r]
            gg = g @ g.transpose(0, 2, 1)                         # g_q . g_r
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
                H = H * (X.numbers[c][:, None] == X.numbers[c][None, :])[None]
            out[t] = H.sum(axis=(1, 2))
        return np.maximum(out.reshape(-1), 0.0)

    def _profile(self):
        kernel = self.environment_kernel
        if not has_profile(kernel):
            kernel.profile(np.zeros(1))          # raises the message naming the kernel
        return kernel.profile


def has_profile(kernel: Kernel) -> bool:
    """Whether ``kernel`` is a function of the normalised dot product (see
    :meth:`Kernel.profile`)."""
    try:
        kernel.profile(np.zeros(1))
    except ConfigError:
        return False
    return True


def _as_slice(index: np.ndarray):
    """``index`` as a slice when it is a contiguous range (views instead of copies)."""
    if len(index) and index[-1] - index[0] + 1 == len(index):
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def _put(target: np.ndarray, rows, cols, value: np.ndarray) -> None:
    """``target[rows, cols] = value`` for the group spanned by ``rows`` x ``cols``."""
    if isinstance(cols, slice) or isinstance(rows, slice):
        target[rows, cols] = value
    else:
        target[np.ix_(rows, cols)] = value
