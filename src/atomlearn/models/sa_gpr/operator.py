"""Operators in an atom-centred basis (Kohn-Sham Hamiltonians) by SA-GPR, block by block.

Every channel of :class:`~atomlearn.targets.operators.OperatorLayout` (on-site blocks of
one element, or blocks of one ordered pair of elements, and one (lambda, sigma)) is one
sparse symmetry-adapted GP on atom or pair lambda-SOAP of that parity, with all the shell
pairs of that (lambda, sigma) as outputs sharing kernel and noise (SALTED's design for
density coefficients, applied to matrix blocks). lambda = 0 outputs are learned about
their training mean. Features are computed chunk by chunk of structures and the fit
streams over them, so memory does not grow with the training set.

With ``orthogonal`` the matrices learned are the Löwdin-orthogonalised
:math:`S^{-1/2} H S^{-1/2}` (same block structure, same rotations): an error there moves
an eigenvalue by at most its size, while in the atomic-orbital basis the diffuse virtual
orbitals amplify block errors (their coefficients are large), which pushes the LUMO down
at second order. Predictions are returned as H in the atomic-orbital basis either way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import ase
import numpy as np
from tqdm.auto import tqdm

from ...descriptors.pair_soap import BlockFeatures, PairLambdaSoap
from ...errors import DataError
from ...gp.equivariant import SymmetryAdaptedGPR
from ...kernels import EquivariantEnvironments
from ...structures.io import where
from ...targets.operators import AtomicOrbitals, OperatorLayout, overlap_powers

log = logging.getLogger(__name__)


def _key_name(key) -> str:
    return "_".join(str(k) for k in key)


def _key_of(name: str) -> tuple:
    kind, *rest = name.split("_")
    return (kind, *(int(v) for v in rest))


class OperatorGPR:
    """Block-wise SA-GPR of an operator in an atom-centred basis.

    Parameters
    ----------
    basis : str
        PySCF's name of the basis the matrices are in.
    descriptor : PairLambdaSoap
    gpr : dict
        Options of every channel's :class:`~atomlearn.gp.equivariant.SymmetryAdaptedGPR`;
        ``sigma`` and ``delta`` are relative to each channel's rms.
    orthogonal : bool
        Learn :math:`S^{-1/2} H S^{-1/2}` (see the module docstring).
    n_candidates : int
        Structures whose blocks are the candidates of the sparse points.
    chunk_structures : int
        Structures per chunk of features.
    metric_weight : float
        With a positive weight (and ``orthogonal`` off) the channels' weights are re-solved
        jointly with this weight on the Löwdin-basis error of ``metric_structures``
        training structures (:mod:`~atomlearn.models.sa_gpr.metric`).
    metric_structures : int
    metric_iterations : int
        Iterations of that re-solve (L-BFGS; conjugate gradients for a metric with
        blocks, :mod:`~atomlearn.models.sa_gpr.metric`).
    """

    #: What the model learns (for messages).
    what = "operator"
    #: Whether the channels' factors are kept for a predictive variance.
    keeps_variance = False

    def __init__(self, basis: str, descriptor: PairLambdaSoap, gpr: dict, *,
                 orthogonal: bool = False, n_candidates: int = 100,
                 chunk_structures: int = 25, metric_weight: float = 0.0,
                 metric_structures: int = 100, metric_iterations: int = 200) -> None:
        self.basis = basis
        self.descriptor = descriptor
        self.gpr = dict(gpr)
        self.orthogonal = orthogonal
        self.n_candidates = n_candidates
        self.chunk_structures = chunk_structures
        self.metric_weight = metric_weight
        self.metric_structures = metric_structures
        self.metric_iterations = metric_iterations

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def _new_layout(orbitals: AtomicOrbitals):
        return OperatorLayout(orbitals)

    def _layout(self, numbers):
        if not hasattr(self, "layout_"):
            self.layout_ = self._new_layout(AtomicOrbitals.from_pyscf(self.basis, numbers))
        missing = sorted({int(z) for z in numbers} - set(self.layout_.orbitals.shells))
        if missing:
            raise DataError(f"The {self.what} model knows the {self.basis} shells of elements "
                            f"{sorted(self.layout_.orbitals.shells)}; got {missing}. Refit "
                            "with these elements in the training set.")
        return self.layout_

    def _feature_keys(self, keys) -> list[tuple]:
        """Features of the channels ``keys``: their (lambda, sigma) and the invariants of
        their kind (atoms, pairs) for the kernel's scalar factor."""
        return sorted({(k[0], *k[-2:]) for k in keys} | {(k[0], 0, 1) for k in keys})

    def metric(self, structures):
        """The metric of a joint re-solve on ``structures``
        (:mod:`~atomlearn.models.sa_gpr.metric`): the Löwdin-basis error."""
        from .metric import LowdinMetric

        return LowdinMetric(structures, self.basis)

    def _environments(self, features: dict, layout, structures, key
                      ) -> EquivariantEnvironments:
        samples = layout.samples([a.numbers for a in structures], key)
        x = features[(key[0], *key[-2:])].rows(samples.structure, samples.first,
                                                samples.second)
        x0 = features[(key[0], 0, 1)].rows(samples.structure, samples.first,
                                            samples.second)[:, 0, :]
        n = len(x)
        return EquivariantEnvironments(x, x0, np.full(n, key[1]), np.arange(n), n)

    def _learned(self, structures, matrices: np.ndarray) -> np.ndarray:
        """The matrices as learned (orthogonalised with ``orthogonal``)."""
        if not self.orthogonal:
            return matrices
        X = overlap_powers(structures, self.basis, -0.5)
        return np.stack([x @ m @ x for x, m in zip(X, matrices, strict=True)])

    def _channels(self, structures, matrices) -> dict:
        """Training targets of every channel, structures grouped by their atoms."""
        layout = self._layout(np.concatenate([a.numbers for a in structures]))
        out: dict = {}
        for numbers, rows in _groups(structures):
            for key, values in layout.decompose(matrices[rows], numbers).items():
                out.setdefault(key, []).append((rows, values))
        return out

    # -- fitting ----------------------------------------------------------------------
    def fit(self, structures: Sequence[ase.Atoms], matrices: np.ndarray) -> OperatorGPR:
        """Fit to the matrices ``(n, n_ao, n_ao)`` (PySCF's AO order) of ``structures``:
        channel by channel, then (``metric_weight``) jointly in the Löwdin metric."""
        structures = list(structures)
        matrices = self._learned(structures, np.asarray(matrices, float))
        self.fit_channels(structures, matrices)
        if self.metric_weight > 0 and not self.orthogonal:
            from .metric import refine_in_metric

            rng = np.random.default_rng(self.gpr.get("random_state", 0) + 1)
            chosen = np.sort(rng.permutation(len(structures))[: self.metric_structures])
            self.metric_report_ = refine_in_metric(
                self, [structures[i] for i in chosen], matrices[chosen],
                weight=self.metric_weight, max_iter=self.metric_iterations)
        for gpr in self.models_.values():    # what predictions do not need
            del gpr.factor_, gpr.K_MM_
            gpr.solution_.R_S = None
        return self

    def fit_channels(self, structures: list, matrices: np.ndarray) -> OperatorGPR:
        """Every channel's GP on its own (matrices as learned); their factors are kept
        for a joint re-solve."""
        layout = self._layout(np.concatenate([a.numbers for a in structures]))
        numbers = [a.numbers for a in structures]
        targets, starts = {}, {}
        for key, parts in self._channels(structures, matrices).items():
            samples = layout.samples(numbers, key)
            starts[key] = np.searchsorted(samples.structure, np.arange(len(structures) + 1))
            targets[key] = _in_sample_order(parts, starts[key])
        self.offsets_, self.models_ = {}, {}
        for key, y in targets.items():
            self.offsets_[key] = y.mean(axis=0) if key[-2] == 0 else np.zeros(y.shape[1:])
        # channels that vanish identically (the antisymmetric on-site parts of a local
        # potential) stay zero instead of fitting rounding noise
        spread = {key: float(np.sqrt(np.mean((y - self.offsets_[key]) ** 2)))
                  for key, y in targets.items()}
        self.zero_ = sorted(k for k, v in spread.items() if v <= 1e-10 * max(spread.values()))
        targets = {k: y for k, y in targets.items() if k not in self.zero_}
        fkeys = self._feature_keys(targets)
        rng = np.random.default_rng(self.gpr.get("random_state", 0))
        chosen = np.sort(rng.permutation(len(structures))[: self.n_candidates])
        candidates = [structures[i] for i in chosen]
        features = self.descriptor.compute_blocks(candidates, fkeys)
        for key, y in targets.items():
            gpr = SymmetryAdaptedGPR(**{**self.gpr, "sigma": self.gpr["sigma"] * spread[key],
                                        "delta": self.gpr["delta"] * spread[key]})
            self.models_[key] = gpr.start(self._environments(features, layout, candidates,
                                                             key), y.shape[2])
        del features
        chunks = range(0, len(structures), self.chunk_structures)
        for start in tqdm(chunks, desc="operator blocks", unit="chunk", disable=None,
                          leave=False):
            part = structures[start: start + self.chunk_structures]
            features = self.descriptor.compute_blocks(part, fkeys)
            for key, gpr in self.models_.items():
                rows = slice(starts[key][start], starts[key][start + len(part)])
                gpr.add(self._environments(features, layout, part, key),
                        targets[key][rows] - self.offsets_[key])
        for key, gpr in self.models_.items():
            gpr.finish()
            if not self.keeps_variance:     # its factors are most of the memory
                gpr.solution_.L = gpr.solution_.R = None
            log.debug("%s channel %s: %d sparse, delta %.3g, sigma %.3g", self.what, key,
                      len(gpr.sparse_.numbers), gpr.delta_, gpr.sigma_)
        return self

    # -- prediction -------------------------------------------------------------------
    def predict(self, structures: Sequence[ase.Atoms], return_std: bool = False):
        """Matrices ``(n, n_ao, n_ao)`` of ``structures`` (all with the same number of
        basis functions), in the unit of the training matrices, PySCF's AO order (for a
        density: coefficients ``(n, n_coefficients)``); with ``return_std`` (models that
        keep their channels' factors) also the std of every element from its channel's
        posterior."""
        if return_std and not self.keeps_variance:
            raise ValueError(f"This {self.what} model keeps no predictive variance.")
        structures = list(structures)
        layout = self._layout(np.concatenate([a.numbers for a in structures]))
        sizes = {sum(layout.orbitals.n_functions(int(z)) for z in a.numbers)
                 for a in structures}
        if len(sizes) > 1:
            raise DataError(f"Predicted {self.what}s are stacked: give structures with the "
                            f"same number of basis functions (got {sorted(sizes)}).")
        out = std = None
        for start in range(0, len(structures), self.chunk_structures):
            part = structures[start: start + self.chunk_structures]
            for numbers, rows, envs in self.channel_environments(part, first=start):
                parts, variances = {}, {}
                for key, env in envs.items():
                    mean = self.models_[key].predict(env, return_cov=return_std)
                    if return_std:    # the same covariance for every output
                        mean, cov = mean
                        variances[key] = np.broadcast_to(
                            np.diagonal(cov, axis1=1, axis2=2)[:, :, None], mean.shape)
                    parts[key] = mean + self.offsets_[key]
                H = layout.assemble(parts, numbers, len(rows))
                if out is None:
                    out = np.empty((len(structures), *H.shape[1:]))
                    std = np.empty_like(out) if return_std else None
                out[start + rows] = H
                if return_std:
                    std[start + rows] = np.sqrt(np.maximum(
                        layout.assemble(variances, numbers, len(rows)), 0.0))
        out = self._unlearned(structures, out)
        return (out, std) if return_std else out

    def channel_environments(self, structures: list, first: int = 0) -> list:
        """``(numbers, rows, {key: environments})`` of every group of ``structures`` with
        the same atoms, for every channel that is not zero (``first``: the index of
        ``structures[0]`` in the caller's list, for messages)."""
        layout = self.layout_
        features = self.descriptor.compute_blocks(structures,
                                                  self._feature_keys(self.models_))
        out = []
        for numbers, rows in _groups(structures):
            subset = [structures[i] for i in rows]
            sub_features = {k: _subset(f, rows) for k, f in features.items()}
            envs = {}
            for key in layout.keys(numbers):
                if key in self.zero_:
                    continue
                if key not in self.models_:
                    raise DataError(
                        f"{where(subset[0], first + int(rows[0]))} has blocks "
                        f"{key[:-2]} of (lambda, sigma) = {key[-2:]} that no training "
                        "structure had; refit with such structures.")
                envs[key] = self._environments(sub_features, layout, subset, key)
            out.append((numbers, rows, envs))
        return out

    def _unlearned(self, structures, matrices: np.ndarray) -> np.ndarray:
        if not self.orthogonal:
            return matrices
        Y = overlap_powers(structures, self.basis, 0.5)
        return np.stack([y @ m @ y for y, m in zip(Y, matrices, strict=True)])

    # -- state ------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        arrays, fitted = {}, {"shells": {str(z): list(s) for z, s in
                                         self.layout_.orbitals.shells.items()},
                              "channels": {}}
        for key, m in self.models_.items():
            p = f"operator/{_key_name(key)}/"
            sol = m.solution_
            arrays.update({p + "values": m.sparse_.values, p + "scalar": m.sparse_.scalar,
                           p + "weights": sol.weights, p + "offset": self.offsets_[key]})
            if sol.L is not None:
                arrays.update({p + "L": sol.L, p + "R": sol.R})
            fitted["channels"][_key_name(key)] = {"delta": m.delta_, "sigma": m.sigma_}
        fitted["zero_channels"] = [_key_name(k) for k in self.zero_]
        return fitted, arrays

    def restore(self, fitted: dict, arrays: dict) -> OperatorGPR:
        from ...gp.solver import SparseSolution

        shells = {int(z): tuple(s) for z, s in fitted["shells"].items()}
        self.layout_ = self._new_layout(AtomicOrbitals(self.basis, shells))
        self.models_, self.offsets_ = {}, {}
        self.zero_ = [_key_of(name) for name in fitted["zero_channels"]]
        for name, info in fitted["channels"].items():
            key, p = _key_of(name), f"operator/{name}/"
            m = SymmetryAdaptedGPR(zeta=self.gpr["zeta"])
            values = arrays[p + "values"]
            m.sparse_ = EquivariantEnvironments(values, arrays[p + "scalar"],
                                                np.full(len(values), key[1]),
                                                np.arange(len(values)), len(values))
            m.o3_lambda = key[-2]
            m.delta_, m.sigma_ = float(info["delta"]), float(info["sigma"])
            m.solution_ = SparseSolution(arrays[p + "weights"], arrays.get(p + "L"),
                                         arrays.get(p + "R"), 0.0)
            self.models_[key] = m
            self.offsets_[key] = arrays[p + "offset"]
        return self


