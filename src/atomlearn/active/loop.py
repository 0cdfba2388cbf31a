"""On-the-fly learning: molecular dynamics with a model that calls the reference code
where its force uncertainty says it does not know the structure.

Every step computes the largest force standard deviation u of the new frame and
:func:`decide` acts on it: below ``lower`` the run goes on (the frame is trusted); between
``lower`` and ``upper`` the frame is queued, and the queue is labelled when it holds
``block`` frames or when u passes twice ``lower``; above ``upper`` (or with two atoms
closer than ``min_distance``) the step is rejected: the run returns to the last trusted
frame and the rejected frame is labelled. Labels update the model at once (a sparse GP
by a rank-k QR update; networks are fine-tuned from their weights); every
``consolidate_every`` labels the most uncertain environments of the labelled frames join
a sparse GP's sparse points and every row is rebuilt. The model's error on each frame
before it learns it is an honest running test error; the run ends after
``converged_after`` steps without a label, or after ``steps``.

Everything goes to the run folder as it happens: ``labels/`` (each reference result, see
:class:`~atomlearn.labelers.LabelStore`), ``labelled.xyz``, ``trajectory.xyz``,
``log.csv`` (one row per step), ``model.alm`` and ``checkpoint.npz`` (positions,
momenta, the Langevin generator's state and the counters, after every update and every
``checkpoint_every`` steps). The run's model is always the one on disk (reloaded after
each save), so a killed run resumed from its checkpoint repeats the uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import ase
import ase.io
import numpy as np
from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from tqdm.auto import tqdm

from ..calculators import ModelCalculator
from ..errors import DataError
from ..files import atomic_path
from ..labelers import Labeler, LabelStore, label_structures
from ..models import load_model
from .options import LearnOptions

log = logging.getLogger(__name__)

LOG_COLUMNS = ("step", "time_fs", "temperature", "max_force_std", "action", "n_labels",
               "force_mae", "force_rmse", "within_1sigma", "within_2sigma")
POOL_COLUMNS = ("n_labels", "chosen", "max_force_std", "force_mae", "force_rmse",
                "within_1sigma", "within_2sigma")


def decide(uncertainty: float, options: LearnOptions, queued: int,
           too_close: bool = False, since_label: int | None = None, step: int = 1) -> str:
    """What a step with largest force std ``uncertainty`` leads to: ``"go"``,
    ``"queue"`` (kept for labelling later), ``"label"`` (label the queue with this frame
    now), ``"reject"`` (return to the last trusted frame and label this one), ``"wait"``
    (uncertain, but within ``min_interval`` steps of the last label: neither trusted nor
    labelled) or ``"audit"`` (every ``audit_every`` steps a frame below ``upper`` is
    labelled whatever its uncertainty: an unbiased sample for the std's calibration)."""
    if too_close or uncertainty >= options.upper:
        return "reject"
    if options.audit_every and step % options.audit_every == 0:
        return "audit"
    if uncertainty < options.lower:
        return "go"
    if since_label is not None and since_label < options.min_interval:
        return "wait"
    if uncertainty >= 2 * options.lower or queued + 1 >= options.block:
        return "label"
    return "queue"


@dataclass
class _State:
    step: int = 0
    n_labels: int = 0
    since_label: int = 0
    since_consolidation: int = 0
    candidates: list = field(default_factory=list)     # [labelled index, atom indices]
    sq_error: float = 0.0      # sums over labelled force components before learning them
    sq_std: float = 0.0        # (uncalibrated latent std), for the std's calibration
    audit_sq_error: float = 0.0    # the same over audit frames only (an unbiased sample)
    audit_sq_std: float = 0.0
    recent_errors: list = field(default_factory=list)   # force MAE of the last labels
    stopped: str = ""


class OnTheFly:
    """On-the-fly learning of a potential (energies and forces) with a reference code.

    Parameters
    ----------
    model : StructureModel
        Unfitted (fitted here to the labelled start structures) with energy and force
        targets and uncertainties.
    labeler : Labeler
    options : LearnOptions
    directory : path
        The run folder.
    """

    def __init__(self, model, labeler: Labeler, options: LearnOptions, directory) -> None:
        options.check()
        self.model, self.labeler, self.options = model, labeler, options
        self.directory = Path(directory)
        self.store = LabelStore(self.directory / "labels", labeler.method)
        self.labelled: list[ase.Atoms] = []

    # -- files ------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.directory / name

    def _save_model(self) -> None:
        self.model.save(self._path("model.alm"))
        self.model = load_model(self._path("model.alm"))   # what a resumed run has

    def _save_labelled(self) -> None:
        with atomic_path(self._path("labelled.xyz")) as tmp:
            ase.io.write(tmp, self.labelled, format="extxyz")

    def _checkpoint(self, atoms: ase.Atoms, trusted, rng, state: _State) -> None:
        meta = {"step": state.step, "n_labels": state.n_labels,
                "since_label": state.since_label,
                "since_consolidation": state.since_consolidation,
                "candidates": state.candidates, "sq_error": state.sq_error,
                "sq_std": state.sq_std, "audit_sq_error": state.audit_sq_error,
                "audit_sq_std": state.audit_sq_std, "n_labelled": len(self.labelled),
                "recent_errors": state.recent_errors,
                "rng": rng.bit_generator.state if rng is not None else None}
        with atomic_path(self._path("checkpoint.npz")) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, positions=atoms.positions, momenta=atoms.get_momenta(),
                     trusted_positions=trusted[0], trusted_momenta=trusted[1],
                     meta=np.array(json.dumps(meta)))

    # -- the run ----------------------------------------------------------------------
    def run(self, start: list[ase.Atoms] | None = None, *, resume: bool = False,
            progress: bool = True) -> dict:
        """Learn along one trajectory from the last of the ``start`` structures (all of
        them labelled first and fitted), or resume the run in the folder.

        Returns
        -------
        dict
            ``steps``, ``labels`` (reference calls during the run), ``stopped``
            (``"converged"``, ``"target error"``, ``"steps"``).
        """
        o = self.options
        if resume and self._path("checkpoint.npz").exists():
            atoms, trusted, rng, state = self._resume()
        else:
            atoms, trusted, rng, state = self._begin(start)
        dt = o.timestep * units.fs
        dyn = (Langevin(atoms, dt, temperature_K=o.temperature, fixcm=False,
                        friction=o.friction / units.fs, rng=rng)
               if o.ensemble == "langevin" else VelocityVerlet(atoms, dt))
        self._attach(atoms)
        queue: list[ase.Atoms] = []
        noise = self._force_noise()
        with open(self._path("log.csv"), "a", newline="") as log_fh, \
                open(self._path("trajectory.xyz"), "a") as traj_fh, \
                tqdm(total=o.steps, initial=state.step, desc="learning", unit="step",
                     disable=None if progress else True) as bar:
            writer = csv.writer(log_fh)
            while state.step < o.steps:
                state.step += 1
                atoms.calc.request_std()
                atoms.info["_frame"] = state.step
                dyn.run(1)
                fstd = atoms.calc.results["forces_std"]
                u = float(fstd.max()) / (noise if o.relative else 1.0)
                action = decide(u, o, len(queue), _too_close(atoms, o.min_distance),
                                state.since_label, state.step)
                row = {"step": state.step, "time_fs": state.step * o.timestep,
                       "temperature": atoms.get_temperature(), "max_force_std": u,
                       "action": action}
                if action in ("go", "wait"):
                    if action == "go":
                        trusted = (atoms.positions.copy(), atoms.get_momenta().copy())
                    state.since_label += 1
                else:
                    queue.append(self._snapshot(atoms, state.step,
                                                atoms.calc.results["forces"], fstd,
                                                audit=action == "audit"))
                if action in ("label", "reject", "audit"):
                    if action == "reject":
                        atoms.positions = trusted[0].copy()
                        atoms.set_momenta(trusted[1].copy())
                    row.update(self._learn(queue, state))
                    queue = []
                    self._attach(atoms)
                    noise = self._force_noise()
                row["n_labels"] = state.n_labels
                writer.writerow([_cell(row.get(c)) for c in LOG_COLUMNS])
                frame = atoms.copy()
                frame.calc, frame.info = None, {"step": state.step,
                                                "max_force_std": u, "action": action}
                ase.io.write(traj_fh, frame, format="extxyz")
                if action in ("label", "reject", "audit") or \
                        state.step % o.checkpoint_every == 0:
                    log_fh.flush()
                    traj_fh.flush()
                    self._checkpoint(atoms, trusted, rng, state)
                bar.update(1)
                bar.set_postfix(labels=state.n_labels, u=f"{u:.3g}",
                                error=row.get("force_mae", ""))
                if o.converged_after and state.since_label >= o.converged_after:
                    state.stopped = "converged"
                    break
                if "force_mae" in row and self._running_error(state) < o.target_error:
                    state.stopped = "target error"
                    break
            state.stopped = state.stopped or "steps"
            log_fh.flush()
            traj_fh.flush()
            self._checkpoint(atoms, trusted, rng, state)
        return self._summary(state)

    def _fit_start(self, start, columns=LOG_COLUMNS) -> None:
        """A fresh run folder; the start structures labelled and the model fitted."""
        if not start:
            raise DataError("On-the-fly learning needs at least one start structure.")
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in ("log.csv", "trajectory.xyz"):
            self._path(name).unlink(missing_ok=True)
        with open(self._path("log.csv"), "w", newline="") as fh:
            csv.writer(fh).writerow(columns)
        for k, atoms in enumerate(start):
            self.labeler.check(atoms, f"start structure {k}")
        labelled = [a for a in label_structures(start, self.labeler, self.store,
                                                progress=False) if a is not None]
        if not labelled:
            raise DataError("The labeller failed on every start structure; see the log.")
        self.labelled = labelled
        self._save_labelled()
        self.model.fit(labelled)
        self._save_model()

    def _begin(self, start):
        o = self.options
        self._fit_start(start)
        atoms = start[-1].copy()
        atoms.calc = None
        atoms.info = {"_source": "on-the-fly MD", "_frame": 0}
        thermalize_momenta(atoms, temperature_K=o.temperature,
                           rng=np.random.default_rng(o.seed))
        Stationary(atoms)
        if not atoms.pbc.any():
            ZeroRotation(atoms)
        rng = np.random.default_rng(o.seed + 1) if o.ensemble == "langevin" else None
        trusted = (atoms.positions.copy(), atoms.get_momenta().copy())
        state = _State(n_labels=0)
        self._checkpoint(atoms, trusted, rng, state)
        return atoms, trusted, rng, state

    def _resume(self):
        with np.load(self._path("checkpoint.npz")) as ck:
            meta = json.loads(str(ck["meta"]))
            positions, momenta = ck["positions"], ck["momenta"]
            trusted = (ck["trusted_positions"], ck["trusted_momenta"])
        self.model = load_model(self._path("model.alm"))
        # a kill between writing labelled.xyz and the checkpoint leaves frames the
        # checkpoint does not know: they are labelled (from the store) again
        self.labelled = ase.io.read(self._path("labelled.xyz"), index=":")[:meta["n_labelled"]]
        state = _State(meta["step"], meta["n_labels"], meta["since_label"],
                       meta["since_consolidation"], meta["candidates"], meta["sq_error"],
                       meta["sq_std"], meta["audit_sq_error"], meta["audit_sq_std"],
                       meta["recent_errors"])
        rng = None
        if meta["rng"] is not None:
            rng = np.random.default_rng()
            rng.bit_generator.state = meta["rng"]
        # what was written after the checkpoint is written again
        _truncate_log(self._path("log.csv"), state.step)
        frames = [f for f in ase.io.read(self._path("trajectory.xyz"), index=":")
                  if f.info["step"] <= state.step] if self._path("trajectory.xyz").exists() \
            else []
        with atomic_path(self._path("trajectory.xyz")) as tmp:
            ase.io.write(tmp, frames, format="extxyz")
        atoms = self.labelled[0].copy()
        atoms.calc = None
        atoms.info = {"_source": "on-the-fly MD", "_frame": state.step}
        atoms.positions = positions
        atoms.set_momenta(momenta)
        log.info("resuming at step %d with %d labels", state.step, state.n_labels)
        return atoms, trusted, rng, state

    # -- pool mode --------------------------------------------------------------------
    def run_pool(self, start: list[ase.Atoms], pool: list[ase.Atoms], *,
                 budget: int = 100, progress: bool = True) -> dict:
        """Choose from a fixed set of unlabelled structures: each round labels the
        ``block`` most uncertain pool structures (largest force std), skipping any whose
        mean SOAP vector is within cosine 1e-4 of one already chosen that round
        (diversity); it stops when no structure passes ``lower`` or after ``budget``
        labels. ``log.csv`` has a row per round."""
        o = self.options
        self._fit_start(start, POOL_COLUMNS)
        remaining = list(range(len(pool)))
        state = _State()
        with open(self._path("log.csv"), "a", newline="") as fh, \
                tqdm(total=budget, desc="pool labels", unit="label",
                     disable=None if progress else True) as bar:
            writer = csv.writer(fh)
            while state.n_labels < budget and remaining:
                frames = [pool[i] for i in remaining]
                mean, std = self.model.predict(frames, targets=["energy", "forces"],
                                               return_std=True)
                offsets = np.cumsum([0] + [len(a) for a in frames])
                u = np.array([std["forces"][a:b].max() for a, b in
                              zip(offsets[:-1], offsets[1:], strict=True)])
                u = u / (self._force_noise() if o.relative else 1.0)
                if u.max() < o.lower:
                    state.stopped = "converged"
                    break
                picks = self._diverse(frames, np.argsort(-u), min(o.block, budget
                                                                  - state.n_labels))
                queue = [self._snapshot(frames[k], remaining[k],
                                        mean["forces"][offsets[k]:offsets[k + 1]],
                                        std["forces"][offsets[k]:offsets[k + 1]])
                         for k in picks]
                row = self._learn(queue, state)
                chosen = {remaining[k] for k in picks}
                remaining = [i for i in remaining if i not in chosen]
                writer.writerow([_cell(v) for v in (
                    state.n_labels, " ".join(str(i) for i in sorted(chosen)),
                    float(u.max()), row.get("force_mae"), row.get("force_rmse"),
                    row.get("within_1sigma"), row.get("within_2sigma"))])
                fh.flush()
                bar.update(len(picks))
            state.stopped = state.stopped or ("budget" if remaining else "pool exhausted")
        return self._summary(state)

    def _diverse(self, frames, order, n: int) -> list[int]:
        """The first ``n`` of ``order`` (among its first 10 n) whose mean SOAP vectors
        differ from each other's."""
        if n <= 1:
            return [int(order[0])]
        candidates = [int(k) for k in order[: 10 * n]]
        f = self.model.descriptor_.compute([frames[k] for k in candidates])
        means = np.stack([f.values[f.structure_index == s].mean(0)
                          for s in range(len(candidates))])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        chosen: list[int] = []
        for pos in range(len(candidates)):
            if all(1 - means[pos] @ means[c] > 1e-4 for c in chosen):
                chosen.append(pos)
            if len(chosen) == n:
                break
        return [candidates[c] for c in chosen]

    # -- learning ---------------------------------------------------------------------
    def _snapshot(self, atoms: ase.Atoms, index: int, forces: np.ndarray,
                  fstd: np.ndarray, audit: bool = False) -> ase.Atoms:
        """A frame to label, with what the model predicted for it (scored once labelled):
        ``index`` is its MD step or pool position."""
        frame = atoms.copy()
        frame.calc = None
        frame.info = {"md_step": int(index), "std_scale": self.model.std_scale("forces"),
                      "audit": audit}
        frame.arrays["pred_forces"] = np.array(forces)
        frame.arrays["pred_forces_std"] = np.array(fstd)
        return frame

    def _learn(self, queue: list[ase.Atoms], state: _State) -> dict:
        """Label the queued frames, score the model on them, update it."""
        results = label_structures(queue, self.labeler, self.store, progress=False)
        pairs = [(a, q) for a, q in zip(results, queue, strict=True) if a is not None]
        if not pairs:
            return {}
        done = [a for a, _ in pairs]
        errors, z = [], []
        for atoms, frame in pairs:
            diff = frame.arrays["pred_forces"] - atoms.get_forces()
            total = np.sqrt(frame.arrays["pred_forces_std"] ** 2
                            + self.model.noise_std("forces", [atoms]) ** 2)
            errors.append(diff.ravel())
            state.recent_errors = (state.recent_errors + [float(np.mean(np.abs(diff)))])[-100:]
            z.append((np.abs(diff) / total).ravel())
            raw = float(np.sum((frame.arrays["pred_forces_std"]
                                / frame.info["std_scale"]) ** 2))
            state.sq_error += float(np.sum(diff**2))
            state.sq_std += raw
            if frame.info.get("audit"):
                state.audit_sq_error += float(np.sum(diff**2))
                state.audit_sq_std += raw
            atoms.info["md_step"] = frame.info["md_step"]
            order = np.argsort(-np.linalg.norm(frame.arrays["pred_forces_std"], axis=1))
            state.candidates.append([len(self.labelled), order[: self.options.new_sparse]
                                     .tolist()])
            for key in ("pred_forces", "pred_forces_std"):
                atoms.arrays.pop(key, None)
            self.labelled.append(atoms)
        err, z = np.concatenate(errors), np.concatenate(z)
        state.n_labels += len(done)
        state.since_label = 0
        state.since_consolidation += len(done)
        self._save_labelled()
        self._update(done, state)
        self._calibrate(state)
        self._save_model()
        return {"force_mae": float(np.mean(np.abs(err))),
                "force_rmse": float(np.sqrt(np.mean(err**2))),
                "within_1sigma": float(np.mean(z <= 1)), "within_2sigma": float(np.mean(z <= 2))}

    def _update(self, new: list[ase.Atoms], state: _State) -> None:
        model = self.model
        if hasattr(model, "fine_tune"):      # networks: from their weights, on everything
            model.fine_tune(self.labelled)
            return
        if state.since_consolidation >= self.options.consolidate_every:
            if self.options.new_sparse and state.candidates:
                model.add_sparse_points([self.labelled[i] for i, _ in state.candidates],
                                        [idx for _, idx in state.candidates])
            model.consolidate(self.labelled)
            state.candidates, state.since_consolidation = [], 0
            return
        model.update(new)

    def _attach(self, atoms: ase.Atoms) -> None:
        """The current model as the calculator, with the forces at the current positions
        computed now (the next step's request for uncertainties then concerns its new
        positions)."""
        atoms.calc = ModelCalculator(self.model)
        atoms.get_forces()

    def _running_error(self, state: _State) -> float:
        """Force MAE of the last ``error_window`` labelled frames before learning them
        (inf until there are that many)."""
        recent = state.recent_errors[-self.options.error_window:]
        return (float(np.mean(recent)) if len(recent) == self.options.error_window
                else float("inf"))

    def _calibrate(self, state: _State) -> None:
        """Scale the force std so that its mean square matches that of the errors of
        labelled frames, each scored before it was learned: the audit frames when there
        are any (frames labelled for their uncertainty are a biased sample: chosen where
        the std is large, they make it look too pessimistic elsewhere), else all. A
        sparse GP's force std keeps the prior's Nystrom residual and is too large by a
        factor that holds along a run; committees can be over- or under-confident."""
        error, std = ((state.audit_sq_error, state.audit_sq_std) if state.audit_sq_std > 0
                      else (state.sq_error, state.sq_std))
        if std > 0:
            scale = float(np.sqrt(error / std))
            self.model.calibration_ = {**self.model.calibration_, "forces": {
                "scale": scale, "n_held_out": state.n_labels, "source": "on-the-fly"}}

    def _force_noise(self) -> float:
        return float(self.model.noise_std("forces", self.labelled[:1]).max())

    def _summary(self, state: _State) -> dict:
        summary = {"steps": state.step, "labels": state.n_labels, "stopped": state.stopped,
                   "labelled_structures": len(self.labelled)}
        with atomic_path(self._path("summary.json")) as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
        return summary


def _too_close(atoms: ase.Atoms, limit: float) -> bool:
    if len(atoms) < 2:
        return False
    d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return bool(d[np.triu_indices(len(atoms), 1)].min() < limit)


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _truncate_log(path: Path, step: int) -> None:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [rows[0]] + [r for r in rows[1:] if int(r[0]) <= step]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(keep)


__all__ = ["LOG_COLUMNS", "OnTheFly", "decide"]
