"""``atomlearn learn`` with tblite: a short run, its files and picture, a resumed run, and
refusals with exit code 2."""

import csv

import yaml

from atomlearn.cli.main import main

OPTIONS = {"targets": {"energy": {"forces": True}},
           "model": {"type": "sparse_gpr", "n_sparse": 1000,
                     "descriptor": {"cutoff": 4.0, "n_max": 4, "l_max": 3},
                     "kernel": {"delta": 10.0}, "sigma": 1e-3, "sigma_forces": 0.03,
                     "hyperparameters": "fixed", "validation_fraction": 0.0},
           "learn": {"steps": 15, "lower": 0.1, "upper": 0.6, "converged_after": 0}}


def test_learn_writes_the_run_and_resumes(tmp_path, capsys):
    (tmp_path / "learn.yaml").write_text(yaml.safe_dump(OPTIONS))
    run = tmp_path / "run"
    assert main(["learn", str(tmp_path / "learn.yaml"), "--start", "ethanol",
                 "--start-index", "0:3", "--labeler", "tblite", "-o", str(run)]) == 0
    out = capsys.readouterr().out
    assert "15 steps" in out and "reference calls" in out
    for name in ("model.alm", "labelled.xyz", "trajectory.xyz", "log.csv", "learning.png",
                 "options.yaml", "checkpoint.npz", "summary.json"):
        assert (run / name).exists(), name
    assert (run / "learning.png").stat().st_size > 10_000
    # a resumed run with more steps continues from the checkpoint
    assert main(["learn", str(tmp_path / "learn.yaml"), "--labeler", "tblite", "-o", str(run),
                 "--resume", "--set", "learn.steps=20"]) == 0
    with open(run / "log.csv", newline="") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == list(range(1, 21))


def test_learn_refusals(tmp_path, capsys):
    (tmp_path / "learn.yaml").write_text(yaml.safe_dump(OPTIONS))
    args = ["learn", str(tmp_path / "learn.yaml"), "-o", str(tmp_path / "r")]
    assert main(args + ["--labeler", "tblite"]) == 2
    assert "A new run needs --start" in capsys.readouterr().err
    assert main(args + ["--labeler", "tbliet", "--start", "ethanol"]) == 2
    assert "Did you mean 'tblite'" in capsys.readouterr().err
    assert main(args + ["--labeler", "tblite", "--start", "ethanol", "--set",
                        "learn.upper=0.05"]) == 2
    assert "0 < learn.lower < learn.upper" in capsys.readouterr().err
    no_forces = {**OPTIONS, "targets": {"energy": {"forces": False}}}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(no_forces))
    assert main(["learn", str(tmp_path / "e.yaml"), "-o", str(tmp_path / "r"), "--labeler",
                 "tblite", "--start", "ethanol", "--start-index", "0:2"]) == 2
    assert "needs a potential with forces and uncertainties" in capsys.readouterr().err


def test_learn_pool_mode(tmp_path, capsys):
    (tmp_path / "learn.yaml").write_text(yaml.safe_dump(OPTIONS))
    assert main(["learn", str(tmp_path / "learn.yaml"), "--start", "ethanol",
                 "--start-index", "0:2", "--labeler", "tblite", "-o", str(tmp_path / "p"),
                 "--pool", "ethanol", "--pool-index", "100:300:20", "--budget", "2"]) == 0
    assert "2 reference calls on the pool (budget)" in capsys.readouterr().out
    assert main(["learn", str(tmp_path / "learn.yaml"), "--start", "ethanol", "--labeler",
                 "tblite", "-o", str(tmp_path / "q"), "--pool", "ethanol", "--budget",
                 "0"]) == 2
    assert "--budget must be at least 1" in capsys.readouterr().err
