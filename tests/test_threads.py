"""Thread counts set in one place, a default that leaves busy cores alone, and fits that
do not depend on the thread count."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from atomlearn import threads
from atomlearn.errors import ConfigError


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_configure_sets_blas_and_the_environment(monkeypatch):
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    with threadpool_limits(limits=None):
        assert threads.configure(1) == 1
        assert _blas_threads() == {1}
        assert os.environ["RAYON_NUM_THREADS"] == "1" == os.environ["OMP_NUM_THREADS"]
        assert threads.configured() == 1


def test_environment_variable(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.default_threads() == (3, f"from {threads.ENV}")
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(ConfigError, match=f"{threads.ENV}='many' must be a positive integer"):
        threads.default_threads()


@pytest.mark.skipif(threads.available_cores() < 2, reason="needs two cores")
def test_default_leaves_a_busy_core_alone(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        n, why = threads.default_threads()
    finally:
        busy.kill()
        busy.wait()
    assert n <= threads.available_cores() - 1
    assert "busy with other work" in why


def test_single_thread_restores_the_limit():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with threads.single_thread():
            assert _blas_threads() == {1}
        assert _blas_threads() == before


@pytest.mark.parametrize("search", ["likelihood", "validation"])
def test_fitted_model_does_not_depend_on_the_thread_count(search):
    """The searches see the same numbers to round-off whatever BLAS's blocking and
    reduction order: QR factors do not amplify round-off as normal equations would."""
    from atomlearn.datasets import load_ethanol
    from atomlearn.models import SparseGPRModel

    ethanol = load_ethanol()[:35]
    fits = []
    for n in (1, 2):
        with threadpool_limits(limits=n, user_api="blas"):
            model = SparseGPRModel(descriptor={"cutoff": 4.0, "n_max": 4, "l_max": 3},
                                   n_sparse=60, hyperparameters=search)
            fits.append(model.fit(ethanol[:30]))
    a, b = (m.fitted_ for m in fits)
    np.testing.assert_allclose([a.delta, a.sigma, a.sigma_forces],
                               [b.delta, b.sigma, b.sigma_forces], rtol=1e-6)
    pa, pb = (m.predict(ethanol[30:35]) for m in fits)
    np.testing.assert_allclose(pa["forces"], pb["forces"], rtol=1e-6, atol=1e-8)
