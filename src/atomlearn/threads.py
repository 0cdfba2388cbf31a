"""Thread counts of BLAS (OpenBLAS/MKL through threadpoolctl), PyTorch and featomic, set
in one place.

On a shared machine, threading costs more than it gains where another process holds a
core: OpenBLAS's threads spin-wait for the busy core (an ethanol fit took 285 s with two
threads beside another job, 29 s with one). So the default is the cores this process may
use *that are idle* when it starts (sampled from ``/proc/stat``), and small products
(an MD step, a per-structure prediction) always run on one thread, where threading only
costs. ``--threads N`` on every command, or ``ATOMLEARN_THREADS=N``, overrides it.
Results do not depend on the thread count beyond round-off: the GP solves are QR
factorisations that do not square the condition number, so no search amplifies it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

log = logging.getLogger(__name__)

#: Environment variable that sets the thread count (as ``--threads``).
ENV = "ATOMLEARN_THREADS"
_state: dict = {"threads": None, "why": "", "controller": None}


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):      # pragma: no cover - not Linux
        return os.cpu_count() or 1


def idle_cores(sample: float = 0.1) -> float:
    """Cores idle over ``sample`` seconds (from ``/proc/stat``; all cores where unknown)."""
    def read():
        with open("/proc/stat") as fh:
            fields = [float(x) for x in fh.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)        # idle + iowait, total

    try:
        idle0, total0 = read()
        time.sleep(sample)
        idle1, total1 = read()
    except (OSError, ValueError, IndexError):       # pragma: no cover - not Linux
        return float(available_cores())
    if total1 <= total0:
        return float(available_cores())
    return (idle1 - idle0) / (total1 - total0) * (os.cpu_count() or 1)


def default_threads() -> tuple[int, str]:
    """``(threads, why)``: ``ATOMLEARN_THREADS``, else the idle cores this process may use."""
    value = os.environ.get(ENV)
    if value:
        from .errors import ConfigError

        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"{ENV}={value!r} must be a positive integer, e.g. {ENV}=1.")
        return n, f"from {ENV}"
    cores = available_cores()
    idle = idle_cores()
    n = max(1, min(cores, int(idle + 0.5)))
    busy = cores - n
    return n, (f"{cores} core(s), {busy} busy with other work" if busy else
               f"{cores} idle core(s)")


def configure(threads: int | None = None) -> int:
    """Set the thread counts of BLAS, PyTorch and featomic; return the count.

    Parameters
    ----------
    threads : int, optional
        Threads for large products (fits, training, batched predictions); default
        :func:`default_threads`.
    """
    why = "as asked"
    if threads is None:
        threads, why = default_threads()
    threads = int(threads)
    # featomic (rayon) and child processes read these when they start their pools
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    _blas().limit(limits=threads, user_api="blas")
    torch = _loaded("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    _state["threads"], _state["why"] = threads, why
    log.debug("threads: %s", describe())
    return threads


def describe() -> str:
    """The configured thread count and why, for the log of a command's work (reported
    when the work starts, so that a refused option stays a one-line error)."""
    n = _state["threads"]
    if n is None:
        return "threads not configured"
    return (f"{n} thread{'s' if n > 1 else ''} ({_state['why']}; --threads or {ENV} to "
            "change)")


def configured() -> int | None:
    """The thread count :func:`configure` set (None before)."""
    return _state["threads"]


@contextlib.contextmanager
def single_thread():
    """BLAS (and PyTorch) on one thread inside the block: for the small products of an MD
    step or a one-structure prediction (about 10 µs to enter), and around PySCF, which
    runs its own OpenMP pool: NumPy's OpenBLAS threads spin-waiting beside it for the same
    cores made an ethanol SCF 1.7-2x slower."""
    torch = _loaded("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None and before != 1:
        torch.set_num_threads(1)
    try:
        with _blas().limit(limits=1, user_api="blas"):
            yield
    finally:
        if torch is not None and before != 1:
            torch.set_num_threads(before)


def _blas():
    """A threadpoolctl controller of the BLAS libraries loaded now (NumPy's and SciPy's)."""
    import scipy.linalg  # noqa: F401  (SciPy may bring its own OpenBLAS)
    from threadpoolctl import ThreadpoolController

    controller = _state["controller"]
    if controller is None:
        controller = _state["controller"] = ThreadpoolController()
    return controller


def _loaded(name: str):
    import sys

    return sys.modules.get(name)
