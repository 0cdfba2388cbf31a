"""``atomlearn fit --executor``: a sparse GP fitted from chunk tasks on a process pool
predicts what the serial fit does; networks are refused."""

import numpy as np
import yaml

from atomlearn.cli.main import main
from atomlearn.datasets import load_ethanol
from atomlearn.models import load_model

OPTIONS = {"targets": {"energy": {"forces": True}},
           "data": {"train": "ethanol", "index": "0:40", "test_fraction": 0.25, "seed": 0},
           "model": {"type": "sparse_gpr", "n_sparse": 30, "chunk_size": 6,
                     "hyperparameters": "fixed", "sigma": 2e-3, "sigma_forces": 0.05,
                     "descriptor": {"cutoff": 4.0, "n_max": 4, "l_max": 3}}}


def test_fit_on_a_process_pool_equals_the_serial_fit(tmp_path, capsys):
    (tmp_path / "o.yaml").write_text(yaml.safe_dump(OPTIONS))
    assert main(["fit", str(tmp_path / "o.yaml"), "-o", str(tmp_path / "serial.alm")]) == 0
    assert main(["fit", str(tmp_path / "o.yaml"), "-o", str(tmp_path / "pool.alm"),
                 "--executor", "process", "--workers", "2"]) == 0
    frames = load_ethanol("100:104")
    a = load_model(tmp_path / "serial.alm").predict(frames)
    b = load_model(tmp_path / "pool.alm").predict(frames)
    np.testing.assert_allclose(b["forces"], a["forces"], atol=1e-7)
    np.testing.assert_allclose(b["energy"], a["energy"], atol=1e-7)
    nn = {**OPTIONS, "model": {"type": "mpnn", "epochs": 1}}
    (tmp_path / "nn.yaml").write_text(yaml.safe_dump(nn))
    capsys.readouterr()
    assert main(["fit", str(tmp_path / "nn.yaml"), "-o", str(tmp_path / "nn.alm"),
                 "--executor", "process", "--workers", "1"]) == 2
    assert "--executor distributes sparse GP fits and committee members" in \
        capsys.readouterr().err


def test_learning_curve_points_on_a_process_pool(tmp_path, capsys):
    (tmp_path / "o.yaml").write_text(yaml.safe_dump(OPTIONS))
    base = ["learning-curve", str(tmp_path / "o.yaml"), "--train-sizes", "5", "10",
            "--repeats", "2"]
    assert main(base + ["-o", str(tmp_path / "serial.csv")]) == 0
    assert main(base + ["-o", str(tmp_path / "pool.csv"), "--executor", "process",
                        "--workers", "2"]) == 0
    a = np.genfromtxt(tmp_path / "serial.csv", delimiter=",", names=True, dtype=None,
                      encoding=None)
    b = np.genfromtxt(tmp_path / "pool.csv", delimiter=",", names=True, dtype=None,
                      encoding=None)
    np.testing.assert_allclose(b["value"], a["value"], rtol=1e-8)


def test_committee_members_train_as_tasks(tmp_path):
    from atomlearn.executors import close, make_executor
    from atomlearn.models import MessagePassingModel

    frames = load_ethanol("0:12")
    hypers = dict(cutoff=4.0, n_features=8, n_interactions=1, n_rbf=6, n_hidden=[8],
                  epochs=2, batch_size=4, n_models=2)
    serial = MessagePassingModel(**hypers).fit(frames)
    executor = make_executor("process", workers=2)
    try:
        pooled = MessagePassingModel(**hypers)
        pooled.executor = executor
        pooled.fit(frames)
    finally:
        close(executor)
    # the same seeds per member: the same committee
    a, b = serial.predict(frames[:3]), pooled.predict(frames[:3])
    np.testing.assert_allclose(b["forces"], a["forces"], atol=1e-6)


def test_a_scheduler_that_does_not_answer_is_reported_in_seconds(tmp_path):
    import json
    import time

    import pytest

    from atomlearn.errors import ConfigError
    from atomlearn.executors import make_executor

    path = tmp_path / "scheduler.json"
    path.write_text(json.dumps({"type": "Scheduler", "id": "x", "address":
                                "tcp://127.0.0.1:9", "services": {}, "workers": {}}))
    start = time.monotonic()
    with pytest.raises(ConfigError, match="did not answer within 2 s"):
        make_executor("dask", scheduler_file=str(path), connect_timeout=2)
    assert time.monotonic() - start < 15
