"""Reference codes as labellers: PySCF reproduces the shipped ethanol labels, tblite the
shipped GFN2-xTB energies; labels are stored as they come and reused; failures are
recorded and skipped."""

import re

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from atomlearn.datasets import load_ethanol
from atomlearn.errors import ConfigError, DataError
from atomlearn.labelers import (
    CalculatorLabeler,
    Labeler,
    LabelError,
    LabelStore,
    label_structures,
    labeler_from_name,
)


def test_pyscf_reproduces_a_shipped_ethanol_frame(tmp_path):
    """Energy, forces, orbital energies and the orbital pairs' strengths (from the shipped
    Kohn-Sham matrix) of a TDA frame; the extra arrays are stored in the info."""
    from atomlearn.datasets import load_ethanol_excitations

    frame = load_ethanol_excitations(0)[0]
    labeler = labeler_from_name("pyscf")
    results = labeler(frame)
    assert results["energy"] == pytest.approx(frame.get_potential_energy(), abs=1e-5)
    np.testing.assert_allclose(results["forces"], frame.get_forces(), atol=1e-4)
    np.testing.assert_allclose(results["orbital_energies"], frame.info["orbital_energies"],
                               atol=1e-4)
    np.testing.assert_allclose(results["orbital_pair_strengths"],
                               frame.info["orbital_pair_strengths"], rtol=1e-4, atol=1e-7)
    stored = LabelStore(tmp_path, labeler.method).put(frame, results)
    for key in ("orbital_energies", "orbital_pair_strengths"):
        np.testing.assert_array_equal(stored.info[key], results[key])
    assert stored.get_potential_energy() == results["energy"]


def test_tblite_gives_the_shipped_gfn2_energies():
    frames = load_ethanol("0:3")
    labeler = labeler_from_name("tblite")
    for frame in frames:
        results = labeler(frame)
        assert results["energy"] == pytest.approx(frame.info["gfn2_energy"], abs=1e-6)
        assert results["forces"].shape == (9, 3)
        # the net force of an isolated molecule vanishes
        np.testing.assert_allclose(results["forces"].sum(0), 0.0, atol=1e-6)


class Counting(Labeler):
    """EMT with a count of calls, failing on chosen structures or interrupting."""

    method = "emt-counting"

    def __init__(self, fail=(), interrupt_after=None):
        self.calls, self.fail, self.interrupt_after = 0, set(fail), interrupt_after
        self.inner = CalculatorLabeler(EMT())

    def compute(self, atoms):
        if self.interrupt_after is not None and self.calls == self.interrupt_after:
            raise KeyboardInterrupt      # a killed run
        self.calls += 1
        if round(atoms.positions[0, 0], 6) in self.fail:
            raise LabelError("SCF did not converge in 100 cycles.")
        return self.inner.compute(atoms)


def _frames(n):
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.positions[0, 0] = 0.01 * k
        out.append(atoms)
    return out


def test_store_keeps_every_label_and_a_rerun_reuses_them(tmp_path):
    frames = _frames(5)
    store = LabelStore(tmp_path / "labels", "emt-counting")
    with pytest.raises(KeyboardInterrupt):
        label_structures(frames, Counting(interrupt_after=3), store, progress=False)
    assert len(list((tmp_path / "labels").glob("*.xyz"))) == 3     # none lost, none partial
    assert not list((tmp_path / "labels").glob(".*tmp*"))
    again = Counting(fail={0.04})
    labelled = label_structures(frames, again, store, progress=False)
    assert again.calls == 2                 # only the two never labelled
    assert labelled[4] is None and all(a is not None for a in labelled[:4])
    reference = EMT()
    for atoms, out in zip(frames[:4], labelled[:4], strict=True):
        atoms = atoms.copy()
        atoms.calc = reference
        assert out.get_potential_energy() == pytest.approx(atoms.get_potential_energy())
        np.testing.assert_allclose(out.get_forces(), atoms.get_forces(), atol=1e-7)
        assert out.info["label_method"] == "emt-counting"
    assert store.failure(frames[4]) == "SCF did not converge in 100 cycles."
    third = Counting()
    label_structures(frames, third, store, progress=False)
    assert third.calls == 0                 # the failure is not retried by default
    label_structures(frames, third, store, progress=False, retry_failed=True)
    assert third.calls == 1 and store.get(frames[4]) is not None


