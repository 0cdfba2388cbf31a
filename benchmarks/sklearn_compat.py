"""Run scikit-learn's own Gaussian-process tests against atomlearn's classes.

    python benchmarks/sklearn_compat.py [-q] [pytest options]

The test files that ship inside the installed scikit-learn
(``sklearn/gaussian_process/tests/test_gpr.py`` and ``test_kernels.py``) are run unchanged;
their imports of ``sklearn.gaussian_process`` and ``sklearn.gaussian_process.kernels`` are
redirected at run time to :mod:`atomlearn.gp` and :mod:`atomlearn.kernels`. Nothing of
scikit-learn's is copied into this repository. Names atomlearn does not provide on purpose
fall back to scikit-learn's (listed in :data:`FALLBACK`), and the tests of those classes are
the expected failures (:data:`EXPECTED`). Then ``check_estimator`` runs on
``GaussianProcessRegressor()`` and ``SparseGaussianProcessRegressor()`` with default
arguments. The summary counts passes and failures; the exit code is non-zero when a test
outside :data:`EXPECTED` fails.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
import warnings
from pathlib import Path

#: scikit-learn names atomlearn does not re-implement: the string-metric PairwiseKernel,
#: CompoundKernel (a kernel per output) and a private finite-difference helper of the tests.
FALLBACK = ("PairwiseKernel", "CompoundKernel", "_approx_fprime")
#: Tests allowed to fail: those whose parameters are the fallback kernels (found at
#: collection), and CompoundKernel's own tests.
EXPECTED = (r"test_compound_kernel",)


def _shim_modules():
    import sklearn.gaussian_process as sk_gp
    import sklearn.gaussian_process.kernels as sk_kernels

    import atomlearn.gp as al_gp
    import atomlearn.kernels as al_kernels

    kernels = types.ModuleType("sklearn.gaussian_process.kernels")
    for name in dir(sk_kernels):
        if name.startswith("__"):
            continue
        if hasattr(al_kernels, name) and name not in FALLBACK:
            setattr(kernels, name, getattr(al_kernels, name))
        elif name in FALLBACK:
            setattr(kernels, name, getattr(sk_kernels, name))
    gp = types.ModuleType("sklearn.gaussian_process")
    gp.__path__ = sk_gp.__path__            # the tests subpackage stays importable
    gp.GaussianProcessRegressor = al_gp.GaussianProcessRegressor
    gp.GaussianProcessClassifier = sk_gp.GaussianProcessClassifier
    gp.kernels = kernels
    missing = sorted(n for n in dir(sk_kernels) if not n.startswith("_")
                     and isinstance(getattr(sk_kernels, n), type)
                     and not hasattr(kernels, n))
    return gp, kernels, missing


class RedirectPlugin:
    """pytest plugin: install the redirection before the test modules are imported."""

    def __init__(self):
        self.outcomes: dict[str, str] = {}
        self.expected: set[str] = set()

    def pytest_configure(self, config):
        gp, kernels, missing = _shim_modules()
        for name in ("sklearn.gaussian_process.tests._mini_sequence_kernel",
                     "sklearn.gaussian_process.tests.test_gpr",
                     "sklearn.gaussian_process.tests.test_kernels"):
            sys.modules.pop(name, None)
        sys.modules["sklearn.gaussian_process"] = gp
        sys.modules["sklearn.gaussian_process.kernels"] = kernels
        if missing:
            print(f"scikit-learn kernel classes atomlearn lacks: {missing}")

    def pytest_collection_modifyitems(self, items):
        import sklearn.gaussian_process.kernels as sk_kernels

        fallback = tuple(getattr(sk_kernels, n) for n in FALLBACK
                         if isinstance(getattr(sk_kernels, n), type))
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            if any(isinstance(v, fallback) for v in params.values()):
                self.expected.add(item.nodeid)

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            outcome = report.outcome
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if outcome == "skipped" else "xpassed"
            self.outcomes[report.nodeid] = outcome


def run_sklearn_tests(extra_args=()) -> tuple[dict[str, str], set[str]]:
    import pytest
    import sklearn

    folder = Path(sklearn.__file__).parent / "gaussian_process" / "tests"
    files = [str(folder / "test_gpr.py"), str(folder / "test_kernels.py")]
    plugin = RedirectPlugin()
    args = [*files, "-q", "-p", "no:cacheprovider", "--confcutdir", str(folder),
            "--rootdir", str(folder), "-o", "addopts=", "-o", "filterwarnings=",
            "-W", "ignore::DeprecationWarning", *extra_args]
    pytest.main(args, plugins=[plugin])
    return plugin.outcomes, plugin.expected


def run_estimator_checks() -> dict[str, str]:
    from sklearn.utils.estimator_checks import check_estimator

    from atomlearn.gp import GaussianProcessRegressor, SparseGaussianProcessRegressor

    outcomes = {}
    for estimator in (GaussianProcessRegressor(), SparseGaussianProcessRegressor()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = check_estimator(estimator, on_fail=None)
        for r in results:
            key = f"check_estimator[{type(estimator).__name__}]::{r['check_name']}"
            message = (str(r["exception"]).strip().splitlines() or [repr(r["exception"])])[0]
            outcomes[key] = r["status"] if r["status"] != "failed" else (
                f"failed: {type(r['exception']).__name__}: {message[:300]}")
    return outcomes


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    outcomes, fallback_tests = run_sklearn_tests(argv)
    importlib.invalidate_caches()
    outcomes.update(run_estimator_checks())
    expected = re.compile("|".join(EXPECTED))
    counts = {"passed": 0, "skipped": 0, "xfailed (scikit-learn's own marks)": 0,
              "xpassed": 0, "expected failures (PairwiseKernel/CompoundKernel)": 0,
              "failed": 0}
    unexpected = []
    for node, outcome in sorted(outcomes.items()):
        if outcome in ("passed", "xpassed"):
            counts["passed" if outcome == "passed" else "xpassed"] += 1
        elif outcome == "xfailed":
            counts["xfailed (scikit-learn's own marks)"] += 1
        elif outcome.startswith("skipped"):
            counts["skipped"] += 1
        elif node in fallback_tests or expected.search(node):
            counts["expected failures (PairwiseKernel/CompoundKernel)"] += 1
        else:
            counts["failed"] += 1
            unexpected.append(f"{node}: {outcome}")
    for line in unexpected:
        print("FAILED", line)
    print("scikit-learn GP tests and estimator checks against atomlearn:",
          ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
