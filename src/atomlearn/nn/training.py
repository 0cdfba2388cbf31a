"""Training loop: minibatches, Adam or SGD, energy and force losses, a plateau schedule,
early stopping, a wall-clock budget, and checkpoints that resume to the same result."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..distributed import Distributed
from ..errors import AtomlearnError, DataError
from .batch import AtomicBatch
from .model import AtomisticNetwork

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


class TrainingError(AtomlearnError, RuntimeError):
    """Raised when training cannot go on (for example a non-finite loss)."""


@dataclass
class TrainingHistory:
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    finished: bool = False


@dataclass
class LossTerm:
    """One target's share of the loss: ``weight`` mean((Δy / n)^2), with n the number of
    atoms of each structure for ``per_atom_error`` (extensive per-structure targets: the
    error per atom), else 1."""

    name: str
    weight: float = 1.0
    per_atom_error: bool = False
    #: The states of this output are in an order the network learns: prediction and
    #: label are each sorted by their energies (the output ``sorted_by``) before they
    #: are compared, so the loss does not depend on the order of the labelled states.
    sorted_by: str | None = None
    #: Labels holding each structure's Delta-learning baselines of this output and of its
    #: ``sorted_by`` energies, in the network's state order: added to prediction and
    #: label (a residual) before the states are sorted, so a state keeps its baseline
    #: (a Kohn-Sham orbital pair) wherever the network moves it.
    offset: str | None = None
    sorted_by_offset: str | None = None
    #: Per-structure factors F [n, p, p] of a metric J = F F^T (a label of that name):
    #: the error of a row is then Δy^T J Δy (a density's error in the Coulomb metric).
    metric: str | None = None


def by_energy(values: torch.Tensor, energies: torch.Tensor) -> torch.Tensor:
    """``values`` (n, n_states) with each row's states in ascending order of ``energies``
    (NaN energies last)."""
    order = torch.argsort(torch.nan_to_num(energies, nan=float("inf")), dim=-1)
    return torch.gather(values, -1, order)


@dataclass
class Labels:
    """Reference values of a batch, in the layout of the network's outputs (per structure
    or per atom; ``"forces"`` [n_atoms, 3])."""

    values: dict[str, torch.Tensor] = field(default_factory=dict)


def _forces_used(labels: Labels, terms: list[LossTerm]) -> bool:
    return "forces" in labels.values and any(t.name == "forces" and t.weight > 0
                                             for t in terms)


def label_counts(labels: Labels, terms: list[LossTerm]) -> torch.Tensor:
    """How many labels each term of ``terms`` compares (NaN labels left out), float64."""
    forces = _forces_used(labels, terms)
    return torch.tensor([float((~torch.isnan(ref)).sum()) if (
        ref := labels.values.get(t.name)) is not None and (t.name != "forces" or forces)
        else 0.0 for t in terms], dtype=torch.float64)


def term_sums(net, batch: AtomicBatch, labels: Labels, terms: list[LossTerm],
              training: bool) -> torch.Tensor:
    """:math:`\\sum (\\Delta y_t/n)^2` of each term over the labels the batch has (n the
    number of atoms for ``per_atom_error`` terms, else 1), in the network's dtype."""
    with_forces = _forces_used(labels, terms)
    out = net(batch, compute_forces_=with_forces, training=training)
    zero = out[next(iter(out))].new_zeros(())
    sums = []
    for term in terms:
        ref = labels.values.get(term.name)
        if ref is None or (term.name == "forces" and not with_forces):
            sums.append(zero)
            continue
        pred = out[term.name]
        if term.sorted_by is not None:
            pred, ref = (_shifted(v, labels, term.offset) for v in (pred, ref))
            pred = by_energy(pred, _shifted(out[term.sorted_by], labels, term.sorted_by_offset))
            ref = by_energy(ref, _shifted(labels.values[term.sorted_by], labels,
                                          term.sorted_by_offset))
        diff = pred - ref
        if term.metric is not None:
            diff = torch.einsum("np,npq->nq", diff, labels.values[term.metric])
        if term.per_atom_error:
            diff = diff / batch.n_atoms.to(diff.dtype).reshape(-1, *([1] * (diff.dim() - 1)))
        known = ~torch.isnan(ref)          # missing labels (a DOS above computed levels)
        sums.append(torch.sum(torch.where(known, diff, 0.0) ** 2))
    return torch.stack(sums)


def _shifted(values: torch.Tensor, labels: Labels, offset: str | None) -> torch.Tensor:
    return values if offset is None else values + labels.values[offset]


def combine(sums: torch.Tensor, counts: torch.Tensor, terms: list[LossTerm]
            ) -> torch.Tensor:
    """:math:`\\sum_t w_t S_t / C_t` over the terms with labels (``counts`` > 0)."""
    weights = torch.tensor([t.weight for t in terms], dtype=sums.dtype, device=sums.device)
    counts = counts.to(dtype=sums.dtype, device=sums.device)
    return torch.sum(torch.where(counts > 0, weights * sums / counts.clamp_min(1.0), 0.0))


