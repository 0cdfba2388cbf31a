"""Faults on purpose: an executor whose workers die, to test that work survives them."""

from __future__ import annotations

import os
from concurrent.futures import Executor
from pathlib import Path


def _die_once(marker: str, fn, *args):
    """Kill this worker process the first time (``marker`` then exists), else run."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os._exit(1)                   # as the OOM killer would: no cleanup, no exception
    return fn(*args)


class DyingExecutor(Executor):
    """``executor``, but the worker that runs task number ``at`` (counted from 0 over
    this executor's submissions, and its dask client's) is killed once, the moment it
    starts it.

    Parameters
    ----------
    executor : concurrent.futures.Executor
        The executor doing the work (a dask client's restarts its workers and retries
        their tasks).
    marker : path
        A file the killed worker creates (shared by all workers: the same machine).
    at : int
        Which submission dies.
    """

    def __init__(self, executor: Executor, marker: str | os.PathLike, at: int = 1) -> None:
        self.executor, self.marker, self.at = executor, str(marker), at
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        return self._submit(self.executor.submit, fn, *args, **kwargs)

    def _submit(self, submit, fn, /, *args, **kwargs):
        k, self.submitted = self.submitted, self.submitted + 1
        if k == self.at:
            return submit(_die_once, self.marker, fn, *args, **kwargs)
        return submit(fn, *args, **kwargs)

    @property
    def _client(self):
        client = getattr(self.executor, "_client", None)
        return None if client is None else _DyingClient(client, self)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.executor.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __getattr__(self, name: str):
        # what atomlearn reads of an executor (its dask client, its pool size)
        return getattr(self.__dict__["executor"], name)


class _DyingClient:
    """A dask client whose submissions count towards a :class:`DyingExecutor`'s."""

    def __init__(self, client, owner: DyingExecutor) -> None:
        self._wrapped, self._owner = client, owner

    def submit(self, fn, /, *args, **kwargs):
        return self._owner._submit(self._wrapped.submit, fn, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.__dict__["_wrapped"], name)


__all__ = ["DyingExecutor"]
