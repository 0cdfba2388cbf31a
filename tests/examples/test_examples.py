import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpr_1d_worked_example(tmp_path, capsys):
    written = _load("gpr_1d").main(["--out", str(tmp_path), "--n-train", "15", "--quick"])
    assert [p.name for p in written] == [
        "1_prior.png", "2_posterior.png", "3_hyperparameters.png", "4_lml_surface.png",
        "5_sparse_vs_full.png", "6_learning_curve.png"]
    assert all(p.stat().st_size > 5000 for p in written)
