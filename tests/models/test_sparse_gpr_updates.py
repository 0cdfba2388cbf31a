"""Updates instead of refits: a sparse GP that takes new labelled structures by a rank-k
QR update equals one rebuilt from all rows with the same sparse points and
hyperparameters; noise levels change from the kept factors alone."""

import numpy as np
import pytest
from ase.build import bulk

from atomlearn.datasets import load_ethanol, load_ethanol_excitations
from atomlearn.errors import ConfigError, NotFittedError
from atomlearn.models import SparseGPRModel, load_model
from atomlearn.targets import energy, excitation_energies

SOAP = {"cutoff": 3.5, "n_max": 3, "l_max": 2}


def _model(target=None, **kw):
    return SparseGPRModel(target, **{"descriptor": SOAP, "n_sparse": 30, "sigma": 2e-3,
                                     "sigma_forces": 0.05, **kw})


def _same(a, b, frames, names):
    pa, sa = a.predict(frames, return_std=True)
    pb, sb = b.predict(frames, return_std=True)
    for name in names:
        scale = max(1.0, float(np.abs(pb[name]).max()))
        np.testing.assert_allclose(pa[name], pb[name], rtol=0, atol=1e-8 * scale)
        if name in sb:                          # stress has no std
            np.testing.assert_allclose(sa[name], sb[name], rtol=0, atol=1e-8 * scale)


@pytest.fixture(scope="module")
def ethanol():
    return load_ethanol("0:40")


def test_update_equals_a_fit_of_all_rows(ethanol):
    model = _model().fit(ethanol[:12])
    reference = _model().fit(ethanol[:12])
    model.update(ethanol[12:14]).update(ethanol[14:20])    # 1 + 2 updates of k frames
    model.update(ethanol[20:21])
    reference.consolidate(ethanol[:21])
    np.testing.assert_allclose(model.solution_.weights, reference.solution_.weights,
                               rtol=0, atol=1e-8 * np.abs(reference.solution_.weights).max())
    _same(model, reference, ethanol[30:36], ["energy", "forces"])
    assert model.n_train_ == reference.n_train_ == 21
    # the kept factors of each type took the rows as well: new noise levels agree too
    model.refit_noise(sigma=5e-3, sigma_forces=0.1)
    reference.refit_noise(sigma=5e-3, sigma_forces=0.1)
    _same(model, reference, ethanol[30:36], ["energy", "forces"])
    # and the update changed the fit: it is not the 12-frame one
    before = _model().fit(ethanol[:12]).predict(ethanol[30:36])["energy"]
    assert np.abs(before - reference.predict(ethanol[30:36])["energy"]).max() > 1e-4


def test_update_of_a_loaded_model_and_of_stress_and_spectra(ethanol, tmp_path):
    model = _model().fit(ethanol[:12])
    model.save(tmp_path / "m.alm")
    loaded = load_model(tmp_path / "m.alm").update(ethanol[12:18])
    _same(loaded, model.consolidate(ethanol[:18]), ethanol[30:33], ["energy", "forces"])
    with pytest.raises(NotFittedError, match="call 'consolidate' with its structures"):
        load_model(tmp_path / "m.alm").refit_noise(sigma=1e-2)

    from ase.calculators.emt import EMT
    cells = []
    for k in range(10):
        atoms = bulk("Cu", "fcc", a=3.6 + 0.01 * k, cubic=True)
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        atoms.get_stress()
        cells.append(atoms)
    spec = energy(forces=True, stress=True)
    soap = {"cutoff": 3.0, "n_max": 3, "l_max": 2}
    a = SparseGPRModel(spec, descriptor=soap, n_sparse=10, sigma=1e-3).fit(cells[:6])
    b = SparseGPRModel(spec, descriptor=soap, n_sparse=10, sigma=1e-3).fit(cells[:6])
    a.update(cells[6:9])
    _same(a, b.consolidate(cells[:9]), cells[9:], ["energy", "forces", "stress"])

    frames = load_ethanol_excitations("0:24")
    delta = excitation_energies(4, baseline="orbital_differences")
    a = SparseGPRModel(delta, descriptor=SOAP, n_sparse=20).fit(frames[:14])
    b = SparseGPRModel(delta, descriptor=SOAP, n_sparse=20).fit(frames[:14])
    _same(a.update(frames[14:20]), b.consolidate(frames[:20]), frames[20:],
          ["excitation_energies"])


def test_update_needs_a_fitted_model(ethanol):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        _model().update(ethanol[:2])


def test_a_fit_on_workers_is_a_tree_of_chunk_factors(ethanol):
    from atomlearn.executors import close, make_executor

    serial = _model(chunk_size=4).fit(ethanol[:18])
    results = []
    for workers in (1, 2, 3):
        executor = make_executor("process", workers=workers)
        try:
            model = _model(chunk_size=4)
            model.executor = executor
            results.append(model.fit(ethanol[:18]))
        finally:
            close(executor)
    # the same tree whatever the worker count; the serial sum agrees to round-off
    for other in results[1:]:
        np.testing.assert_array_equal(results[0].solution_.weights, other.solution_.weights)
    scale = np.abs(serial.solution_.weights).max()
    np.testing.assert_allclose(results[0].solution_.weights, serial.solution_.weights,
                               rtol=0, atol=1e-10 * scale)
    _same(results[0], serial, ethanol[30:34], ["energy", "forces"])


