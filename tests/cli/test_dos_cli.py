"""The DOS workflow on the command line: fit from YAML on a file of silicon cells with band
energies, predict (DOS, its std and observables), info, the dos plot of an ensemble, the
learning curve, and the bad-input messages."""

import json

import numpy as np
import pytest
import yaml
from ase.io import write

from atomlearn.cli.main import main
from atomlearn.datasets import load_silicon_bands
from atomlearn.structures import read_structures

OPTIONS = {
    "targets": {"dos": {"e_min": -16.5, "e_max": 1.0, "spacing": 0.05, "smearing": 0.3,
                        "reference": "fermi", "normalization": "atom"}},
    "data": {"test_fraction": 0.25, "seed": 0},
    "model": {"type": "sparse_gpr", "descriptor": {"cutoff": 4.0, "n_max": 4, "l_max": 3},
              "n_sparse": 20},
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("dos")
    cells = load_silicon_bands(":32")
    for a in cells:                      # the file carries what the loader put in the info
        a.info["band_energies"] = np.asarray(a.info["band_energies"]).ravel()
    write(path / "cells.xyz", cells)
    (path / "dos.yaml").write_text(yaml.safe_dump(OPTIONS))
    assert main(["fit", str(path / "dos.yaml"), "--train", str(path / "cells.xyz"), "-o",
                 str(path / "model.alm")]) == 0
    return path


def test_predict_writes_the_dos_its_std_and_the_observables(workdir, capsys):
    out = workdir / "pred.xyz"
    assert main(["predict", str(workdir / "model.alm"), str(workdir / "cells.xyz"),
                 "-o", str(out)]) == 0
    frames = read_structures(out)
    info = frames[0].info
    assert np.asarray(info["pred_dos"]).shape == (351,)
    assert np.all(np.asarray(info["pred_dos_std"]) >= 0)
    for name in ("fermi_level", "band_energy", "dos_at_fermi", "gap", "heat_capacity",
                 "dos_reference"):
        assert np.isfinite(info[f"pred_{name}"]) and info[f"pred_{name}_std"] >= 0, name
    # the reference level is the cell's Fermi level: the one from the predicted DOS (its
    # chemical potential plus the predicted reference) agrees for most cells
    fermi = np.array([f.info["pred_fermi_level"] for f in frames])
    ref = np.array([f.info["pred_dos_reference"] for f in frames])
    assert np.median(np.abs(fermi - ref)) < 0.15


def test_info_shows_the_energy_grid(workdir, capsys):
    capsys.readouterr()
    assert main(["info", str(workdir / "model.alm")]) == 0
    out = capsys.readouterr().out
    assert ("energy grid:   -16.5 to 1.0 eV by 0.05 eV, smearing 0.3 eV, reference fermi, "
            "per atom") in out
    assert "valence per element {'14': 4.0}" in out
    assert main(["info", str(workdir / "model.alm"), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["targets"][0]["metadata"]["dos"]["smearing"] == 0.3


def test_observables_need_the_grid_above_the_fermi_level(workdir, tmp_path, capsys):
    options = {**OPTIONS, "targets": {"dos": {**OPTIONS["targets"]["dos"], "e_max": -1.0}}}
    (tmp_path / "low.yaml").write_text(yaml.safe_dump(options))
    assert main(["fit", str(tmp_path / "low.yaml"), "--train", str(workdir / "cells.xyz"),
                 "-o", str(tmp_path / "low.alm")]) == 0
    assert main(["predict", str(tmp_path / "low.alm"), str(workdir / "cells.xyz"),
                 "-o", str(tmp_path / "p.xyz")]) == 0
    err = capsys.readouterr().err
    assert "Extend the grid to a few smearing widths above the Fermi level" in err
    info = read_structures(tmp_path / "p.xyz")[0].info
    assert "pred_dos" in info and "pred_fermi_level" not in info


def test_dos_plot_of_an_ensemble_against_its_reference(workdir, capsys):
    capsys.readouterr()
    png = workdir / "dos.png"
    assert main(["dos", str(workdir / "model.alm"), str(workdir / "cells.xyz"), "-o",
                 str(png)]) == 0
    out = capsys.readouterr().out
    assert "average of 32 frames" in out and "fermi_level:" in out
    assert png.stat().st_size > 10_000
    table = np.loadtxt(png.with_suffix(".csv"), delimiter=",", skiprows=1)
    assert table.shape == (351, 4)             # energy, dos, std, reference
    # the ensemble mean predicted by a model fitted to these cells is close to theirs
    assert np.sqrt(np.mean((table[:, 1] - table[:, 3]) ** 2)) < 0.1 * np.abs(table[:, 3]).max()


def test_learning_curve_of_the_dos(workdir):
    csv = workdir / "curve.csv"
    assert main(["learning-curve", str(workdir / "dos.yaml"), "--train",
                 str(workdir / "cells.xyz"), "--train-sizes", "4", "24", "-o", str(csv)]) == 0
    rows = [r.split(",") for r in csv.read_text().splitlines()[1:]]
    test_rmse = {int(r[0]): float(r[5]) for r in rows
                 if r[2] == "dos" and r[3] == "test" and r[4] == "rmse"}
    assert test_rmse[24] < 0.7 * test_rmse[4]
    assert csv.with_suffix(".png").stat().st_size > 1000


@pytest.mark.parametrize("change, message", [
    ({"smearing": 0.01}, "The DOS smearing (0.01 eV) is smaller than the grid spacing"),
    ({"forces": True}, "Unknown option 'forces' of target 'dos'"),
    ({"e_min": -13.0}, "The DOS grid starts at -13.0 eV"),
])
def test_bad_dos_options_exit_2_naming_the_problem(workdir, tmp_path, capsys, change,
                                                   message):
    options = {**OPTIONS, "targets": {"dos": {**OPTIONS["targets"]["dos"], **change}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(options))
    assert main(["fit", str(path), "--train", str(workdir / "cells.xyz"), "-o",
                 str(tmp_path / "m.alm")]) == 2
    assert message in capsys.readouterr().err


def test_dos_of_a_model_without_one_is_refused(workdir, tmp_path, capsys):
    energy_model = tmp_path / "e.alm"
    options = {**OPTIONS, "targets": {"gap": {"kind": "scalar", "extensive": False}}}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(options))
    assert main(["fit", str(tmp_path / "e.yaml"), "--train", str(workdir / "cells.xyz"),
                 "-o", str(energy_model)]) == 0
    capsys.readouterr()
    assert main(["dos", str(energy_model), str(workdir / "cells.xyz"), "-o",
                 str(tmp_path / "x.png")]) == 2
    assert "not a density of states" in capsys.readouterr().err


def test_dos_of_frames_without_eigenvalues_uses_the_models_electron_counts(workdir,
                                                                           capsys):
    """An MD trajectory has positions only: no reference curve, electrons from the valence
    counts the model learned (4 per silicon atom)."""
    frames = read_structures(workdir / "cells.xyz")[:3]
    for a in frames:
        a.info = {}
    write(workdir / "bare.xyz", frames)
    capsys.readouterr()
    assert main(["dos", str(workdir / "model.alm"), str(workdir / "bare.xyz"), "-o",
                 str(workdir / "bare.png")]) == 0
    assert "average of 3 frames" in capsys.readouterr().out
    table = np.loadtxt(workdir / "bare.csv", delimiter=",", skiprows=1)
    assert table.shape == (351, 3)
    # the curve holds the 8 electrons of a 2-atom cell below the Fermi level and more
    grid, per_atom = table[:, 0], table[:, 1]
    assert np.trapezoid(per_atom * 2, grid) > 8.0
