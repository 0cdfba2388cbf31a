"""Training loop: minibatches, Adam or SGD, energy and force losses, early stopping."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import AtomlearnError
from .batch import AtomicBatch
from .model import AtomisticNetwork

log = logging.getLogger(__name__)


class TrainingError(AtomlearnError, RuntimeError):
    """Raised when training cannot go on (for example a non-finite loss)."""


@dataclass
class TrainingHistory:
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1


@dataclass
class Labels:
    energy: torch.Tensor              # [n_structures]
    forces: torch.Tensor | None       # [n_atoms, 3]


def loss_of(net: AtomisticNetwork, batch: AtomicBatch, labels: Labels, energy_weight: float,
            force_weight: float, training: bool) -> torch.Tensor:
    """w_E mean((ΔE / n_atoms)^2) + w_F mean(ΔF^2), in eV^2 and (eV/Å)^2."""
    with_forces = labels.forces is not None and force_weight > 0
    out = net(batch, compute_forces_=with_forces, training=training)
    loss = energy_weight * torch.mean(((out["energy"] - labels.energy) / batch.n_atoms) ** 2)
    if with_forces:
        loss = loss + force_weight * torch.mean((out["forces"] - labels.forces) ** 2)
    return loss


def train(net: AtomisticNetwork, train_set: list[tuple[AtomicBatch, Labels]],
          validation_set: list[tuple[AtomicBatch, Labels]], *, epochs: int = 100,
          optimizer: str = "adam", learning_rate: float = 1e-3, energy_weight: float = 1.0,
          force_weight: float = 10.0, patience: int = 50, lr_factor: float = 0.5,
          lr_patience: int = 20, seed: int = 0) -> TrainingHistory:
    """Train ``net`` in place and keep the weights of the best validation epoch.

    The learning rate is multiplied by ``lr_factor`` when the validation loss has not
    improved for ``lr_patience`` epochs; training stops after ``patience`` epochs without
    improvement. A non-finite loss stops training with the batch that produced it.
    """
    params = [p for p in net.parameters() if p.requires_grad]
    opt = (torch.optim.Adam(params, lr=learning_rate) if optimizer == "adam"
           else torch.optim.SGD(params, lr=learning_rate, momentum=0.9))
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=lr_factor,
                                                       patience=lr_patience)
    rng = np.random.default_rng(seed)
    history = TrainingHistory()
    best, best_state, waited = math.inf, copy.deepcopy(net.state_dict()), 0
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=None)
    for epoch in bar:
        net.train()
        total = 0.0
        for k in rng.permutation(len(train_set)):
            batch, labels = train_set[k]
            opt.zero_grad()
            loss = loss_of(net, batch, labels, energy_weight, force_weight, training=True)
            if not torch.isfinite(loss):
                net.load_state_dict(best_state)
                raise TrainingError(
                    f"The training loss became {float(loss.detach())} at epoch {epoch}, batch {k}; "
                    "the last good weights were restored. Lower 'learning_rate' or check "
                    "that batch's labels.")
            loss.backward()
            opt.step()
            total += float(loss.detach())
        history.train_loss.append(total / max(1, len(train_set)))
        net.eval()
        val = sum(float(loss_of(net, b, lab, energy_weight, force_weight, training=False)
                        .detach()) for b, lab in validation_set) / max(1, len(validation_set))
        history.validation_loss.append(val)
        sched.step(val)
        if val < best:
            best, best_state, waited, history.best_epoch = val, copy.deepcopy(
                net.state_dict()), 0, epoch
        else:
            waited += 1
        bar.set_postfix(val=f"{val:.3g}", lr=f"{opt.param_groups[0]['lr']:.1e}")
        if waited >= patience:
            log.info("early stop at epoch %d (best %d)", epoch, history.best_epoch)
            break
    net.load_state_dict(best_state)
    return history