def loss_of(net, batch: AtomicBatch, labels: Labels, terms: list[LossTerm],
            training: bool, counts: torch.Tensor | None = None) -> torch.Tensor:
    """:math:`\\sum_t w_t\\,\\mathrm{mean}((\\Delta y_t/n)^2)` over the targets (and forces)
    the batch has labels of, in the squared units of each target. ``counts`` are the
    labels each term's mean divides by (default: this batch's; a data-parallel rank
    passes the whole batch's, so the ranks' losses sum to the batch's loss)."""
    sums = term_sums(net, batch, labels, terms, training)
    return combine(sums, label_counts(labels, terms) if counts is None else counts, terms)


@dataclass
class Checkpoint:
    """Where and how often training state is saved.

    The file holds weights, optimiser and schedule state, the best weights so far and the
    loss history as tensors and plain Python values, written to a temporary file and
    renamed, and read with ``torch.load(weights_only=True)``. ``fingerprint`` identifies
    the model (type, architecture, species); resuming from a file with another
    fingerprint is refused.
    """

    path: str | os.PathLike
    every: int = 10
    fingerprint: dict = field(default_factory=dict)
    resume: bool = False

    def save(self, state: dict) -> None:
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"format": CHECKPOINT_FORMAT,
                    "fingerprint": json.dumps(self.fingerprint, sort_keys=True), **state}, tmp)
        os.replace(tmp, path)

    def load(self) -> dict | None:
        path = Path(self.path)
        if not (self.resume and path.exists()):
            if self.resume:
                log.warning("no checkpoint at %s; training from the start", path)
            return None
        try:
            state = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as exc:
            raise DataError(f"Checkpoint {path} cannot be read as a checkpoint: {exc}. "
                            "Delete it to start afresh.") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise DataError(f"Checkpoint {path} is not an atomlearn checkpoint of format "
                            f"{CHECKPOINT_FORMAT}. Delete it to start afresh.")
        theirs = json.loads(state["fingerprint"])
        if theirs != self.fingerprint:
            diff = sorted(k for k in set(theirs) | set(self.fingerprint)
                          if theirs.get(k) != self.fingerprint.get(k))
            raise DataError(
                f"Checkpoint {path} was written by a run with other options or data: "
                + "; ".join(f"{k}: checkpoint {theirs.get(k)!r}, this run "
                            f"{self.fingerprint.get(k)!r}" for k in diff)
                + ". Resume with the options that wrote it, or delete the checkpoint.")
        return state


def _optimizer(name: str, params, learning_rate: float):
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate, amsgrad=True)
    return torch.optim.SGD(params, lr=learning_rate, momentum=0.9)


def _whole_batch_counts(labels: list[Labels], terms: list[LossTerm],
                        ranks: Distributed | None) -> list[torch.Tensor]:
    if not labels:
        return []
    counts = torch.stack([label_counts(lab, terms) if lab is not None
                          else torch.zeros(len(terms), dtype=torch.float64) for lab in labels])
    if ranks is not None:
        ranks.sum(counts)
    return list(counts)


def _validation_loss(net, validation_set, counts, terms, ranks) -> float:
    """Mean over the validation batches of each whole batch's loss (a rank's share of a
    batch may be empty: ``(None, None)``)."""
    if not validation_set:
        return 0.0
    sums = torch.stack([term_sums(net, b, lab, terms, training=False).detach()
                        .to(torch.float64) if b is not None
                        else torch.zeros(len(terms), dtype=torch.float64)
                        for b, lab in validation_set])
    if ranks is not None:
        ranks.sum(sums)
    return float(sum(combine(s, c, terms) for s, c in zip(sums, counts, strict=True))
                 ) / len(validation_set)


