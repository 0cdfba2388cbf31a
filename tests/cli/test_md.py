"""`atomlearn md`: trajectories, uncertainty stop, and NVE energy conservation."""

import numpy as np
import pytest

from atomlearn.cli.main import main
from atomlearn.models import SparseGPRModel
from atomlearn.structures import read_structures


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from conftest import DATA

    frames = read_structures(DATA / "ethanol_10.extxyz")
    model = SparseGPRModel(descriptor={"cutoff": 3.5, "n_max": 3, "l_max": 2},
                           n_sparse=40).fit(frames)
    path = tmp_path_factory.mktemp("md") / "model.alm"
    model.save(path)
    return path


def test_md_writes_energies_temperature_and_uncertainty(tmp_path, model_path, ethanol_path):
    out = tmp_path / "traj.xyz"
    assert main(["md", str(model_path), str(ethanol_path), "--steps", "6", "--interval", "2",
                 "--check-every", "2", "--temperature", "300", "--ensemble", "langevin",
                 "-o", str(out)]) == 0
    frames = read_structures(out)
    assert [a.info["step"] for a in frames] == [0, 2, 4, 6]
    for a in frames:
        assert {"kinetic_energy", "total_energy", "temperature", "max_force_std"} <= set(a.info)
        # ASE reads the potential energy and forces back as calculator results
        assert a.get_potential_energy() + a.info["kinetic_energy"] == pytest.approx(
            a.info["total_energy"])
        assert a.arrays["forces_std"].shape == (9, 3)
        assert "_source" not in out.read_text()
        # labels of the start structure are not carried into the trajectory
        assert not {"polarizability", "homo", "gfn2_energy"} & set(a.info)
        assert a.info["max_force_std"] == pytest.approx(a.arrays["forces_std"].max())


def test_md_stops_when_uncertain(tmp_path, model_path, ethanol_path, capsys):
    out = tmp_path / "traj.xyz"
    code = main(["md", str(model_path), str(ethanol_path), "--steps", "50",
                 "--max-force-std", "1e-6", "-o", str(out)])
    assert code == 3
    assert "Stopped at step 0: the largest force uncertainty" in capsys.readouterr().out
    assert len(read_structures(out)) == 1


def test_checks_every_n_steps_stop_where_checks_at_every_step_do(tmp_path, model_path,
                                                                  ethanol_path, capsys):
    """The uncertainty is computed every 10 steps while far from the limit and at every
    step once above half of it: the run stops at the same step as with a check at every
    step, here on a hot trajectory whose uncertainty grows past the limit."""
    hot = ["--temperature", "1500", "--ensemble", "langevin", "--friction", "0.01"]
    trace = tmp_path / "trace.xyz"
    assert main(["md", str(model_path), str(ethanol_path), "--steps", "120",
                 "--check-every", "1", *hot, "-o", str(trace)]) == 0
    stds = np.array([a.info["max_force_std"] for a in read_structures(trace)])
    # a limit first passed late, from below half of it: the sparse checks really skip
    limit = 2.05 * stds[0]
    first = int(np.argmax(stds > limit))
    assert stds.max() > limit and first > 20, (stds[0], stds.max(), first)
    stops = []
    for every in ("1", "10"):
        out = tmp_path / f"every{every}.xyz"
        code = main(["md", str(model_path), str(ethanol_path), "--steps", "120",
                     "--check-every", every, "--max-force-std", str(float(limit)), *hot,
                     "-o", str(out)])
        assert code == 3
        frames = read_structures(out)
        stops.append(frames[-1].info["step"])
        checked = [a.info["step"] for a in frames if "max_force_std" in a.info]
        if every == "10":
            assert len(checked) < first                  # steps were skipped
    assert stops == [first, first]
    assert f"Stopped at step {first}" in capsys.readouterr().out


def test_md_bad_options(tmp_path, model_path, ethanol_path, capsys):
    assert main(["md", str(model_path), str(ethanol_path), "--steps", "0",
                 "-o", str(tmp_path / "t.xyz")]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_nve_conserves_energy(tmp_path):
    """2,000 steps (1 ps) of NVE ethanol at 300 K with a potential fitted on 200 frames.

    Bound: drift below 1 meV/atom/ps and fluctuations below 1 meV/atom (measured on this
    machine: about 0.3 meV/atom/ps and 0.1 meV/atom).
    """
    from atomlearn.datasets import data_path, load_ethanol

    model = SparseGPRModel(n_sparse=300).fit(load_ethanol(slice(0, 800, 4)))
    path = tmp_path / "m.alm"
    model.save(path)
    out = tmp_path / "nve.xyz"
    assert main(["md", str(path), str(data_path("ethanol")), "--steps", "2000",
                 "--timestep", "0.5", "--temperature", "300", "--interval", "10",
                 "--no-uncertainty", "-o", str(out)]) == 0
    traj = read_structures(out)
    t_ps = np.array([a.info["time_fs"] for a in traj]) / 1000
    e_tot = np.array([a.info["total_energy"] for a in traj])
    drift = np.polyfit(t_ps, e_tot, 1)[0] / 9          # eV per atom per ps
    assert abs(drift) < 1e-3, drift
    assert np.std(e_tot) / 9 < 1e-3