def _groups(structures) -> list[tuple[np.ndarray, np.ndarray]]:
    """Structures with the same atoms in the same order: ``(numbers, rows)``."""
    groups: dict[tuple, list[int]] = {}
    for k, a in enumerate(structures):
        groups.setdefault(tuple(int(z) for z in a.numbers), []).append(k)
    return [(np.array(z), np.array(rows)) for z, rows in groups.items()]


def _in_sample_order(parts, starts: np.ndarray) -> np.ndarray:
    """A channel's targets from its groups of structures, in the order of
    :meth:`OperatorLayout.samples` (structure ``s`` at rows ``starts[s]:starts[s+1]``)."""
    out = np.empty((starts[-1], *parts[0][1].shape[1:]))
    for rows, values in parts:
        per = len(values) // len(rows)
        for r, s in enumerate(rows):
            out[starts[s]:starts[s + 1]] = values[r * per:(r + 1) * per]
    return out


def _subset(features: BlockFeatures, rows: np.ndarray) -> BlockFeatures:
    """The features of structures ``rows`` of a chunk, renumbered 0..len(rows)-1."""
    lookup = np.full(int(features.structure.max(initial=-1)) + 1, -1)
    lookup[rows] = np.arange(len(rows))
    keep = lookup[features.structure] >= 0 if len(features.structure) else np.zeros(0, bool)
    return BlockFeatures(features.values[keep], lookup[features.structure[keep]],
                         features.first[keep], features.second[keep])


__all__ = ["OperatorGPR"]
