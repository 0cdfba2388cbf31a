"""CLI behaviour in-process (atomlearn.cli.main) plus two subprocess checks."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from atomlearn.cli.main import main
from atomlearn.structures import read_structures

OPTIONS = {
    "targets": {"energy": {"forces": False}},
    "data": {"test_fraction": 0.3, "seed": 0},
    "model": {"descriptor": {"cutoff": 3.5, "n_max": 2, "l_max": 2}, "n_sparse": 20},
}


@pytest.fixture
def options(tmp_path):
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump(OPTIONS))
    return path


def test_fit_predict_info(tmp_path, options, ethanol_path, capsys):
    model = tmp_path / "out" / "model.alm"
    assert main(["fit", str(options), "-o", str(model), "--train", str(ethanol_path),
                 "--set", "model.n_sparse=15"]) == 0
    out = capsys.readouterr().out
    assert "Held-out errors (3 structures)" in out and "energy: MAE" in out
    assert (tmp_path / "out" / "parity_energy.png").stat().st_size > 1000
    expanded = yaml.safe_load((tmp_path / "out" / "model.options.yaml").read_text())
    assert expanded["model"]["n_sparse"] == 15
    assert expanded["model"]["descriptor"]["atom_width"] == 0.5  # defaults filled in
    metrics = json.loads((tmp_path / "out" / "model.metrics.json").read_text())
    assert metrics["energy"]["mae"] > 0

    pred = tmp_path / "pred.xyz"
    assert main(["predict", str(model), str(ethanol_path), "-o", str(pred)]) == 0
    frames = read_structures(pred)
    assert "pred_energy" in frames[0].info and "pred_energy_std" in frames[0].info

    assert main(["info", str(model)]) == 0
    assert "sparse_gpr" in capsys.readouterr().out


def test_learning_curve(tmp_path, options, ethanol_path, capsys):
    csv = tmp_path / "curve.csv"
    assert main(["learning-curve", str(options), "--train", str(ethanol_path),
                 "--train-sizes", "2", "4", "--repeats", "2", "-o", str(csv)]) == 0
    lines = csv.read_text().splitlines()
    assert lines[0] == "n_train,repeat,target,subset,metric,value,unit"
    assert len(lines) == 1 + 2 * 2 * 2 * 2  # sizes x repeats x subsets x metrics
    assert csv.with_suffix(".png").stat().st_size > 1000


def test_learning_curves_of_several_models_share_one_plot(tmp_path, options, ethanol_path,
                                                          capsys):
    nn = dict(OPTIONS, targets={"energy": {"forces": True}},
              model={"type": "mpnn", "n_features": 4, "n_interactions": 1, "n_hidden": [4],
                     "epochs": 2})
    nn_path = tmp_path / "nn.yaml"
    nn_path.write_text(yaml.safe_dump(nn))
    gp = dict(OPTIONS, targets={"energy": {"forces": True}})
    options.write_text(yaml.safe_dump(gp))
    csv = tmp_path / "curves.csv"
    assert main(["learning-curve", str(options), str(nn_path), "--train", str(ethanol_path),
                 "--train-sizes", "3", "5", "-o", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "options (sparse_gpr) forces test MAE" in out and "nn (mpnn) forces test MAE" in out
    for name in ("curves_options.csv", "curves_nn.csv", "curves_forces.png",
                 "curves_energy.png"):
        assert (tmp_path / name).stat().st_size > 100


@pytest.mark.parametrize("argv, message", [
    (["fit", "{options}", "-o", "{tmp}/m.alm", "--set", "model.n_sparce=3"],
     "Unknown option 'model.n_sparce'"),
    (["fit", "{options}", "-o", "{tmp}/m.alm", "--train", "{tmp}/missing.xyz"],
     "missing.xyz' does not exist"),
    (["predict", "{tmp}/nothing.alm", "{data}", "-o", "{tmp}/p.xyz"],
     "nothing.alm' does not exist"),
    (["fit", "{options}", "-o", "{tmp}/m.alm", "--train", "{data}",
      "--set", "model.kernel.type=rbff"],
     "Unknown kernel type 'rbff'; valid choices are 'soap', 'rbf'."),
    (["fit", "{options}", "-o", "{tmp}/m.alm", "--train", "{data}",
      "--set", "targets={{mu: {{kind: vector, unit: e·Å}}}}"],
     "Model type 'sparse_gpr' cannot learn target 'mu' of kind 'vector'; it learns ['scalar', "
     "'scalar per atom', 'spectrum', 'spectrum per atom']. Families that learn it: ['bpnn', "
     "'mpnn', 'sa_gpr']."),
    (["fit", "{options}", "-o", "{tmp}/m.alm", "--train", "{data}",
      "--set", "model.n_features=8"],
     "'n_features' is an option of model type(s) ['mpnn'], not of 'sparse_gpr'."),
    (["fit", "{options}", "-o", "{tmp}/m.alm", "--train", "{data}",
      "--set", "model={{type: mpnn, epochs: 1}}", "--set", "targets={{gap: {{kind: vector}}}}"],
     "Label 'gap' in '{data}' (frame 2) has shape (); expected (3,) for a 'vector' target."),
    (["info", "{tmp}/m.alm"], "m.alm' does not exist"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, options, ethanol_path, capsys, argv,
                                          message):
    argv = [a.format(options=options, tmp=tmp_path, data=ethanol_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    message = message.format(data=ethanol_path)
    assert len(err) == 1 and message in err[0] and err[0].startswith("atomlearn "), err


def test_debug_shows_traceback(tmp_path, options):
    from atomlearn.errors import ConfigError

    with pytest.raises(ConfigError):
        main(["fit", str(options), "-o", str(tmp_path / "m.alm"), "--debug",
              "--set", "model.n_sparce=3"])


def _entry_point():
    exe = shutil.which("atomlearn")
    return [exe] if exe else [sys.executable, "-m", "atomlearn.cli.main"]


def test_installed_entry_point_help():
    out = subprocess.run(_entry_point() + ["--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("fit", "predict", "learning-curve", "info"):
        assert command in out


def test_installed_entry_point_exit_code(tmp_path):
    proc = subprocess.run(_entry_point() + ["info", str(tmp_path / "none.alm")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"atomlearn info: error: Model file '{tmp_path}/none.alm' "
                                   "does not exist; check the path.")


@pytest.mark.parametrize("kind", ["bpnn", "mpnn"])
def test_fit_network_from_options(tmp_path, ethanol_path, capsys, kind):
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples" / f"ethanol_{kind}.yaml"
    model = tmp_path / "bp.alm"
    small = (["--set", "model.n_features=4", "--set", "model.n_interactions=1"]
             if kind == "mpnn" else [])
    assert main(["fit", str(example), "-o", str(model), "--train", str(ethanol_path),
                 "--set", "data.n_train=null", "--set", "data.test_fraction=0.3",
                 "--set", "model.epochs=2", "--set", "model.n_hidden=[4]", *small]) == 0
    out = capsys.readouterr().out
    assert f"Fitted {kind} on 7 structures" in out and "forces: MAE" in out
    assert (tmp_path / "bp.alm.ckpt").exists()
    # a resumed run with other architecture options is refused, naming the difference
    assert main(["fit", str(example), "-o", str(model), "--train", str(ethanol_path),
                 "--set", "data.n_train=null", "--set", "data.test_fraction=0.3",
                 "--set", "model.epochs=4", "--set", "model.n_hidden=[5]", *small,
                 "--resume"]) == 2
    assert "n_hidden: checkpoint [4], this run [5]" in capsys.readouterr().err
    assert main(["predict", str(model), str(ethanol_path), "-o", str(tmp_path / "p.xyz")]) == 0
    assert "pred_forces" in read_structures(tmp_path / "p.xyz")[0].arrays
    traj = tmp_path / "md.xyz"
    assert main(["md", str(model), str(ethanol_path), "--steps", "3", "-o", str(traj)]) == 0
    assert len(read_structures(traj)) == 4
    assert main(["md", str(model), str(ethanol_path), "--steps", "3", "--max-force-std",
                 "0.1", "-o", str(traj)]) == 2
    assert "--max-force-std needs a model with uncertainties" in capsys.readouterr().err


@pytest.mark.parametrize("family", ["sagpr", "mpnn"])
@pytest.mark.parametrize("target", ["dipole", "polarizability"])
def test_fit_and_predict_tensor_targets_from_the_examples(tmp_path, ethanol_path, capsys,
                                                          target, family):
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples" / f"ethanol_{target}_{family}.yaml"
    model = tmp_path / f"{target}.alm"
    small = (["--set", "model.n_sparse=20", "--set", "model.descriptor.n_max=3",
              "--set", "model.descriptor.l_max=2"] if family == "sagpr" else
             ["--set", "model.n_features=4", "--set", "model.n_interactions=1",
              "--set", "model.epochs=2", "--set", "model.n_models=2"])
    assert main(["fit", str(example), "-o", str(model), "--train", str(ethanol_path),
                 "--set", "data.n_train=null", "--set", "data.test_fraction=0.3",
                 *small]) == 0
    out = capsys.readouterr().out
    kind = "sa_gpr" if family == "sagpr" else "mpnn"
    assert f"Fitted {kind} on 7 structures" in out and f"{target}: MAE" in out
    assert "uncertainty:" in out
    assert (tmp_path / f"parity_{target}.png").stat().st_size > 1000
    pred = tmp_path / "p.xyz"
    assert main(["predict", str(model), str(ethanol_path), "-o", str(pred)]) == 0
    frame = read_structures(pred)[0]
    shape = (3,) if target == "dipole" else (3, 3)
    assert np.shape(frame.info[f"pred_{target}"]) in (shape, (int(np.prod(shape)),))
    assert f"pred_{target}_std" in frame.info
    assert main(["md", str(model), str(ethanol_path), "--steps", "2", "-o",
                 str(tmp_path / "md.xyz")]) == 2
    assert (f"{model} predicts ['{target}'], not energies and forces: pass the potential "
            "first and other models with --with.") in capsys.readouterr().err


def test_calculator_serves_a_potential_with_dipole_and_polarizability(tmp_path, ethanol,
                                                                      ethanol_path):
    from atomlearn.calculators import ModelCalculator
    from atomlearn.models import SparseGPRModel, SymmetryAdaptedGPRModel
    from atomlearn.targets import dipole, energy, polarizability

    small = dict(descriptor={"cutoff": 4.0, "n_max": 3, "l_max": 2}, n_sparse=20)
    mu = SymmetryAdaptedGPRModel(dipole(), **small).fit(ethanol)
    alpha = SymmetryAdaptedGPRModel(polarizability(), **small).fit(ethanol)
    pot = SparseGPRModel(energy(forces=False), **small).fit(ethanol)
    alpha.save(tmp_path / "alpha.alm")
    atoms = ethanol[4].copy()
    atoms.calc = ModelCalculator(pot, mu, tmp_path / "alpha.alm")
    assert {"energy", "dipole", "polarizability", "dipole_std"} <= set(
        atoms.calc.implemented_properties)
    np.testing.assert_allclose(atoms.get_dipole_moment(), mu.predict([atoms])["dipole"][0])
    np.testing.assert_allclose(atoms.calc.get_property("polarizability", atoms),
                               alpha.predict([atoms])["polarizability"][0])
    assert atoms.calc.get_property("dipole_std", atoms).shape == (3,)
    assert np.isfinite(atoms.get_potential_energy())
    # md --with writes the extra models' predictions every frame
    pot.save(tmp_path / "pot.alm")
    mu.save(tmp_path / "mu.alm")
    traj = tmp_path / "md.xyz"
    assert main(["md", str(tmp_path / "pot.alm"), str(ethanol_path), "--steps", "2",
                 "--with", str(tmp_path / "mu.alm"), "--with", str(tmp_path / "alpha.alm"),
                 "-o", str(traj)]) == 0
    frames = read_structures(traj)
    assert len(frames) == 3
    for frame in frames:
        assert frame.get_dipole_moment().shape == (3,)
        assert np.size(frame.info["polarizability"]) == 9
    # and the spectrum reads them back (the dipole from the calculator results)
    n = 12
    long = tmp_path / "long.xyz"
    assert main(["md", str(tmp_path / "pot.alm"), str(ethanol_path), "--steps", str(n),
                 "--with", str(tmp_path / "mu.alm"), "--with", str(tmp_path / "alpha.alm"),
                 "-o", str(long)]) == 0
    assert main(["spectrum", str(long), "-o", str(tmp_path / "s.png")]) == 0


def test_learning_curve_of_a_tensor_target(tmp_path, ethanol_path, capsys):
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples" / "ethanol_polarizability_sagpr.yaml"
    csv = tmp_path / "alpha.csv"
    assert main(["learning-curve", str(example), "--train", str(ethanol_path),
                 "--set", "data.n_train=null", "--set", "data.test_fraction=0.3",
                 "--set", "model.n_sparse=15", "--set", "model.descriptor.n_max=3",
                 "--set", "model.descriptor.l_max=2", "--train-sizes", "3", "7",
                 "-o", str(csv)]) == 0
    assert "polarizability test MAE (Å^3)" in capsys.readouterr().out
    assert csv.with_suffix(".png").stat().st_size > 1000


def test_stress_example_fits_and_predicts_stress(tmp_path, capsys):
    """examples/silicon_gpr_stress.yaml as is, made small: stress is fitted, reported,
    plotted and predicted."""
    from pathlib import Path

    from atomlearn.datasets import load_silicon

    example = Path(__file__).parents[2] / "examples" / "silicon_gpr_stress.yaml"
    cells = tmp_path / "cells.xyz"
    from ase.io import write

    write(cells, load_silicon(slice(0, 6)))
    model = tmp_path / "si.alm"
    assert main(["fit", str(example), "-o", str(model), "--train", str(cells),
                 "--set", "data.test_fraction=0.34", "--set", "model.n_sparse=20",
                 "--set", "model.hyperparameters=fixed", "--set", "model.descriptor.n_max=3",
                 "--set", "model.descriptor.l_max=2", "--set", "model.descriptor.cutoff=3.5",
                 "--set", "model.jitter=1e-5"]
                ) == 0
    out = capsys.readouterr().out
    assert "stress: MAE" in out and "eV/Å^3" in out
    assert (tmp_path / "parity_stress.png").stat().st_size > 1000
    pred = tmp_path / "p.xyz"
    assert main(["predict", str(model), str(cells), "-o", str(pred)]) == 0
    frame = read_structures(pred)[0]
    assert np.shape(frame.info["pred_stress"]) in ((3, 3), (9,), (6,))


def test_hamiltonian_example_fits_and_predicts_levels(tmp_path, capsys):
    """examples/ethanol_hamiltonian_sagpr.yaml made small: the fit reports the matrix and
    the levels that follow from it; predict writes them; a source without Kohn-Sham
    matrices is refused naming the key."""
    from pathlib import Path

    from ase.io import read, write

    from atomlearn.datasets import load_ethanol_hamiltonians

    example = Path(__file__).parents[2] / "examples" / "ethanol_hamiltonian_sagpr.yaml"
    small = ["--set", "data.n_train=6", "--set", "data.test_fraction=0.005",
             "--set", "model.n_sparse=8", "--set", "model.descriptor.n_max=3",
             "--set", "model.descriptor.l_max=2", "--set", "model.operator.pair_l_max=2",
             "--set", "model.operator.pair_n_max=3", "--set",
             "model.operator.metric_structures=3"]
    model = tmp_path / "h.alm"
    assert main(["fit", str(example), "-o", str(model), *small]) == 0
    out = capsys.readouterr().out
    for name in ("hamiltonian", "orbital_energies", "homo", "lumo", "gap"):
        assert f"  {name}: MAE" in out
    frames = tmp_path / "frames.xyz"
    write(frames, load_ethanol_hamiltonians("0:2"))
    assert main(["predict", str(model), str(frames), "-o", str(tmp_path / "p.xyz")]) == 0
    predicted = read(tmp_path / "p.xyz", ":")
    levels = np.asarray(predicted[0].info["pred_orbital_energies"])
    assert levels.shape == (72,) and np.all(np.diff(levels) >= 0)
    assert predicted[1].info["pred_gap"] == pytest.approx(
        predicted[1].info["pred_lumo"] - predicted[1].info["pred_homo"])
    assert np.asarray(predicted[0].info["pred_hamiltonian"]).size == 72 * 72
    pairs = np.asarray(predicted[0].info["pred_orbital_pair_strengths"])
    assert pairs.shape == (10,) and np.all(pairs >= 0)
    # the gap on the Hamiltonian's HOMO (examples/ethanol_gap_on_hamiltonian.yaml) from
    # frames with its levels; a frame without them is refused naming the key
    from atomlearn.datasets import load_ethanol

    write(frames, load_ethanol("0:30"))
    levels_file = tmp_path / "levels.xyz"
    assert main(["predict", str(model), str(frames), "-o", str(levels_file)]) == 0
    gap_example = example.with_name("ethanol_gap_on_hamiltonian.yaml")
    gap_model = tmp_path / "gap.alm"
    assert main(["fit", str(gap_example), "-o", str(gap_model), "--set",
                 f"data.train={levels_file}", "--set", "data.test_fraction=0.2", "--set",
                 "model.n_sparse=10", "--set", "model.descriptor.n_max=3", "--set",
                 "model.descriptor.l_max=2", "--set", "model.hyperparameters=fixed"]) == 0
    assert "  gap: MAE" in capsys.readouterr().out
    assert main(["predict", str(gap_model), str(levels_file), "-o",
                 str(tmp_path / "g.xyz")]) == 0
    gaps = read(tmp_path / "g.xyz", ":")
    assert all(np.isfinite(a.info["pred_gap"]) for a in gaps)
    assert main(["predict", str(gap_model), str(frames), "-o", str(tmp_path / "g.xyz")]) == 2
    assert "no 'pred_orbital_energies' in its info" in capsys.readouterr().err
    assert main(["fit", str(example), "-o", str(model), *small,
                 "--set", "data.train=ethanol"]) == 2
    assert "No label 'hamiltonian'" in capsys.readouterr().err
    # the learning curve scores the levels that follow from the matrix, too
    csv = tmp_path / "curve.csv"
    assert main(["learning-curve", str(example), *small, "--set", "data.n_train=null",
                 "--set", "data.test_fraction=0.01", "--train-sizes", "4", "8",
                 "-o", str(csv)]) == 0
    out = capsys.readouterr().out
    for name in ("hamiltonian", "orbital_energies", "gap"):
        assert f"{name} test MAE" in out


def test_band_model_predicts_any_kpoints_and_draws_the_path(tmp_path, capsys):
    """examples/silicon_bands_gpr.yaml made small: fit, predict at k-points from a file,
    draw a cell's path against its reference; bad k-point files and models are named."""
    from pathlib import Path

    from ase.io import read, write

    from atomlearn.datasets import load_silicon_bands

    example = Path(__file__).parents[2] / "examples" / "silicon_bands_gpr.yaml"
    model = tmp_path / "b.alm"
    assert main(["fit", str(example), "-o", str(model), "--set", "data.n_train=20"]) == 0
    assert "band_energies: MAE" in capsys.readouterr().out
    cell = tmp_path / "cell.xyz"
    write(cell, load_silicon_bands("0:1"))           # frame 0 carries a band path
    kpts = tmp_path / "k.txt"
    np.savetxt(kpts, [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, 0.0, 0.5]])
    out = tmp_path / "p.xyz"
    assert main(["predict", str(model), str(cell), "--kpoints", str(kpts), "-o",
                 str(out)]) == 0
    predicted = read(out, ":")[0]
    assert np.asarray(predicted.info["pred_band_energies"]).size == 3 * 8
    assert np.asarray(predicted.info["pred_band_energies_std"]).size == 3 * 8
    # on the model's own mesh: the band edges and the gap too, against the cell's labels
    assert main(["predict", str(model), str(cell), "-o", str(out)]) == 0
    assert "gap vs reference: MAE" in capsys.readouterr().out
    predicted = read(out, ":")[0]
    assert {"pred_gap", "pred_gap_std", "pred_vbm", "pred_cbm"} <= set(predicted.info)
    png = tmp_path / "bands.png"
    assert main(["bands", str(model), str(cell), "--path", "LGXWKG", "-o", str(png)]) == 0
    assert "path bands vs reference (aligned at the VBM): MAE" in capsys.readouterr().out
    assert png.stat().st_size > 10000 and png.with_suffix(".csv").exists()
    np.savetxt(kpts, [[0.0, 0.0], [0.5, 0.5]])
    assert main(["predict", str(model), str(cell), "--kpoints", str(kpts), "-o",
                 str(out)]) == 2
    assert "has 2 columns" in capsys.readouterr().err
    assert main(["bands", str(model), str(cell), "--path", "LGQ", "-o", str(png)]) == 2
    assert "unknown: ['Q']" in capsys.readouterr().err


