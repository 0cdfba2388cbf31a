"""Options of on-the-fly learning (the ``learn`` section of a configuration)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError, check_choice


@dataclass
class LearnOptions:
    """How the dynamics run and when the reference code is called.

    Attributes
    ----------
    ensemble : {"langevin", "nve"}
    temperature : float
        K (initial velocities, and the Langevin bath).
    timestep : float
        fs.
    friction : float
        Langevin friction, 1/fs.
    steps : int
        MD steps at most.
    lower, upper : float
        Thresholds on the largest force standard deviation of a step (eV/Å, or multiples
        of the model's force noise with ``relative``): below ``lower`` the run goes on;
        between them the frame is queued for labelling; above ``upper`` the step is
        rejected, the run returns to the last trusted frame, and the frame is labelled.
    relative : bool
        Thresholds in units of the fitted force noise ``sigma_forces``.
    block : int
        Queued frames labelled together before the model is updated; a step above twice
        ``lower`` labels the queue at once.
    new_sparse : int
        Most uncertain environments of each labelled frame that become sparse points at
        the next consolidation.
    consolidate_every : int
        Labelled frames between consolidations (every row rebuilt with the grown sparse
        set); updates in between add rows only.
    converged_after : int
        Steps without a label that end the run (0: run all ``steps``).
    target_error : float
        eV/Å: the run also ends when the force MAE of the last ``error_window`` labelled
        frames, each scored before it was learned, falls below it (0: never).
    error_window : int
        Labelled frames the running error averages.
    min_interval : int
        Steps after a label during which uncertain frames are neither labelled nor
        trusted (consecutive frames teach the model little more than one of them).
    audit_every : int
        Every this many steps the frame is labelled whatever its uncertainty: an
        unbiased sample of the model's error that calibrates the std (0: never; then the
        uncertainty-chosen labels calibrate it, too pessimistically).
    min_distance : float
        Å: a step that brings two atoms closer is rejected like one above ``upper``.
    checkpoint_every : int
        Steps between checkpoints besides those after every update.
    seed : int
        Seed of the initial velocities and of the Langevin noise.
    """

    ensemble: str = "langevin"
    temperature: float = 300.0
    timestep: float = 0.5
    friction: float = 0.01
    steps: int = 2000
    lower: float = 0.1
    upper: float = 0.6
    relative: bool = False
    block: int = 1
    new_sparse: int = 2
    consolidate_every: int = 10
    converged_after: int = 1000
    target_error: float = 0.0
    error_window: int = 10
    min_interval: int = 10
    audit_every: int = 200
    min_distance: float = 0.7
    checkpoint_every: int = 100
    seed: int = 0

    def check(self) -> None:
        check_choice(self.ensemble, ("langevin", "nve"), "learn.ensemble")
        for name in ("temperature", "timestep", "friction", "steps", "block", "error_window",
                     "consolidate_every", "checkpoint_every", "min_distance"):
            value = getattr(self, name)
            if not value > 0 and not (name == "temperature" and value == 0):
                raise ConfigError(f"'learn.{name}' must be positive; got {value!r}.")
        for name in ("new_sparse", "converged_after", "seed", "min_interval", "audit_every",
                     "target_error"):
            if getattr(self, name) < 0:
                raise ConfigError(f"'learn.{name}' must not be negative; got "
                                  f"{getattr(self, name)!r}.")
        if not 0 < self.lower < self.upper:
            raise ConfigError(
                f"The thresholds must satisfy 0 < learn.lower < learn.upper; got lower "
                f"{self.lower!r} and upper {self.upper!r}. Below 'lower' the run goes on, "
                "above 'upper' a step is rejected.")


__all__ = ["LearnOptions"]