class Grouping:
    """A part that records how it was summed."""

    def __init__(self, text):
        self.text = text

    def __add__(self, other):
        return Grouping(f"({self.text}+{other.text})")


def test_parts_merged_as_they_arrive_form_the_fixed_tree():
    from atomlearn.models.sparse_gpr.equations import TreeSum, tree_sum

    rng = np.random.default_rng(0)
    for n in range(1, 40):
        total = TreeSum()
        for k in rng.permutation(n):
            total.add(int(k), Grouping(str(k)))
        assert total.result().text == tree_sum([Grouping(str(k)) for k in range(n)]).text
    assert tree_sum([Grouping(str(k)) for k in range(5)]).text == "(((0+1)+(2+3))+4)"


def test_tasks_split_by_rows_alone(ethanol):
    from atomlearn.models.sparse_gpr.equations import fit_tasks, observation_rows, task_ranges
    from atomlearn.targets import Dataset

    data = Dataset.read(ethanol[:18], [energy(forces=True)])
    rows = observation_rows(data, energy(forces=True))
    assert rows.tolist() == [28] * 18
    # whole chunks of 4 until 182 rows (twice 91 sparse points): 8 structures per task
    assert task_ranges(rows, 182, 4) == [(0, 8), (8, 16), (16, 18)]
    assert task_ranges(rows, 20, 4) == [(0, 4), (4, 8), (8, 12), (12, 16), (16, 18)]
    assert fit_tasks(data, energy(forces=True), 90, 4) == task_ranges(rows, 182, 4)
    assert fit_tasks(data, energy(forces=True), 90, 4, task_rows=20) == \
        task_ranges(rows, 20, 4)


def test_a_worker_that_dies_mid_fit_is_replaced_and_the_fit_completes(ethanol, tmp_path):
    from atomlearn.executors import close, make_executor
    from atomlearn.testing.faults import DyingExecutor

    serial = _model(chunk_size=4).fit(ethanol[:18])
    executor = make_executor("dask", workers=2)
    try:
        model = _model(chunk_size=4)
        model.executor = DyingExecutor(executor, tmp_path / "died", at=2)   # a chunk task
        model.fit(ethanol[:18])
    finally:
        close(executor)
    assert (tmp_path / "died").exists()                 # a worker did die
    scale = np.abs(serial.solution_.weights).max()
    np.testing.assert_allclose(model.solution_.weights, serial.solution_.weights, rtol=0,
                               atol=1e-10 * scale)
    executor = make_executor("process", workers=2)
    try:
        pooled = _model(chunk_size=4)
        pooled.executor = executor
        pooled.fit(ethanol[:18])
        # the same tasks and tree on dask (its transport's arrays realigned) and a pool
        np.testing.assert_array_equal(model.solution_.weights, pooled.solution_.weights)
        # a local process pool cannot replace a dead worker: it says so
        model = _model(chunk_size=4)
        model.executor = DyingExecutor(executor, tmp_path / "died-too", at=2)
        with pytest.raises(ConfigError, match="A worker of the process pool died during task "
                                              r"\d of 3 .* use '--executor dask'"):
            model.fit(ethanol[:18])
    finally:
        close(executor)


def test_tasks_larger_than_a_worker_are_refused_with_a_chunk_that_fits(ethanol, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from atomlearn.models.sparse_gpr import memory

    monkeypatch.setattr(memory, "worker_resident", lambda: 1e8)
    reference = _model().fit(ethanol[:18])
    M, D = len(reference.sparse_.numbers), reference.descriptor_.n_features
    model = _model(chunk_size=8)
    model.executor = ThreadPoolExecutor(1)

    def need(chunk):
        return memory.task_bytes(ethanol[:chunk], n_sparse=M, n_features=D,
                                 with_forces=True, resident=1e8)

    monkeypatch.setattr(memory, "worker_limit", lambda ex: (need(3) + need(4)) / 2)
    with pytest.raises(ConfigError, match=r"One task of this fit needs about 0\.\d+ GB \(chunks "
                                          r"of 8 structures, 78 sparse points\), but a worker "
                                          r"may use 0\.\d+ GB\. Try 'model\.chunk_size=3'\."):
        model.fit(ethanol[:18])
    monkeypatch.setattr(memory, "worker_limit", lambda ex: 1e8)
    with pytest.raises(ConfigError, match="Even one structure per chunk needs .* use fewer "
                                          "sparse points"):
        model.fit(ethanol[:18])
    monkeypatch.setattr(memory, "worker_limit", lambda ex: need(8) * 1.01)
    model.fit(ethanol[:18])
