"""scikit-learn's own GP test files and estimator checks pass against atomlearn's classes."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "sklearn_compat.py"


def test_sklearn_gp_tests_pass_against_atomlearn():
    # a subprocess: the script redirects sklearn.gaussian_process for its whole process
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                         timeout=900)
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert summary.endswith(", 0 failed"), summary
    assert int(summary.split(": ")[1].split(" passed")[0]) > 450, summary
