"""Data-parallel training with torch.distributed (gloo), launched by torchrun: the ranks'
loss and gradients equal one process's on the same batch, every frame is in exactly one
rank's share, a run stopped and resumed ends where an uninterrupted one does, and a
launch without the launcher's environment is refused.

Run by torchrun, this file is also the ranks' script (``python -m torch.distributed.run
... test_distributed.py grads OUT``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve()
DATA = HERE.parents[1] / "data" / "ethanol_10.extxyz"
SMALL = dict(cutoff=4.0, n_features=8, n_interactions=2, n_rbf=6, n_hidden=[8],
             batch_size=10, dtype="float64", force_weight=1.0)


def _loss_and_gradients(ranks):
    """Loss and gradients of one batch of all ten frames (this rank's share of it)."""
    import ase.io
    import torch

    from atomlearn.models import MessagePassingModel
    from atomlearn.nn.training import _whole_batch_counts, loss_of
    from atomlearn.targets import Dataset

    frames = ase.io.read(DATA, ":")
    model = MessagePassingModel(**SMALL)
    data = Dataset.read(frames, model.target_specs, keys=model.keys)
    model.species_ = data.species
    torch.manual_seed(0)
    net = model._build(model.species_)
    model._initialise(net, data)
    (batch, labels), = model._batches(data.structures, data, ranks)
    terms = model._loss_terms()
    counts, = _whole_batch_counts([labels], terms, ranks)
    if ranks is None:
        loss = loss_of(net, batch, labels, terms, training=True, counts=counts)
        loss.backward()
        whole = loss.detach()
    else:
        wrapped = ranks.wrap(net)
        loss = loss_of(wrapped, batch, labels, terms, training=True, counts=counts)
        (loss * ranks.world_size).backward()
        whole = ranks.sum(loss.detach().clone())
    return float(whole), [p.grad.detach().numpy().copy() for p in net.parameters()
                          if p.grad is not None], int(batch.n_structures)


def _torchrun(*args, nproc=2, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc_per_node={nproc}", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def test_two_ranks_give_one_process_loss_and_gradients(tmp_path):
    out = tmp_path / "ranks.npz"
    run = _torchrun(HERE, "grads", out)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = np.load(out)
    loss, grads, n = _loss_and_gradients(None)
    assert n == 10 and ranks["shares"].tolist() == [5, 5]
    assert ranks["loss"] == pytest.approx(loss, rel=1e-10)
    assert len(grads) == len([k for k in ranks.files if k.startswith("g")]) > 10
    for k, g in enumerate(grads):
        np.testing.assert_allclose(ranks[f"g{k}"], g, rtol=1e-10, atol=1e-12 * np.abs(g).max())


def test_every_frame_is_in_exactly_one_share():
    from atomlearn.distributed import Distributed, batches
    from atomlearn.errors import ConfigError

    for n, size, world in [(10, 4, 2), (11, 4, 3), (7, 3, 3), (5, 5, 5), (9, 4, 4)]:
        shares = [batches(n, size, Distributed(r, world)) for r in range(world)]
        assert len({len(s) for s in shares}) == 1            # every rank every batch
        seen = np.concatenate([b for s in shares for b in s])
        assert sorted(seen.tolist()) == list(range(n))
        assert all(len(b) > 0 for s in shares for b in s)
        # the whole batches are one process's, but for a too-small last one
        whole = [np.sort(np.concatenate([s[k] for s in shares])) for k in range(len(shares[0]))]
        one = batches(n, size)
        if n % size == 0 or n % size >= world:
            assert [w.tolist() for w in whole] == [b.tolist() for b in one]
    with pytest.raises(ConfigError, match="batch_size is the batch of all ranks together"):
        batches(9, 2, Distributed(0, 4))
    with pytest.raises(ConfigError, match="on 3 ranks needs at least 3 training structures"):
        batches(2, 4, Distributed(0, 3))
    assert [len(b) for b in batches(2, 4, Distributed(2, 3), allow_empty=True)] == [0]


def _write_options(path: Path, epochs: int) -> None:
    lines = ["targets:", "  energy: {forces: true}", "data:", f"  train: {DATA}",
             "  test_fraction: 0.2", "  seed: 0", "model:", "  type: mpnn"]
    lines += [f"  {k}: {v}" for k, v in dict(SMALL, batch_size=4, epochs=epochs,
                                             checkpoint_every=2, patience=100,
                                             learning_rate=0.003).items()]
    lines += ["output:", "  plots: false"]
    path.write_text("\n".join(lines) + "\n")


def _fit(tmp_path, name, epochs, *, nproc=2, resume=False):
    options = tmp_path / f"{name}.yaml"
    _write_options(options, epochs)
    args = ["-m", "atomlearn", "fit", options, "-o", tmp_path / name / "model.alm"]
    if resume:
        args.append("--resume")
    if nproc == 1:
        run = subprocess.run([sys.executable, *map(str, args)], capture_output=True,
                             text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    else:
        run = _torchrun(*args, nproc=nproc)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_a_stopped_and_resumed_ddp_run_ends_where_an_uninterrupted_one_does(tmp_path):
    import torch

    from atomlearn.models import load_model

    frames = __import__("ase.io").io.read(DATA, ":")
    _fit(tmp_path, "whole", 6)
    _fit(tmp_path, "one", 6, nproc=1)
    _fit(tmp_path, "cut", 4)                          # stopped after epoch 4 ...
    _fit(tmp_path, "cut", 6, resume=True)             # ... and resumed to 6
    whole, one, cut = (load_model(tmp_path / n / "model.alm") for n in ("whole", "one", "cut"))
    losses = {n: torch.load(tmp_path / n / "model.alm.ckpt", weights_only=True)[
        "validation_loss"] for n in ("whole", "one", "cut")}
    assert len(losses["cut"]) == 6
    np.testing.assert_allclose(losses["cut"], losses["whole"], rtol=1e-10)
    a, b = whole.predict(frames), cut.predict(frames)
    np.testing.assert_allclose(b["energy"], a["energy"], rtol=1e-10)
    np.testing.assert_allclose(b["forces"], a["forces"], rtol=1e-8, atol=1e-10)
    # two ranks train as one process does on the whole batches (float64 round-off)
    np.testing.assert_allclose(losses["whole"], losses["one"], rtol=1e-8)
    np.testing.assert_allclose(one.predict(frames)["energy"], a["energy"], rtol=1e-9)


def test_ddp_without_its_environment_is_refused(tmp_path):
    from atomlearn.distributed import Distributed
    from atomlearn.errors import ConfigError

    options = tmp_path / "o.yaml"
    _write_options(options, 1)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_NTASKS", "SLURM_PROCID")}
    run = subprocess.run([sys.executable, "-m", "atomlearn", "fit", str(options), "-o",
                          str(tmp_path / "m.alm"), "--ddp"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 2
    assert "--ddp asks for data-parallel training, but this process was not launched by " \
           "torchrun or srun" in run.stderr
    with pytest.raises(ConfigError, match="MASTER_ADDR, MASTER_PORT are not set"):
        Distributed.from_environment({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ConfigError, match=re.escape(
            "runs as one of 4 SLURM tasks, and data-parallel training needs MASTER_ADDR "
            "and MASTER_PORT")):
        Distributed.from_environment({"SLURM_PROCID": "1", "SLURM_NTASKS": "4"})
    found = Distributed.from_environment({"SLURM_PROCID": "1", "SLURM_NTASKS": "4",
                                          "SLURM_LOCALID": "1", "MASTER_ADDR": "node1",
                                          "MASTER_PORT": "29500"})
    assert (found.rank, found.world_size, found.local_rank) == (1, 4, 1)
    assert Distributed.from_environment({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}) is None
    # a GP model is not trained by the ranks: refused on every rank, before any work
    gp = tmp_path / "gp.yaml"
    gp.write_text(f"targets:\n  energy: {{forces: true}}\ndata:\n  train: {DATA}\n"
                  "model:\n  type: sparse_gpr\n")
    with pytest.raises(ConfigError, match="Data-parallel launches .* train networks"):
        from atomlearn.config import load_options
        from atomlearn.workflows import fit_from_config

        fit_from_config(load_options(gp), distributed=Distributed(0, 2))


if __name__ == "__main__":        # a rank of test_two_ranks_give_one_process_loss_...
    from atomlearn.distributed import Distributed

    ranks = Distributed.required()
    ranks.start()
    loss, grads, n = _loss_and_gradients(ranks)
    import torch

    shares = ranks.sum(torch.zeros(ranks.world_size).index_fill_(0, torch.tensor(ranks.rank),
                                                                 float(n)))
    if ranks.is_main:
        np.savez(sys.argv[2], loss=loss, shares=shares.numpy().astype(int),
                 **{f"g{k}": g for k, g in enumerate(grads)})
    from atomlearn.distributed import leave_process_group

    leave_process_group()
