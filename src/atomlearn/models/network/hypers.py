"""Hyperparameters of the networks ``bpnn`` and ``mpnn`` (the single source of their
defaults); importable without PyTorch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainingOptions:
    """Training settings shared by the networks (fields of each family's hypers).

    Attributes
    ----------
    epochs, batch_size : int
    learning_rate : float
    optimizer : {"adam", "sgd"}
        Adam with AMSGrad, or SGD with momentum 0.9.
    force_weight : float
        Loss weight of the force errors ((eV/Å)^2) against each target's ``weight``
        (per-atom errors of extensive targets, e.g. eV^2 per atom for an energy).
    validation_fraction : float
        Held-out share of the training structures for early stopping and the
        calibration of a committee's std.
    patience : int
        Epochs without validation improvement before stopping.
    lr_patience : int
        Epochs without improvement before the learning rate is multiplied by
        ``lr_factor``.
    lr_factor : float
    max_time : float, optional
        Wall-clock budget of each committee member's training, seconds.
    n_models : int
        Committee size; with more than one, predictions come with the committee's std,
        calibrated on the validation structures.
    dtype : {"float64", "float32"}
    device : str
        ``"cpu"`` or ``"cuda"``.
    checkpoint_every : int
        Epochs between checkpoints (``<model>.ckpt``); 0 writes none.
    baseline : "fit" or "none"
        Per-element composition baseline of the targets.
    random_state : int
        Member k uses ``random_state + k`` for its weights and batch order.
    """

    epochs: int = 300
    batch_size: int = 10
    learning_rate: float = 3e-3
    optimizer: str = "adam"
    force_weight: float = 0.01
    validation_fraction: float = 0.1
    patience: int = 60
    lr_patience: int = 20
    lr_factor: float = 0.5
    max_time: float | None = None
    n_models: int = 1
    dtype: str = "float64"
    device: str = "cpu"
    checkpoint_every: int = 10
    baseline: Any = "fit"
    random_state: int = 0


@dataclass
class SymmetryFunctionOptions:
    """Behler-Parrinello G2 (radial) and G4 (angular) symmetry functions.

    Attributes
    ----------
    cutoff : float
        Cutoff radius, Å.
    radial_etas : list of float
        G2 widths, Å^-2.
    radial_shifts : list of float
        G2 centres, Å.
    angular_etas : list of float
        G4 widths, Å^-2.
    zetas : list of float
        G4 angular resolutions.
    """

    cutoff: float = 5.0
    radial_etas: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    radial_shifts: list[float] = field(
        default_factory=lambda: [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5])
    angular_etas: list[float] = field(default_factory=lambda: [0.02, 0.1])
    zetas: list[float] = field(default_factory=lambda: [1.0, 4.0])


@dataclass
class BehlerParrinelloHypers(TrainingOptions):
    """High-dimensional (Behler-Parrinello) network: symmetry functions and one MLP per
    element and target.

    Attributes
    ----------
    descriptor : SymmetryFunctionOptions
    n_hidden : list of int
        Hidden widths of each head's MLP.
    activation : {"tanh", "silu", "softplus"}
    """

    descriptor: SymmetryFunctionOptions = field(default_factory=SymmetryFunctionOptions)
    n_hidden: list[int] = field(default_factory=lambda: [32, 32])
    activation: str = "tanh"


@dataclass
class MessagePassingHypers(TrainingOptions):
    """PaiNN message-passing network: learned scalar and vector features.

    Attributes
    ----------
    cutoff : float
        Cutoff radius of each interaction, Å.
    n_features : int
        Width of the scalar and vector channels.
    n_interactions : int
        Message-passing rounds.
    n_rbf : int
        Radial basis functions.
    n_hidden : list of int
        Hidden widths of each head's MLP.
    activation : {"tanh", "silu", "softplus"}
    density_loss : {"coulomb", "euclidean"}
        Loss of density coefficients: their error in each structure's Coulomb metric
        (SALTED's, the Hartree energy of the error density) or the plain squared error.
    """

    cutoff: float = 5.0
    n_features: int = 64
    n_interactions: int = 3
    n_rbf: int = 20
    n_hidden: list[int] = field(default_factory=lambda: [32])
    activation: str = "silu"
    learning_rate: float = 1e-3
    density_loss: str = "coulomb"


HYPERS = {"bpnn": BehlerParrinelloHypers, "mpnn": MessagePassingHypers}
_INVARIANT = {("scalar", False), ("spectrum", False), ("scalar", True), ("spectrum", True),
              ("vector", False)}
LAYOUTS = {"bpnn": frozenset(_INVARIANT),
           "mpnn": frozenset(_INVARIANT | {("rank2_symmetric", False),
                                           ("density_coefficients", False),
                                           ("operator", False)})}
