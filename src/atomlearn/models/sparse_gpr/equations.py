"""Kernel rows of the sparse GPR potential and the triangular factors they reduce to.

Rows are built with the unit-amplitude kernel (:math:`\\delta = 1`) and unit noise, one
QR factor per observation type (target values, forces, stress;
:class:`~atomlearn.gp.factor.RowFactor`), so the prior scale and the noise levels
recombine at O(M^3) (:meth:`ObservationTerms.solve`), every hyperparameter trial reuses one
pass over the data, and the condition number of the rows is never squared.
"""

from __future__ import annotations

import operator
import pickle
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ...descriptors import SoapPowerSpectrum
from ...errors import ConfigError
from ...gp.factor import FactoredSolution, RowFactor, solve_factored
from ...kernels import AtomicEnvironments, AtomSumKernel
from ...targets import Dataset, TargetSpec

#: Voigt order of the six independent stress components (xx, yy, zz, yz, xz, xy).
VOIGT = [0, 4, 8, 5, 2, 1]


@dataclass
class ObservationTerms:
    """Triangular factors of each observation type with a unit-amplitude kernel.

    Attributes
    ----------
    K_MM : numpy.ndarray of shape (M, M)
    values : RowFactor
        Target rows with noise :math:`n_{atoms}` for extensive targets (the noise
        :math:`\\sigma^2 n_{atoms}` with :math:`\\sigma` folded out), 1 otherwise.
    forces, stress : RowFactor
        Force and stress rows, unit noise.
    sigma_stress : float
        Stress noise (not searched).
    """

    K_MM: np.ndarray
    values: RowFactor
    forces: RowFactor
    stress: RowFactor
    sigma_stress: float = 1.0

    def __add__(self, other: ObservationTerms) -> ObservationTerms:
        """Terms of the union of two disjoint sets of observations."""
        return ObservationTerms(self.K_MM, self.values + other.values,
                                self.forces + other.forces, self.stress + other.stress,
                                self.sigma_stress)

    def types(self, sigma: float, sigma_forces: float) -> list[tuple[RowFactor, float]]:
        """``(factor, noise)`` of every observation type."""
        return [(self.values, sigma), (self.forces, sigma_forces),
                (self.stress, self.sigma_stress)]

    def solve(self, delta: float, sigma: float, sigma_forces: float, jitter: float
              ) -> FactoredSolution:
        """The fit for prior scale ``delta`` and noises ``sigma``, ``sigma_forces`` (the
        kernel is :math:`\\delta^2` times the unit one; ``jitter`` relative to it)."""
        return solve_factored(self.K_MM, self.types(sigma, sigma_forces), delta, jitter)


@dataclass
class KeptRows:
    """Rows of some observations kept for predictions (validation searches)."""

    values: np.ndarray          # [n_rows, M] unit-kernel rows
    values_y: np.ndarray        # [n_rows] or [n_rows, T]
    values_scale: np.ndarray    # [n_rows] n_atoms (extensive) or 1
    values_prior: np.ndarray    # [n_rows] prior variance of the unit kernel
    forces: np.ndarray | None   # [n_force_rows, M]
    forces_y: np.ndarray | None
    forces_prior: np.ndarray | None
    forces_rows: np.ndarray | None   # which rows of the (n_atoms * 3) forces they are


