"""Seeded train / validation / test splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Split:
    """Index arrays of a train / validation / test split (into the original list)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split_indices(
    n_structures: int,
    *,
    validation_fraction: float = 0.0,
    test_fraction: float = 0.2,
    n_train: int | None = None,
    seed: int = 0,
) -> Split:
    """Split ``range(n_structures)`` at random, reproducibly.

    Parameters
    ----------
    n_structures : int
        Number of structures.
    validation_fraction, test_fraction : float
        Fractions in [0, 1) held out for validation and test.
    n_train : int, optional
        Keep only this many training structures (the first after shuffling), so that
        learning curves with different sizes share their test set.
    seed : int
        Seed of the permutation; the same seed gives the same split.

    Returns
    -------
    Split
        Disjoint, sorted index arrays.
    """
    for name, value in (("validation_fraction", validation_fraction),
                        ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"'{name}' must be in [0, 1). Got {value!r} instead.")
    if validation_fraction + test_fraction >= 1.0:
        raise ConfigError(
            "'validation_fraction' + 'test_fraction' must be below 1 so that structures "
            f"are left to train on. Got {validation_fraction + test_fraction!r} instead."
        )
    order = np.random.default_rng(seed).permutation(n_structures)
    n_test = int(round(test_fraction * n_structures))
    n_val = int(round(validation_fraction * n_structures))
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    if n_train is not None:
        if not 1 <= n_train <= len(train):
            raise ConfigError(
                f"'n_train' must be in [1, {len(train)}] (the structures left after the "
                f"validation and test sets). Got {n_train!r} instead."
            )
        train = train[:n_train]
    return Split(np.sort(train), np.sort(val), np.sort(test))
