"""Data-parallel training with ``torch.distributed``: one process per rank, launched by
``torchrun`` or ``srun``, each holding a share of every batch.

Every rank loads the same data and splits each batch the same way (structures
``rank::world_size`` of it), so no frame is lost or seen twice. The loss is normalised
by the counts of the whole batch (all-reduced once), so the summed gradients equal one
process's on the whole batch; ``DistributedDataParallel`` averages them, so each rank
scales its share by the world size. Decisions (early stopping, the learning-rate
schedule, the time budget) are taken on rank 0 and broadcast; rank 0 alone writes
checkpoints, and every rank reads them on ``--resume``.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:        # PyTorch loads only when a rank starts: GP fits never need it
    import torch

#: What ``torchrun`` sets; SLURM's ``srun`` sets SLURM_PROCID / SLURM_NTASKS /
#: SLURM_LOCALID, and the job script exports MASTER_ADDR and MASTER_PORT.
TORCHRUN = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
SLURM = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")


@dataclass(frozen=True)
class Distributed:
    """This process's place among the ranks of a data-parallel run.

    Parameters
    ----------
    rank : int
        This process (0 takes decisions and writes files).
    world_size : int
        Processes in the run.
    local_rank : int
        This process on its node (its CUDA device).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls, environ=None) -> Distributed | None:
        """The run ``torchrun`` or ``srun`` launched this process into, or None when
        neither did.

        Raises
        ------
        ConfigError
            When the launcher's variables are there only in part (MASTER_ADDR and
            MASTER_PORT unset under ``srun``, for example).
        """
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" in env or "RANK" in env:
            missing = [k for k in TORCHRUN if not env.get(k)]
            if missing:
                raise ConfigError(
                    "Data-parallel training needs the variables torchrun sets; "
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. "
                    "Launch with 'torchrun --nproc_per_node N -m atomlearn fit CONFIG ...'.")
            return cls(_int(env, "RANK"), _int(env, "WORLD_SIZE"), _int(env, "LOCAL_RANK"))
        procid, ntasks, localid = SLURM
        if int(env.get(ntasks, "1") or 1) > 1 and procid in env:
            missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
            if missing:
                raise ConfigError(
                    f"This process runs as one of {env[ntasks]} SLURM tasks, and "
                    f"data-parallel training needs {' and '.join(missing)} to reach rank 0: "
                    "in the job script, 'export MASTER_ADDR=$(scontrol show hostnames "
                    "$SLURM_JOB_NODELIST | head -n 1) MASTER_PORT=29500' before srun.")
            return cls(_int(env, procid), _int(env, ntasks),
                       _int(env, localid) if localid in env else 0)
        return None

    @classmethod
    def required(cls, environ=None) -> Distributed:
        """:meth:`from_environment`, refusing a process no launcher started."""
        found = cls.from_environment(environ)
        if found is None:
            raise ConfigError(
                "--ddp asks for data-parallel training, but this process was not launched "
                "by torchrun or srun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and "
                "MASTER_PORT are not set). Run 'torchrun --nproc_per_node N -m atomlearn fit "
                "CONFIG ...', or 'srun' with MASTER_ADDR and MASTER_PORT exported.")
        return found

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self, device: str = "cpu", timeout: float = 600.0) -> None:
        """Join the process group (gloo on CPU, NCCL on CUDA) unless already joined."""
        import torch
        import torch.distributed as dist

        if dist.is_initialized():
            return
        os.environ.setdefault("RANK", str(self.rank))
        os.environ.setdefault("WORLD_SIZE", str(self.world_size))
        cuda = str(device).startswith("cuda")
        if cuda:
            torch.cuda.set_device(self.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo", rank=self.rank,
                                world_size=self.world_size,
                                timeout=datetime.timedelta(seconds=timeout))

    def shard(self, indices: np.ndarray) -> np.ndarray:
        """This rank's share of one batch's structures."""
        return np.asarray(indices)[self.rank :: self.world_size]

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the ranks (in place; returned)."""
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def from_main(self, tensor: torch.Tensor) -> torch.Tensor:
        """Rank 0's ``tensor`` on every rank (in place; returned)."""
        import torch.distributed as dist

        dist.broadcast(tensor, src=0)
        return tensor

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        """``net`` in ``DistributedDataParallel`` (rank 0's weights broadcast to all)."""
        from torch.nn.parallel import DistributedDataParallel

        cuda = next(net.parameters()).is_cuda
        # parameters unused on a rank: a head whose target this batch share has no
        # labels of, an element the share lacks
        return DistributedDataParallel(net, device_ids=[self.local_rank] if cuda else None,
                                       find_unused_parameters=True)


def leave_process_group(barrier: bool = True) -> None:
    """Leave torch.distributed's process group, if this process joined one: DDP wrappers
    are collected first (a reducer that outlives its group aborts the process at exit:
    "terminate called without an active exception"), then, after work that ended well
    on every rank (``barrier``), a barrier, so no rank tears down while another still
    communicates."""
    import gc

    import torch.distributed as dist

    if dist.is_initialized():
        gc.collect()
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


def batches(n: int, batch_size: int, distributed: Distributed | None = None, *,
            allow_empty: bool = False) -> list[np.ndarray]:
    """Consecutive batches of ``n`` structures, each as this rank's share of it.

    With several ranks, a last batch with fewer structures than ranks joins the one
    before it, so every rank has a share of every training batch; with ``allow_empty``
    (validation, which needs no gradients) a share may be empty instead.
    """
    starts = list(range(0, n, batch_size))
    world = distributed.world_size if distributed is not None else 1
    if allow_empty:
        world = 1
    elif batch_size < world:
        raise ConfigError(f"model.batch_size is the batch of all ranks together and must be "
                          f"at least the {world} ranks; got {batch_size}. Raise it or "
                          "launch fewer processes.")
    elif n < world:
        raise ConfigError(f"Data-parallel training on {world} ranks needs at least {world} "
                          f"training structures; got {n}. Launch fewer processes.")
    if len(starts) > 1 and n - starts[-1] < world:
        starts.pop()
    ends = starts[1:] + [n]
    out = [np.arange(a, b) for a, b in zip(starts, ends, strict=True)]
    return [distributed.shard(idx) for idx in out] if distributed is not None else out


def _int(env, name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ConfigError(f"{name}={env[name]!r} must be an integer (set by the launcher)."
                          ) from None


__all__ = ["Distributed", "batches", "leave_process_group"]
