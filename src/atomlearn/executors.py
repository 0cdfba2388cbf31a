"""One seam for the embarrassingly parallel steps: a :class:`concurrent.futures.Executor`.

``serial`` runs in this process (the default); ``process`` is a local process pool;
``dask`` is a ``dask.distributed`` client's executor, on a local cluster of ``workers``
processes or on the cluster a scheduler file names (started by ``dask scheduler``,
``dask-jobqueue`` or ``dask-mpi``). Every worker runs one thread of BLAS, PyTorch,
featomic and OpenMP (PySCF, tblite), so workers do not oversubscribe their cores.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ProcessPoolExecutor

from .errors import ConfigError, check_choice

EXECUTORS = ("serial", "process", "dask")
_ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS", "RAYON_NUM_THREADS",
                                      "ATOMLEARN_THREADS")}


def one_thread() -> None:
    """Set a worker to one thread of everything (run before it imports the codes)."""
    os.environ.update(_ONE_THREAD)
    from . import threads

    threads.configure(1)


def make_executor(kind: str = "serial", workers: int | None = None,
                  scheduler_file: str | None = None, connect_timeout: float = 10.0
                  ) -> Executor | None:
    """The executor of ``kind`` (None for ``serial``).

    Parameters
    ----------
    kind : {"serial", "process", "dask"}
    workers : int, optional
        Worker processes of a local pool or cluster (default: the cores).
    scheduler_file : str, optional
        ``dask``: connect to the cluster this file describes instead of starting one.
    connect_timeout : float
        Seconds to wait for that cluster's scheduler to answer.
    """
    check_choice(kind, EXECUTORS, "executor")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1; got {workers}.")
    if kind == "serial":
        return None
    if kind == "process":
        import multiprocessing

        # spawned, not forked: a fork copies this process's threads and locks (BLAS,
        # PyTorch) into the child
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=one_thread)
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:      # pragma: no cover - dask is a dependency
        raise ConfigError("The dask executor needs 'dask[distributed]'.") from err
    if scheduler_file is not None:
        if not os.path.isfile(scheduler_file):
            raise ConfigError(f"Dask scheduler file '{scheduler_file}' does not exist; start "
                              "the scheduler first or check the path.")
        try:
            client = Client(scheduler_file=scheduler_file, timeout=connect_timeout)
        except (OSError, TimeoutError) as err:
            raise ConfigError(
                f"The dask scheduler of '{scheduler_file}' did not answer within "
                f"{connect_timeout:g} s ({type(err).__name__}); is it running, and can this "
                "machine reach its address?") from err
    else:
        # the environment also reaches workers the nanny restarts after a death
        client = Client(LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                     threads_per_worker=1, processes=True,
                                     dashboard_address=None, env=dict(_ONE_THREAD)))
    client.run(one_thread)
    return client.get_executor()


def slots(executor: Executor) -> int:
    """How many tasks ``executor`` runs at once (its workers' threads)."""
    client = getattr(executor, "_client", None)
    if client is not None:                       # dask's ClientExecutor
        return max(1, sum(client.nthreads().values()))
    return max(1, int(getattr(executor, "_max_workers", 1)))


def add_arguments(parser, what: str) -> None:
    """The command-line options of an executor (``what`` says what runs as tasks)."""
    parser.add_argument("--executor", choices=EXECUTORS, default="serial",
                        help=f"where {what} run: here, a local process pool, or dask")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of a local pool or dask cluster (default: "
                             "the cores)")
    parser.add_argument("--scheduler-file", default=None,
                        help="dask: connect to the cluster this file describes")


def from_arguments(args) -> Executor | None:
    """The executor the command-line options of :func:`add_arguments` ask for."""
    return make_executor(args.executor, args.workers, args.scheduler_file)


def close(executor: Executor | None) -> None:
    """Stop ``executor`` without waiting for abandoned tasks (a local dask cluster it
    started goes with it)."""
    if executor is None:
        return
    client = getattr(executor, "_client", None)
    if client is None:
        executor.shutdown(wait=False, cancel_futures=True)
        return
    executor.shutdown(wait=False)
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


__all__ = ["EXECUTORS", "add_arguments", "close", "from_arguments", "make_executor",
           "one_thread", "slots"]