class KernelRows:
    """Builds rows of :math:`K_{NM}` for chunks of structures.

    Parameters
    ----------
    descriptor : SoapPowerSpectrum
    kernel : AtomSumKernel
        Unit-amplitude structure kernel.
    chunk_size : int
        Structures per chunk.
    task_rows : int, optional
        Rows per task of a tree fit (see :func:`task_ranges`).
    """

    def __init__(self, descriptor: SoapPowerSpectrum, kernel: AtomSumKernel,
                 chunk_size: int, task_rows: int | None = None) -> None:
        self.descriptor = descriptor
        self.kernel = kernel
        self.chunk_size = chunk_size
        self.task_rows = task_rows
        # spherical expansions with position gradients kept from the selection pass for
        # the row pass (featomic then runs once per frame); keyed by the chunk's frames
        self.expansions: dict[tuple[int, ...], object] = {}

    def chunks(self, structures: Sequence, desc: str):
        starts = range(0, len(structures), self.chunk_size)
        for a in tqdm(starts, desc=desc, unit="chunk", disable=None, leave=False):
            yield a, structures[a : a + self.chunk_size]

    def environments(self, structures, gradients=()) -> tuple[AtomicEnvironments, object]:
        """Environments of ``structures`` and their features (with ``gradients``)."""
        cached = None
        if tuple(gradients) == ("positions",):
            cached = self.expansions.pop(_chunk_key(structures), None)
        f = (self.descriptor.features(cached) if cached is not None
             else self.descriptor.compute(structures, gradients=gradients))
        return AtomicEnvironments.from_values(f.values, f.numbers, f.structure_index,
                                              len(structures)), f

    def all_environments(self, groups: Sequence[Sequence], keep_gradients: Sequence | None
                         ) -> AtomicEnvironments:
        """Every environment of the groups of structures, in order (the selection pass
        needs values only). With ``keep_gradients`` (a mask of structures per group),
        their spherical expansions with position gradients are computed here and kept for
        the row pass, which chunks each group (training, held-out) the same way."""
        self.expansions = {}
        parts = []
        for g, structures in enumerate(groups):
            for a, chunk in self.chunks(structures, "SOAP"):
                grads = (("positions",) if keep_gradients is not None
                         and np.any(keep_gradients[g][a : a + len(chunk)]) else ())
                exp = self.descriptor.expand(chunk, gradients=grads)
                if grads:
                    self.expansions[_chunk_key(chunk)] = exp
                parts.append(AtomicEnvironments.from_values(exp.values, exp.numbers,
                                                            exp.structure_index, len(chunk)))
        return AtomicEnvironments.concatenate(parts)

    def chunk_rows(self, data: Dataset, spec: TargetSpec, sparse: AtomicEnvironments,
                   prior: bool = False):
        """Yield the unit-kernel rows of each chunk of ``data``: ``(values, forces)`` with
        ``values = (K, y, noise_scale, prior_variance)`` (noise :math:`n_{atoms}` for
        extensive targets, else 1; prior only with ``prior``) and ``forces = (rows, y,
        prior_variance, row_indices)`` or None (labelled force components only)."""
        kernel = self.kernel
        y = data.labels[spec.name]
        y = y.reshape(len(y), -1) if spec.shape else y         # spectra: one solve
        offsets = data.offsets
        with_forces = data.has_gradient("forces") if "forces" in spec.gradients else None
        for a, chunk in self.chunks(data.structures, "kernel rows"):
            b = a + len(chunk)
            need = with_forces is not None and with_forces[a:b].any()
            env, f = self.environments(chunk, ("positions",) if need else ())
            if spec.per_atom:
                K = kernel.environment_values(env, sparse)
                rows_y, scale = y[offsets[a] : offsets[b]], np.ones(len(env.numbers))
                p = kernel.environment_kernel.profile(np.ones(len(env.numbers)))[0]
            else:
                K = kernel.rows(env, sparse)
                rows_y = y[a:b]
                scale = (data.n_atoms[a:b].astype(float) if spec.extensive
                         else np.ones(b - a))
                p = kernel.diag(env) if prior else None
            forces = None
            if need:            # forces only come with a per-structure scalar: one column
                rows = -kernel.derivative_rows(env, sparse, f.positions)
                mask = np.repeat(with_forces[a:b], data.n_atoms[a:b] * 3)
                fy = data.labels["forces"][offsets[a] : offsets[b]].reshape(-1)
                fp = (kernel.derivative_prior_variance(env, f.positions)[mask] if prior
                      else None)
                forces = (rows[mask], fy[mask], fp, np.flatnonzero(mask) + 3 * int(offsets[a]))
            yield (K, rows_y, scale, p), forces

    def accumulate(self, data: Dataset, spec: TargetSpec, sparse: AtomicEnvironments,
                   sigma_stress: float, keep: bool = False, executor=None
                   ) -> tuple[ObservationTerms, KeptRows | None]:
        """Factors of the labels of ``data`` (and their rows with ``keep``); with an
        ``executor`` (and without ``keep``) each chunk's factors are built by a task and
        merged in a fixed binary tree ordered by chunk index (a tall-skinny QR: the same
        result for any number of workers; only (M+1)-square triangles travel)."""
        if executor is not None and not keep:
            return self._accumulate_tree(data, spec, sparse, sigma_stress, executor), None
        kept = ({k: [] for k in ("K", "y", "s", "p", "F", "Fy", "Fp", "Fr")} if keep
                else None)
        values, forces, stress = self.factors(data, spec, sparse, kept)
        terms = ObservationTerms(self.kernel.environment_values(sparse, sparse), values,
                                 forces, stress, sigma_stress)
        if not keep:
            return terms, None
        cat = {k: (np.concatenate(v) if v else None) for k, v in kept.items()}
        return terms, KeptRows(cat["K"], cat["y"], cat["s"], cat["p"], cat["F"], cat["Fy"],
                               cat["Fp"], cat["Fr"])

    def factors(self, data: Dataset, spec: TargetSpec, sparse: AtomicEnvironments,
                kept: dict | None = None) -> tuple[RowFactor, RowFactor, RowFactor]:
        """The factors of the value, force and stress rows of ``data``; the rows are
        appended to ``kept`` when given (held-out structures, for predictions)."""
        M = len(sparse.numbers)
        columns = int(np.prod(spec.shape)) if spec.shape else None
        values, forces = RowFactor.zeros(M, columns), RowFactor.zeros(M, columns)
        for (K, rows_y, scale, prior), force_rows in self.chunk_rows(
                data, spec, sparse, prior=kept is not None):
            values.add(K, rows_y, scale)
            if force_rows is not None:
                forces.add(force_rows[0], force_rows[1], np.ones(len(force_rows[1])))
            if kept is not None:
                for key, value in zip("Kysp", (K, rows_y, scale, prior), strict=True):
                    kept[key].append(value)
                if force_rows is not None:
                    for key, value in zip(("F", "Fy", "Fp", "Fr"), force_rows, strict=True):
                        kept[key].append(value)
        return values, forces, self.stress_equations(data, spec, sparse, columns)

    def _accumulate_tree(self, data: Dataset, spec: TargetSpec, sparse: AtomicEnvironments,
                         sigma_stress: float, executor) -> ObservationTerms:
        self.expansions = {}
        tasks = fit_tasks(data, spec, len(sparse.numbers), self.chunk_size, self.task_rows)
        client = getattr(executor, "_client", None)
        if client is not None:
            # what every task shares goes to the cluster once, as a task's result (data
            # scattered to a worker dies with it; a result dask computes again); each
            # task's structures travel in its call, pickled, so that they arrive as
            # aligned copies rather than views into dask's message buffers
            shared = client.submit(pickle.loads, pickle.dumps((self, spec, sparse)),
                                   pure=False)
            calls = [(_shared_chunk_factors, shared, pickle.dumps(data.subset(np.arange(a, b))))
                     for a, b in tasks]
        else:
            calls = [(_chunk_factors, self, data.subset(np.arange(a, b)), spec, sparse)
                     for a, b in tasks]
        total = TreeSum(_merge)
        for k, part in _in_flight(executor, calls, desc="kernel rows (tasks)"):
            total.add(k, part)
        parts = total.result()
        values, forces, stress = (part.square() for part in parts)
        return ObservationTerms(self.kernel.environment_values(sparse, sparse), values,
                                forces, stress, sigma_stress)

    def stress_rows(self, data: Dataset, spec: TargetSpec, sparse: AtomicEnvironments):
        """Yield ``(rows, y)`` of :math:`V^{-1}\\partial E/\\partial\\epsilon_{ab}` of each
        chunk of the labelled periodic cells (xx, yy, zz, yz, xz, xy), from featomic's
        strain gradients."""
        if "stress" not in spec.gradients:
            return
        cells = np.flatnonzero(data.has_gradient("stress"))
        for a in range(0, len(cells), self.chunk_size):
            chunk = cells[a : a + self.chunk_size]
            structures = [data.structures[i] for i in chunk]
            env, f = self.environments(structures, ("strain",))
            rows = self.kernel.derivative_rows(env, sparse, f.strain).reshape(len(chunk), 9, -1)
            volumes = np.array([s.get_volume() for s in structures])
            rows = (rows[:, VOIGT] / volumes[:, None, None]).reshape(len(chunk) * 6, -1)
            y = data.labels["stress"][chunk].reshape(len(chunk), 9)[:, VOIGT].reshape(-1)
            yield rows, y

    def stress_equations(self, data: Dataset, spec: TargetSpec, sparse: AtomicEnvironments,
                         columns: int | None = None) -> RowFactor:
        """The factor of :meth:`stress_rows`."""
        eq = RowFactor.zeros(len(sparse.numbers), columns)
        for rows, y in self.stress_rows(data, spec, sparse):
            eq.add(rows, y, np.ones(len(y)))
        return eq


