"""On-the-fly learning with tblite as the reference: the rules, the files, a killed and
resumed run, and the refusals."""

import csv
import re

import ase.io
import numpy as np
import pytest

from atomlearn.active import LearnOptions, OnTheFly, decide
from atomlearn.datasets import load_ethanol
from atomlearn.errors import ConfigError, DataError
from atomlearn.labelers import LabelError, labeler_from_name
from atomlearn.labelers.tblite import TBLiteLabeler
from atomlearn.models import SparseGPRModel, load_model

OPTIONS = dict(steps=40, lower=0.1, upper=0.6, temperature=300, new_sparse=9,
               consolidate_every=3, converged_after=0, checkpoint_every=7, seed=3,
               min_interval=2, audit_every=15)


def _model():
    return SparseGPRModel(n_sparse=1000, descriptor={"cutoff": 4.0, "n_max": 4, "l_max": 3},
                          kernel={"delta": 10.0}, sigma=1e-3, sigma_forces=0.03,
                          hyperparameters="fixed", validation_fraction=0.0)


def _log(folder):
    with open(folder / "log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_decisions_follow_the_thresholds():
    o = LearnOptions(lower=0.1, upper=0.5, block=3, min_interval=4, audit_every=50)
    assert decide(0.05, o, 0) == "go"
    assert decide(0.12, o, 0) == "queue" and decide(0.12, o, 1) == "queue"
    assert decide(0.12, o, 2) == "label"             # the block is full
    assert decide(0.21, o, 0) == "label"             # above twice 'lower': at once
    assert decide(0.5, o, 0) == "reject" and decide(0.05, o, 0, too_close=True) == "reject"
    assert decide(0.21, o, 0, since_label=3) == "wait"          # just labelled
    assert decide(0.21, o, 0, since_label=4) == "label"
    assert decide(0.01, o, 0, step=100) == "audit"              # whatever its std
    assert decide(0.7, o, 0, step=100) == "reject"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("otf")
    summary = OnTheFly(_model(), labeler_from_name("tblite"), LearnOptions(**OPTIONS),
                       folder).run(load_ethanol("0:5"), progress=False)
    return folder, summary


def test_labels_when_and_only_when_the_rules_say(run):
    folder, summary = run
    rows = _log(folder)
    assert [int(r["step"]) for r in rows] == list(range(1, 41))
    labelled = ase.io.read(folder / "labelled.xyz", index=":")
    steps = [a.info["md_step"] for a in labelled[5:]]
    acting = [int(r["step"]) for r in rows if r["action"] in ("label", "reject", "audit")]
    assert steps == acting and summary["labels"] == len(acting) > 0
    last = 0
    for r in rows:
        u, step, action = float(r["max_force_std"]), int(r["step"]), r["action"]
        assert (action == "audit") == (step % 15 == 0 and u < 0.6)
        if action != "audit":
            assert (u < 0.1) == (action == "go")
            assert (u >= 0.6) == (action == "reject")
            assert (action == "wait") == (0.1 <= u < 0.6 and step - last <= 2)
        assert bool(r["force_mae"]) == (action in ("label", "reject", "audit"))
        if r["force_mae"]:
            last = step
    # the labels are the reference's, and the model learned them
    ref = TBLiteLabeler()
    for atoms in labelled[-2:]:
        np.testing.assert_allclose(atoms.get_forces(), ref(atoms)["forces"], atol=1e-6)
    model = load_model(folder / "model.alm")
    assert model.n_train_ == len(labelled)
    assert model.calibration_["forces"]["source"] == "on-the-fly"
    assert len(ase.io.read(folder / "trajectory.xyz", index=":")) == 40


class Killed(TBLiteLabeler):
    """tblite that is killed at its n-th call (after n - 1 stored labels)."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def compute(self, atoms):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt
        return super().compute(atoms)


def test_a_killed_run_resumes_to_the_same_labels_and_model(run, tmp_path):
    folder, _ = run
    with pytest.raises(KeyboardInterrupt):
        OnTheFly(_model(), Killed(5 + 4), LearnOptions(**OPTIONS), tmp_path).run(
            load_ethanol("0:5"), progress=False)
    OnTheFly(_model(), labeler_from_name("tblite"), LearnOptions(**OPTIONS), tmp_path).run(
        resume=True, progress=False)
    a = ase.io.read(folder / "labelled.xyz", index=":")
    b = ase.io.read(tmp_path / "labelled.xyz", index=":")
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.positions, y.positions)
    assert _log(folder) == _log(tmp_path)
    wa = load_model(folder / "model.alm").solution_.weights
    np.testing.assert_array_equal(wa, load_model(tmp_path / "model.alm").solution_.weights)


class Flaky(TBLiteLabeler):
    """Fails on its second call during the run."""

    calls = 0

    def compute(self, atoms):
        Flaky.calls += 1
        if Flaky.calls == 7:
            raise LabelError("SCF did not converge in 100 cycles.")
        return super().compute(atoms)


def test_refusals_and_a_failing_reference(tmp_path, caplog):
    with pytest.raises(ConfigError, match=re.escape("0 < learn.lower < learn.upper; got "
                                                    "lower 0.5 and upper 0.2")):
        OnTheFly(_model(), TBLiteLabeler(), LearnOptions(lower=0.5, upper=0.2), tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot be written"):
        OnTheFly(_model(), TBLiteLabeler(), LearnOptions(), blocker / "run")
    frames = load_ethanol("0:3")
    frames[1].numbers[3] = 118
    with pytest.raises(DataError, match=re.escape("start structure 1 contains ['Og']")):
        OnTheFly(_model(), TBLiteLabeler(), LearnOptions(), tmp_path / "a").run(
            frames, progress=False)
    summary = OnTheFly(_model(), Flaky(), LearnOptions(**{**OPTIONS, "steps": 12}),
                       tmp_path / "b").run(load_ethanol("0:5"), progress=False)
    assert summary["steps"] == 12
    failed = list((tmp_path / "b" / "labels").glob("*.failed.json"))
    assert len(failed) == 1 and "did not converge" in failed[0].read_text()
    assert "SCF did not converge" in caplog.text


def test_pool_mode_labels_the_most_uncertain_distinct_structures(tmp_path):
    pool = load_ethanol("100:400:10")
    options = LearnOptions(**{**OPTIONS, "block": 2, "lower": 1e-3})
    learner = OnTheFly(_model(), labeler_from_name("tblite"), options, tmp_path)
    # the first round's choice, as the fitted start model ranks the pool
    summary = learner.run_pool(load_ethanol("0:3"), pool, budget=5, progress=False)
    assert summary["labels"] == 5 and summary["stopped"] == "budget"
    with open(tmp_path / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    chosen = [int(i) for r in rows for i in r["chosen"].split()]
    assert len(chosen) == len(set(chosen)) == 5
    assert [len(r["chosen"].split()) for r in rows] == [2, 2, 1]
    first = _model().fit(ase.io.read(tmp_path / "labelled.xyz", index="0:3"))
    std = first.predict(pool, return_std=True)[1]["forces"].reshape(len(pool), -1)
    assert int(np.argmax(std.max(1))) in [int(i) for i in rows[0]["chosen"].split()]
    assert len(ase.io.read(tmp_path / "labelled.xyz", index=":")) == 8


def test_a_run_killed_while_updating_resumes_to_the_same_labels(run, tmp_path, monkeypatch):
    """Killed after labelled.xyz was rewritten but before the model and the checkpoint:
    the frames the checkpoint does not know are dropped and labelled again."""
    folder, _ = run
    calls = {"n": 0}
    update = OnTheFly._update

    def dying(self, new, state):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return update(self, new, state)

    monkeypatch.setattr(OnTheFly, "_update", dying)
    with pytest.raises(KeyboardInterrupt):
        OnTheFly(_model(), labeler_from_name("tblite"), LearnOptions(**OPTIONS), tmp_path).run(
            load_ethanol("0:5"), progress=False)
    monkeypatch.setattr(OnTheFly, "_update", update)
    OnTheFly(_model(), labeler_from_name("tblite"), LearnOptions(**OPTIONS), tmp_path).run(
        resume=True, progress=False)
    a = ase.io.read(folder / "labelled.xyz", index=":")
    b = ase.io.read(tmp_path / "labelled.xyz", index=":")
    assert [x.info["md_step"] for x in a[5:]] == [y.info["md_step"] for y in b[5:]]
    assert _log(folder) == _log(tmp_path)


def test_a_committee_is_fine_tuned_from_its_weights():
    from atomlearn.models import MessagePassingModel

    frames = load_ethanol("0:30")
    model = MessagePassingModel(cutoff=4.0, n_features=8, n_interactions=1, n_rbf=6,
                                n_hidden=[8], epochs=3, batch_size=4, n_models=2,
                                learning_rate=5e-3).fit(frames[:8])
    nets = list(model.networks_)
    before = [p.detach().clone() for p in nets[0].parameters()]
    new = frames[8:24]
    ref = np.concatenate([a.get_forces() for a in new])
    error = np.abs(model.predict(new)["forces"] - ref).mean()
    model.fine_tune(frames[:24], epochs=25)
    assert model.networks_[0] is nets[0] and model.n_train_ == 24     # the same networks
    assert any(not np.allclose(a, b.detach()) for a, b in zip(before, nets[0].parameters(),
                                                               strict=True))
    assert np.abs(model.predict(new)["forces"] - ref).mean() < error


def test_a_run_ends_when_its_running_error_reaches_the_target(run, tmp_path):
    folder, _ = run
    rows = [r for r in _log(folder) if r["force_mae"]]
    errors = [float(r["force_mae"]) for r in rows]
    window = 3
    # the first step at which the mean of the last three errors falls below the target
    means = sorted(np.convolve(errors, np.ones(window) / window, "valid"))
    target = (means[2] + means[3]) / 2        # well away from the log's rounding
    stop = next(int(rows[k + window - 1]["step"]) for k in range(len(errors) - window + 1)
                if np.mean(errors[k:k + window]) < target)
    summary = OnTheFly(_model(), labeler_from_name("tblite"), LearnOptions(
        **{**OPTIONS, "target_error": target, "error_window": window}), tmp_path).run(
        load_ethanol("0:5"), progress=False)
    assert summary["stopped"] == "target error" and summary["steps"] == stop