def test_density_example_fits_predicts_and_writes_cubes(tmp_path, capsys):
    """examples/ethanol_density_sagpr.yaml made small: the fit reports the coefficients
    and the dipole of the predicted densities; predict writes the coefficients in PySCF's
    order with their std; 'atomlearn density' writes the cube, the error cube and a
    slice and runs PySCF from the density; bad input exits 2 with the reason."""
    from pathlib import Path

    from ase.io import read, write
    from ase.io.cube import read_cube_data

    from atomlearn.datasets import load_ethanol_densities

    example = Path(__file__).parents[2] / "examples" / "ethanol_density_sagpr.yaml"
    small = ["--set", "data.n_train=12", "--set", "data.test_fraction=0.003",
             "--set", "model.n_sparse=8", "--set", "model.descriptor.n_max=3",
             "--set", "model.descriptor.l_max=2", "--set",
             "model.density.metric_iterations=20"]
    model = tmp_path / "d.alm"
    assert main(["fit", str(example), "-o", str(model), *small]) == 0
    out = capsys.readouterr().out
    for name in ("density_coefficients", "dipole"):
        assert f"  {name}: MAE" in out
    frames = tmp_path / "frames.xyz"
    write(frames, load_ethanol_densities("0:2"))
    assert main(["predict", str(model), str(frames), "-o", str(tmp_path / "p.xyz")]) == 0
    predicted = read(tmp_path / "p.xyz", ":")
    assert np.asarray(predicted[0].info["pred_density_coefficients"]).shape == (335,)
    assert np.all(np.asarray(predicted[0].info["pred_density_coefficients_std"]) > 0)
    assert predicted[1].info["pred_density_electrons"] == pytest.approx(26.0, abs=1e-9)
    cube = tmp_path / "rho.cube"
    png = tmp_path / "rho.png"
    assert main(["density", str(model), str(frames), "--index", "1", "--cube", str(cube),
                 "--points", "20", "--png", str(png), "--scf"]) == 0
    out = capsys.readouterr().out
    assert "error in the Coulomb metric" in out
    # PySCF from the (tiny model's) predicted density converges to minao's energy
    energies = [float(line.split("E = ")[1].split()[0]) for line in out.splitlines()
                if line.startswith("SCF from")]
    assert out.count(": converged in") == 2 and len(energies) == 2
    assert energies[0] == pytest.approx(energies[1], abs=1e-7)
    assert "one-shot levels of the predicted density: HOMO" in out
    values, atoms = read_cube_data(str(cube))
    error, _ = read_cube_data(str(tmp_path / "rho_error.cube"))
    assert values.shape == error.shape == (20, 20, 20) and len(atoms) == 9
    assert values.max() > 1.0 and 0 < np.abs(error).max() < values.max()
    assert png.stat().st_size > 10000
    assert main(["density", str(model), str(frames), "--index", ":", "--cube",
                 str(cube)]) == 2
    assert "give one frame" in capsys.readouterr().err
    assert main(["fit", str(example), "-o", str(model), *small,
                 "--set", "data.train=ethanol"]) == 2
    assert "No label 'density_coefficients'" in capsys.readouterr().err