def _chunk_factors(rows: KernelRows, data: Dataset, spec: TargetSpec,
                   sparse: AtomicEnvironments) -> tuple[RowFactor, RowFactor, RowFactor]:
    """One task of a tree fit: the factors of its structures' rows, chunk by chunk (runs
    on a worker; only the rows that can be nonzero travel back)."""
    rows.expansions = {}
    return tuple(f.compact() for f in rows.factors(data, spec, sparse))


def _merge(a: tuple, b: tuple) -> tuple:
    """Two tasks' factors merged, type by type (values, forces, stress), into ``a``'s (a
    partial sum of the tree, used once)."""
    for x, y in zip(a, b, strict=True):
        x += y
    return a


def _shared_chunk_factors(shared: tuple, subset: bytes):
    """:func:`_chunk_factors` of a dask task: the shared inputs and this task's pickled
    structures."""
    rows, spec, sparse = shared
    return _chunk_factors(rows, pickle.loads(subset), spec, sparse)


def observation_rows(data: Dataset, spec: TargetSpec) -> np.ndarray:
    """Rows each structure of ``data`` adds to the fit (its value, its force components,
    its stress)."""
    rows = np.ones(data.n_structures, int)
    if "forces" in spec.gradients:
        rows += 3 * np.diff(data.offsets) * data.has_gradient("forces")
    if "stress" in spec.gradients:
        rows += 6 * data.has_gradient("stress")
    return rows