def train(net: AtomisticNetwork, train_set: list[tuple[AtomicBatch, Labels]],
          validation_set: list[tuple[AtomicBatch, Labels]], *, epochs: int = 100,
          optimizer: str = "adam", learning_rate: float = 1e-3,
          terms: list[LossTerm] | None = None, patience: int = 50,
          lr_factor: float = 0.5,
          lr_patience: int = 20, seed: int = 0, max_time: float | None = None,
          checkpoint: Checkpoint | None = None,
          callback: Callable[[int, TrainingHistory], None] | None = None,
          description: str = "training", distributed: Distributed | None = None
          ) -> TrainingHistory:
    """Train ``net`` in place and keep the weights of the best validation epoch.

    ``terms`` are the loss terms (see :func:`loss_of`); by default the per-atom energy
    error and ten times the force error.

    The learning rate is multiplied by ``lr_factor`` when the validation loss has not
    improved for ``lr_patience`` epochs; training stops after ``patience`` epochs without
    improvement, after ``epochs``, or once ``max_time`` seconds of training have passed
    (counted across resumes). Batches are shuffled by a generator seeded with
    ``(seed, epoch)``, so a resumed run sees the same order as an uninterrupted one.
    A non-finite loss stops training with the batch that produced it; the last good
    weights are restored and the last checkpoint is left as it was.

    With ``distributed`` (several ranks), ``train_set`` and ``validation_set`` hold this
    rank's share of every batch (:func:`atomlearn.distributed.batches`): each term is
    normalised by the label counts of the whole batch, the gradients are summed by
    ``DistributedDataParallel``, rank 0's validation loss and time decide for all ranks,
    and rank 0 writes the checkpoints. The weights then follow one process's training on
    the whole batches to round-off.
    """
    terms = list(terms if terms is not None else
                 [LossTerm("energy", 1.0, per_atom_error=True), LossTerm("forces", 10.0)])
    params = [p for p in net.parameters() if p.requires_grad]
    opt = _optimizer(optimizer, params, learning_rate)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=lr_factor,
                                                       patience=lr_patience)
    history = TrainingHistory()
    best, best_state, waited, start = math.inf, copy.deepcopy(net.state_dict()), 0, 0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        best, best_state, waited = saved["best"], saved["best_state"], saved["waited"]
        history = TrainingHistory(list(saved["train_loss"]), list(saved["validation_loss"]),
                                  saved["best_epoch"], saved["seconds"], saved["finished"])
        start = saved["epoch"] + 1
        log.info("resuming from %s at epoch %d", checkpoint.path, start)
        if history.finished:
            net.load_state_dict(best_state)
            return history

    def state(epoch: int) -> dict:
        return {"epoch": epoch, "model": net.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "best": best, "best_state": best_state,
                "waited": waited, "best_epoch": history.best_epoch,
                "train_loss": history.train_loss, "validation_loss": history.validation_loss,
                "seconds": history.seconds, "finished": history.finished}

    ranks = distributed if distributed is not None and distributed.world_size > 1 else None
    main = ranks is None or ranks.is_main
    model = ranks.wrap(net) if ranks is not None else net
    world = ranks.world_size if ranks is not None else 1
    # labels each term compares in every whole batch (summed over the ranks' shares)
    train_counts, validation_counts = (
        _whole_batch_counts([lab for _, lab in data], terms, ranks)
        for data in (train_set, validation_set))
    bar = tqdm(range(start, epochs), desc=description, unit="epoch",
               disable=None if main else True, initial=start, total=epochs)
    clock = time.perf_counter()
    epoch = start - 1
    for epoch in bar:
        net.train()
        total = 0.0
        rng = np.random.default_rng([seed, epoch])
        for k in rng.permutation(len(train_set)):
            batch, labels = train_set[k]
            opt.zero_grad()
            loss = loss_of(model, batch, labels, terms, training=True, counts=train_counts[k])
            whole = loss.detach().clone()
            if ranks is not None:
                ranks.sum(whole)
            if not torch.isfinite(whole):
                net.load_state_dict(best_state)
                kept = (f" The checkpoint {checkpoint.path} is left as it was."
                        if checkpoint is not None else "")
                raise TrainingError(
                    f"The training loss became {float(whole)} at epoch {epoch}, batch "
                    f"{k}; the last good weights were restored.{kept} Lower 'learning_rate' "
                    "or check that batch's labels.")
            # DistributedDataParallel averages the ranks' gradients: scaled, they sum
            (loss * world).backward()
            opt.step()
            total += float(whole)
        history.train_loss.append(total / max(1, len(train_set)))
        net.eval()
        val = _validation_loss(net, validation_set, validation_counts, terms, ranks)
        now = time.perf_counter()
        history.seconds += now - clock
        clock = now
        out_of_time = max_time is not None and history.seconds >= max_time
        if ranks is not None:       # rank 0's numbers decide, so the ranks never diverge
            decided = ranks.from_main(torch.tensor([val, float(out_of_time)],
                                                   dtype=torch.float64))
            val, out_of_time = float(decided[0]), bool(decided[1])
        history.validation_loss.append(val)
        sched.step(val)
        if val < best:
            best, best_state, waited, history.best_epoch = val, copy.deepcopy(
                net.state_dict()), 0, epoch
        else:
            waited += 1
        bar.set_postfix(val=f"{val:.3g}", best=f"{best:.3g}",
                        lr=f"{opt.param_groups[0]['lr']:.1e}")
        history.finished = waited >= patience or out_of_time
        if main and checkpoint is not None and (
                history.finished or (epoch + 1) % checkpoint.every == 0
                or epoch == epochs - 1):
            checkpoint.save(state(epoch))
        if callback is not None:
            callback(epoch, history)
        if history.finished:
            log.info("stopped at epoch %d (%s; best %d)", epoch,
                     "time budget" if out_of_time else "no improvement", history.best_epoch)
            break
    bar.close()
    net.load_state_dict(best_state)
    return history
