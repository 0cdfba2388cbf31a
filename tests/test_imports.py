"""Dependencies point one way along the pipeline (STYLE B1)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "atomlearn"
ORDER = ["errors", "options", "threads", "structures", "neighbors", "descriptors", "targets",
         "kernels", "gp", "nn", "metrics", "serialization", "models", "config", "workflows",
         "electronic", "calculators", "cli"]


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            parts = path.relative_to(SRC).parts
            base = list(parts[:-1])[: len(parts) - node.level]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                yield target[0]


@pytest.mark.parametrize("stage", ORDER)
def test_no_upward_imports(stage):
    rank = {name: i for i, name in enumerate(ORDER)}
    files = (SRC / stage).rglob("*.py") if (SRC / stage).is_dir() else [SRC / f"{stage}.py"]
    files = [f for f in files if f.exists()]  # stages still to come have no files yet
    for path in files:
        for target in _imports(path):
            if target in rank and target != stage:
                assert rank[target] < rank[stage], f"{path} imports {target} (upward)"


def test_gp_users_do_not_wait_for_pytorch():
    """The CLI and the GP models load without importing torch; networks load it lazily."""
    import subprocess
    import sys

    code = ("import sys, atomlearn.cli.main, atomlearn.workflows, atomlearn.calculators\n"
            "assert 'torch' not in sys.modules\n"
            "from atomlearn.models import model_class, MessagePassingModel\n"
            "assert 'torch' in sys.modules and model_class('mpnn') is MessagePassingModel\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_featomic_is_imported_without_pytorch():
    """metatensor would import torch; a GP fit and predict must not pay for it, and torch
    stays importable afterwards."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from ase.build import molecule\n"
            "from atomlearn.descriptors import LambdaSoap, SoapPowerSpectrum\n"
            "SoapPowerSpectrum(n_max=2, l_max=1).compute([molecule('H2O')], "
            "gradients=['positions'])\n"
            "LambdaSoap(n_max=2, l_max=1).compute_equivariant([molecule('H2O')])\n"
            "assert 'torch' not in sys.modules, 'featomic pulled in torch'\n"
            "import torch\n"
            "assert torch.ones(2).sum() == 2\n")
    subprocess.run([sys.executable, "-c", code], check=True)
