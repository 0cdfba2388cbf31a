"""Memory of a sparse GPR fit: an estimate before it starts, and a guard."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import ase
import numpy as np

from ...errors import ConfigError
from ...gp.selection import sparse_counts

log = logging.getLogger(__name__)

#: At most this much memory (and a quarter of what is free) keeps the spherical
#: expansions of the selection pass for the kernel-row pass.
EXPANSION_CACHE = 2**30

#: Bytes of power-spectrum position gradients built at a time for force uncertainties.
STD_CHUNK = 2**27


def gradient_pairs(structures: Sequence[ase.Atoms]) -> int:
    """Estimated (centre, neighbour) gradient pairs: every atom within the cutoff of
    another, at most 60 neighbours each."""
    return sum(min(len(a), 60) * len(a) for a in structures)


def expansion_bytes(structures, n_species: int, n_max: int, l_max: int) -> float:
    """Size of the spherical expansions of ``structures`` with position gradients."""
    L1 = l_max + 1
    atoms = sum(len(a) for a in structures)
    return 8.0 * (atoms * n_species * L1 * (2 * L1 - 1) * n_max
                  + gradient_pairs(structures) * 3 * n_max * L1**2)


def fit_bytes(structures, *, n_sparse, n_max: int, l_max: int, chunk_size: int,
              with_forces: bool) -> float:
    """Estimated peak memory of a fit in bytes: the dominant arrays plus what the process
    already holds (interpreter, libraries, data)."""
    numbers = np.concatenate([a.numbers for a in structures])
    M = sum(sparse_counts(numbers, n_sparse, report=False).values())
    n_species = len({int(z) for a in structures for z in a.numbers})
    D = n_species * (n_species + 1) // 2 * n_max**2 * (l_max + 1)
    n_atoms = sum(len(a) for a in structures)
    chunk = structures[:chunk_size]
    chunk_atoms = sum(len(a) for a in chunk)
    pairs = gradient_pairs(chunk) if with_forces else 0
    floats = (8 * M * M                 # K_MM, A_E, A_F, Ã, L, R and solver temporaries
              + n_atoms * D             # all training descriptors (sparse selection)
              + M * D                   # sparse environments
              + 3 * pairs * D * 2.5     # featomic gradients, dense copy, stacked view
              + 3 * pairs * M * 2       # derivative rows before and after summation
              + chunk_atoms * D * 2)
    return 8.0 * floats + resident_memory()


def task_bytes(chunk: Sequence[ase.Atoms], *, n_sparse: int, n_features: int,
               with_forces: bool, resident: float) -> float:
    """Estimated peak memory of one task of a tree fit in bytes: its two triangles (values
    and forces, (M+1)^2 each, updated in place), one chunk's rows and descriptors, the
    sparse environments it receives (and their serialized copy while they travel to or
    from a worker), and ``resident``, what the worker holds before it."""
    M, D = n_sparse, n_features
    atoms = sum(len(a) for a in chunk)
    pairs = gradient_pairs(chunk) if with_forces else 0
    rows = len(chunk) + 3 * atoms * with_forces
    floats = (2 * (M + 1) ** 2         # value and force triangles
              + 2 * M * D              # sparse environments, and their copy in transit
              + rows * (M + 1) * 2     # the chunk's rows and their noise-scaled copy
              + 3 * pairs * D * 2.5    # featomic gradients, dense copy, stacked view
              + 3 * pairs * M * 2      # derivative rows before and after summation
              + atoms * D * 2)
    return 8.0 * floats + resident


def worker_resident() -> float:
    """Resident memory of a worker once it has loaded what a fit's task runs (a task)."""
    from . import equations  # noqa: F401  (featomic, the kernels)

    return resident_memory()


def worker_limit(executor) -> float:
    """Memory one worker of ``executor`` may use, in bytes: a dask worker's memory limit,
    a local pool's share of what is available (inf where unknown)."""
    client = getattr(executor, "_client", None)
    if client is not None:
        limits = [w.get("memory_limit") or float("inf")
                  for w in client.scheduler_info()["workers"].values()]
        return float(min(limits, default=float("inf")))
    workers = int(getattr(executor, "_max_workers", 1) or 1)
    return available_memory() / workers


def predict_bytes(structures, *, n_sparse: int, n_features: int, n_species: int, n_max: int,
                  l_max: int, chunk_size: int, forces: bool, std: bool) -> float:
    """Estimated peak memory of a prediction in bytes: its largest chunk of structures
    (expansions with gradients, kernel rows, the force-std work in ranges of atoms) plus
    what the process already holds."""
    worst = 0.0
    for a in range(0, len(structures), chunk_size):
        chunk = structures[a : a + chunk_size]
        atoms = sum(len(s) for s in chunk)
        floats = atoms * (n_features + n_sparse) * 2.0
        need = 8.0 * floats + (expansion_bytes(chunk, n_species, n_max, l_max) if forces
                               else 0.0)
        if forces and std:
            need += STD_CHUNK + 8.0 * 2 * 3 * atoms * n_sparse
        worst = max(worst, need)
    return worst + resident_memory()


def check_memory(need: float, limit_gb: float | None, what: str, advice: str, *,
                 level: int = logging.INFO) -> None:
    """Log the estimate; refuse when it exceeds ``limit_gb`` (default: what is free)."""
    limit = limit_gb * 2**30 if limit_gb is not None else available_memory()
    log.log(level, "estimated peak memory of the %s: %.2f GB (available %.1f GB)", what,
             need / 2**30, limit / 2**30)
    if need > limit:
        raise ConfigError(
            f"The {what} needs about {need / 2**30:.1f} GB but {limit / 2**30:.1f} GB is "
            f"available. {advice}")


def resident_memory() -> float:
    """Resident memory of this process in bytes (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm") as fh:
            return float(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return 0.0


def available_memory() -> float:
    """Memory the system has available, in bytes (inf where unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return float("inf")