def test_labeller_refusals(tmp_path):
    with pytest.raises(ConfigError, match="Unknown labeller 'pyscff'.*Did you mean 'pyscf'"):
        labeler_from_name("pyscff")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        labeler_from_name("ase.calculators.emt:Nothing")
    assert labeler_from_name("ase.calculators.emt:EMT").method == "ase.calculators.emt:EMT"
    with pytest.raises(DataError, match=re.escape("contains ['Og'], which the labeller "
                                                  "'tblite:GFN2-xTB/accuracy1'")):
        labeler_from_name("tblite")(molecule("H2")[:1] + molecule("H2")[:1].copy()
                                    .__class__("Og", positions=[[0, 0, 2]]))
    with pytest.raises(LabelError, match="odd number of electrons"):
        labeler_from_name("pyscf")(molecule("CH3"))
    blocker = tmp_path / "a-file"          # a folder inside a file: refused even for root
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="The label folder .* cannot be written"):
        LabelStore(blocker / "labels", "x")


class Slow(Labeler):
    """Sleeps on the structure whose first x coordinate is 0.03, fails on 0.02."""

    method = "emt-slow"

    def compute(self, atoms):
        import time

        x = round(atoms.positions[0, 0], 6)
        if x == 0.03:
            time.sleep(5)
        if x == 0.02:
            raise LabelError("SCF did not converge in 100 cycles.")
        return CalculatorLabeler(EMT()).compute(atoms)


@pytest.mark.parametrize("kind", ["process", "dask"])
def test_labels_on_workers_equal_serial_ones_with_failures_and_timeouts(kind, tmp_path):
    from atomlearn.executors import close, make_executor

    frames = _frames(6)
    executor = make_executor(kind, workers=2)
    try:
        labelled = label_structures(frames, Slow(), LabelStore(tmp_path / kind, "emt-slow"),
                                    executor=executor, timeout=2.0, progress=False)
    finally:
        close(executor)
    serial = label_structures([frames[k] for k in (0, 1, 4, 5)], Slow(),
                              LabelStore(tmp_path / "serial", "emt-slow"), progress=False)
    assert labelled[2] is None and labelled[3] is None
    for a, b in zip([labelled[k] for k in (0, 1, 4, 5)], serial, strict=True):
        assert a.get_potential_energy() == b.get_potential_energy()
        np.testing.assert_array_equal(a.get_forces(), b.get_forces())
    store = LabelStore(tmp_path / kind, "emt-slow")
    assert "did not converge" in store.failure(frames[2])
    assert store.failure(frames[3]) == "timed out after 2 s"


def test_tblite_labels_on_a_process_pool_are_the_serial_ones(tmp_path):
    from atomlearn.executors import make_executor

    frames = load_ethanol("0:4")
    executor = make_executor("process", workers=2)
    try:
        pooled = label_structures(frames, labeler_from_name("tblite"),
                                  LabelStore(tmp_path / "a", "t"), executor=executor,
                                  progress=False)
    finally:
        executor.shutdown()
    serial = label_structures(frames, labeler_from_name("tblite"),
                              LabelStore(tmp_path / "b", "t"), progress=False)
    for a, b in zip(pooled, serial, strict=True):
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-9)


def test_labelling_survives_a_killed_worker_with_no_frame_lost_or_twice(tmp_path):
    from atomlearn.executors import close, make_executor
    from atomlearn.testing.faults import DyingExecutor

    frames = _frames(8)
    executor = make_executor("dask", workers=2)
    try:
        labelled = label_structures(frames, CalculatorLabeler(EMT()),
                                    LabelStore(tmp_path / "labels", "emt"),
                                    executor=DyingExecutor(executor, tmp_path / "died", at=3),
                                    progress=False)
    finally:
        close(executor)
    assert (tmp_path / "died").exists()
    assert sorted(p.suffix for p in (tmp_path / "labels").iterdir()) == [".xyz"] * 8
    for frame, got in zip(frames, labelled, strict=True):
        expected = frame.copy()
        expected.calc = EMT()
        assert got.get_potential_energy() == pytest.approx(expected.get_potential_energy(),
                                                           abs=1e-12)
        np.testing.assert_allclose(got.positions, frame.positions)
