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
                 "--temperature", "300", "--ensemble", "langevin", "-o", str(out)]) == 0
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