def fit_tasks(data: Dataset, spec: TargetSpec, n_sparse: int, chunk_size: int,
              task_rows: int | None = None) -> list[tuple[int, int]]:
    """:func:`task_ranges` of a fit's structures with ``n_sparse`` sparse points
    (``task_rows`` by default twice the triangle's width, M + 1)."""
    return task_ranges(observation_rows(data, spec), task_rows or 2 * (n_sparse + 1),
                       chunk_size)


def task_ranges(rows: np.ndarray, task_rows: int, chunk_size: int) -> list[tuple[int, int]]:
    """Structures ``[a, b)`` of each task of a tree fit: whole chunks until the task has
    at least ``task_rows`` rows (by default twice the triangle's width, so that a merge of
    two triangles, 2/3 width^3 flops, costs a sixth of a task's 4 width^3). The split
    depends on the data alone, so every worker count gives the same tree and result."""
    out, start, count = [], 0, 0
    for a in range(0, len(rows), chunk_size):
        b = min(a + chunk_size, len(rows))
        count += int(rows[a:b].sum())
        if count >= task_rows:
            out.append((start, b))
            start, count = b, 0
    if start < len(rows):
        out.append((start, len(rows)))
    return out


def _in_flight(executor, tasks: list[tuple], desc: str):
    """Yield ``(k, result)`` of each task ``(fn, *args)`` as it completes, with at most
    twice as many submitted as the workers run at once (bounding what waits in memory).
    A local process pool whose worker died cannot go on: say so."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from ...executors import slots

    width = 2 * slots(executor)
    pending = list(reversed(list(enumerate(tasks))))
    running: dict = {}
    with tqdm(total=len(tasks), desc=desc, unit="task", disable=None, leave=False) as bar:
        while pending or running:
            while pending and len(running) < width:
                k, (fn, *args) = pending.pop()
                running[executor.submit(fn, *args)] = k
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                k = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise ConfigError(
                        f"A worker of the process pool died during task {k} of {len(tasks)} "
                        "(out of memory, or killed). A process pool cannot replace it: use "
                        "'--executor dask', whose workers are restarted and their tasks "
                        "retried, or smaller chunks ('model.chunk_size').") from None
                bar.update(1)
                yield k, result


class TreeSum:
    """``parts[0] + parts[1] + ...`` in the fixed binary tree of :func:`tree_sum`, merged
    as the parts arrive in any order: only the partial sums of the tree's open levels
    (and parts that arrived early) are held.

    Parameters
    ----------
    merge : callable, optional
        ``merge(left, right)`` (default ``left + right``; a fit merges in place).
    """

    def __init__(self, merge=operator.add) -> None:
        self._merge = merge
        self._waiting: dict[int, object] = {}
        self._next = 0
        self._stack: list[tuple[int, object]] = []        # (level, partial sum)

    def add(self, k: int, part) -> None:
        """Part ``k`` (0, 1, 2, ... each once)."""
        self._waiting[k] = part
        while self._next in self._waiting:
            node, level = self._waiting.pop(self._next), 0
            self._next += 1
            # neighbours of one level merge into the next level up
            while self._stack and self._stack[-1][0] == level:
                node, level = self._merge(self._stack.pop()[1], node), level + 1
            self._stack.append((level, node))

    def result(self):
        """The sum of all parts added (the tree's last, uneven levels merged right to
        left, as :func:`tree_sum` carries an odd part up)."""
        if self._waiting or not self._stack:
            raise ValueError(f"parts missing before {min(self._waiting, default=0)}")
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = self._merge(left, node)
        return node


def tree_sum(parts: list):
    """``parts[0] + parts[1] + ...`` as a fixed binary tree: pairs of neighbours, then
    pairs of pairs (the same grouping whatever ran where)."""
    while len(parts) > 1:
        parts = [parts[k] + parts[k + 1] if k + 1 < len(parts) else parts[k]
                 for k in range(0, len(parts), 2)]
    return parts[0]


def _chunk_key(structures) -> tuple[int, ...]:
    return tuple(id(a) for a in structures)
