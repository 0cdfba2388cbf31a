"""Watching the force uncertainty along a trajectory at a fraction of its cost."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class UncertaintyWatch:
    """When to compute the force standard deviation during dynamics, and whether it
    passed its limit.

    Standard deviations cost several force evaluations, so they are computed every
    ``every`` steps while the largest stays below ``margin * limit``, and at every step
    once it is above: the uncertainty grows over many steps as a trajectory leaves the
    training data, so the run stops at the first step over ``limit``, as a check at every
    step would (``benchmarks/bench_load.py`` measures how far it grows within ``every``
    steps; ``tests/cli/test_md.py`` compares the stop step with checks at every step).

    Parameters
    ----------
    limit : float, optional
        Largest force standard deviation allowed (eV/Å); None only records it.
    every : int
        Steps between checks while far below the limit (1: every step).
    margin : float
        Share of ``limit`` above which every step is checked.
    """

    limit: float | None = None
    every: int = 10
    margin: float = 0.5
    last: float = 0.0

    def due(self, step: int) -> bool:
        """Whether the standard deviation is wanted at ``step``."""
        close = self.limit is not None and self.last > self.margin * self.limit
        return close or step % self.every == 0

    def exceeded(self, max_force_std: float) -> bool:
        """Record a check's largest force std; True when it passed the limit."""
        self.last = float(max_force_std)
        return self.limit is not None and self.last > self.limit
