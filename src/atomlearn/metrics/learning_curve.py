"""Learning curves on a fixed held-out test set (the atomistic convention)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..errors import ConfigError
from .errors import mae, rmse


@dataclass
class LearningCurve:
    """Rows ``(n_train, repeat, target, subset, metric, value)`` and their summaries."""

    rows: list[dict] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return sorted({r["target"] for r in self.rows})

    def summary(self, target: str, metric: str = "mae", subset: str = "test"):
        """Training sizes, mean and standard deviation over repeats.

        Returns
        -------
        n_train, mean, std : numpy.ndarray
        """
        sel = [r for r in self.rows
               if r["target"] == target and r["metric"] == metric and r["subset"] == subset]
        sizes = sorted({r["n_train"] for r in sel})
        vals = [[r["value"] for r in sel if r["n_train"] == n] for n in sizes]
        return (np.array(sizes), np.array([np.mean(v) for v in vals]),
                np.array([np.std(v) for v in vals]))

    def as_arrays(self, target: str, metric: str = "mae"):
        """``(train_sizes, train_scores, test_scores)`` as scikit-learn's
        ``learning_curve`` returns them (scores of shape (n_sizes, n_repeats))."""
        sizes = sorted({r["n_train"] for r in self.rows})
        out = []
        for subset in ("train", "test"):
            out.append(np.array([[r["value"] for r in self.rows
                                  if r["n_train"] == n and r["subset"] == subset
                                  and r["target"] == target and r["metric"] == metric]
                                 for n in sizes]))
        return np.array(sizes), out[0], out[1]

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write columns ``n_train, repeat, target, subset, metric, value, unit``."""
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["n_train", "repeat", "target", "subset", "metric", "value", "unit"])
            for r in self.rows:
                w.writerow([r["n_train"], r["repeat"], r["target"], r["subset"], r["metric"],
                            f"{r['value']:.8g}", self.units.get(r["target"], "")])

    @classmethod
    def read_csv(cls, path: str | os.PathLike) -> LearningCurve:
        """A curve written by :meth:`to_csv`."""
        curve = cls()
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                curve.rows.append({"n_train": int(row["n_train"]), "repeat": int(row["repeat"]),
                                   "target": row["target"], "subset": row["subset"],
                                   "metric": row["metric"], "value": float(row["value"])})
                if row["unit"]:
                    curve.units[row["target"]] = row["unit"]
        return curve


def learning_curve(
    fit_predict: Callable[[Sequence[int]], tuple[dict, dict]],
    n_pool: int,
    *,
    train_sizes: Sequence[int],
    repeats: int = 1,
    seed: int = 0,
    reference: Callable[[str, str], np.ndarray] | None = None,
    units: dict[str, str] | None = None,
    executor=None,
) -> LearningCurve:
    """Error vs training-set size, on a fixed test set.

    Parameters
    ----------
    fit_predict : callable
        ``fit_predict(train_indices) -> (train_errors, test_errors)``, each a dict
        ``{target: (pred, ref)}``; it fits a fresh model on the given indices of the
        training pool and predicts the training subset and the fixed test set.
    n_pool : int
        Size of the training pool.
    train_sizes : sequence of int
        Training-set sizes, each at most ``n_pool``.
    repeats : int
        Random training subsets per size (different seeds).
    seed : int
        Base seed; repeat ``r`` uses ``seed + r``.
    units : dict, optional
        Unit per target, for tables and plots.
    executor : concurrent.futures.Executor, optional
        Runs the fits as tasks (``fit_predict`` must then pickle); the curve is the same.

    Returns
    -------
    LearningCurve
    """
    sizes = sorted({int(n) for n in train_sizes})
    if not sizes or sizes[0] < 1 or sizes[-1] > n_pool:
        raise ConfigError(
            f"Training sizes must be between 1 and the {n_pool} structures of the training "
            f"pool. Got {list(train_sizes)}."
        )
    curve = LearningCurve(units=dict(units or {}))
    jobs = [(n, r) for n in sizes for r in range(repeats)]
    subsets = [np.sort(np.random.default_rng(seed + r).permutation(n_pool)[:n])
               for n, r in jobs]
    results = (map(fit_predict, subsets) if executor is None
               else (f.result() for f in [executor.submit(fit_predict, idx)
                                          for idx in subsets]))
    for (n, r), (train_err, test_err) in zip(
            jobs, tqdm(results, total=len(jobs), desc="learning curve", unit="fit",
                       disable=None), strict=True):
        for subset, table in (("train", train_err), ("test", test_err)):
            for target, (pred, ref) in table.items():
                for metric, fn in (("mae", mae), ("rmse", rmse)):
                    curve.rows.append({"n_train": n, "repeat": r, "target": target,
                                       "subset": subset, "metric": metric,
                                       "value": fn(pred, ref)})
    return curve
