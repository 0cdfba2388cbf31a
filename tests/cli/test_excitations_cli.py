"""The shipped TDA frames as a YAML data source: fit per-state excitation targets,
predict them, and the ensemble UV-vis spectrum of a set of frames."""

import re

import numpy as np
import pytest
import yaml
from ase.io import write

from atomlearn.cli.main import main
from atomlearn.datasets import load_ethanol_excitations
from atomlearn.structures import read_structures
from atomlearn.targets import excitations as X
from atomlearn.targets.levels import orbital_differences

OPTIONS = {"targets": {"excitation_energies": {"n_states": 3},
                       "oscillator_strengths": {"n_states": 3}},
           "data": {"train": "ethanol_tda", "test_fraction": 0.2, "n_train": 30, "seed": 0},
           "model": {"type": "sparse_gpr", "n_sparse": 20,
                     "descriptor": {"cutoff": 4.0, "n_max": 4, "l_max": 3}}}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("exc")
    (path / "exc.yaml").write_text(yaml.safe_dump(OPTIONS))
    assert main(["fit", str(path / "exc.yaml"), "-o", str(path / "m.alm")]) == 0
    write(path / "frames.xyz", load_ethanol_excitations("300:310"))
    return path


def test_fit_info_and_predict_excitations(workdir, capsys):
    capsys.readouterr()
    assert main(["info", str(workdir / "m.alm")]) == 0
    assert "training data:   ethanol_tda (30 of 350 structures" in capsys.readouterr().out
    assert main(["predict", str(workdir / "m.alm"), str(workdir / "frames.xyz"), "-o",
                 str(workdir / "p.xyz")]) == 0
    info = read_structures(workdir / "p.xyz")[0].info
    assert np.asarray(info["pred_excitation_energies"]).shape == (3,)
    assert np.all(np.asarray(info["pred_oscillator_strengths_std"]) > 0)


def test_uv_vis_spectrum_of_an_ensemble_over_its_reference(workdir, capsys):
    capsys.readouterr()
    png = workdir / "uv.png"
    assert main(["spectrum", "--kind", "uv-vis", str(workdir / "m.alm"),
                 str(workdir / "frames.xyz"), "-o", str(png), "--width", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "average of 10 frames" in out and "reference peaks -> predicted" in out
    assert "complete below" in out
    assert png.stat().st_size > 10_000
    table = np.loadtxt(png.with_suffix(".csv"), delimiter=",", skiprows=1)
    grid, mean, spread, reference = table.T
    # the reference column is the mean of the frames' own broadened TDA spectra
    frames = read_structures(workdir / "frames.xyz")
    options = X.AbsorptionOptions(width=0.25, spacing=0.02)
    own = X.broadened(X.read_states(frames, "excitation_energies", 3),
                      X.read_states(frames, "oscillator_strengths", 3), options)
    np.testing.assert_allclose(reference, own.mean(0), atol=1e-10)
    assert np.all(spread >= 0) and np.trapezoid(mean, grid) > 0


def test_uv_vis_refusals(workdir, tmp_path, capsys):
    assert main(["spectrum", "--kind", "uv-vis", str(workdir / "frames.xyz"), "-o",
                 str(tmp_path / "x.png")]) == 2
    assert "needs a model and frames" in capsys.readouterr().err
    assert main(["spectrum", str(workdir / "m.alm"), str(workdir / "frames.xyz"), "-o",
                 str(tmp_path / "x.png")]) == 2
    assert "For a UV-vis spectrum pass '--kind uv-vis MODEL TRAJECTORY'" in \
        capsys.readouterr().err
    # a range below every excitation would draw an empty spectrum
    assert main(["spectrum", "--kind", "uv-vis", str(workdir / "m.alm"),
                 str(workdir / "frames.xyz"), "-o", str(tmp_path / "x.png"),
                 "--e-range", "1", "3"]) == 2
    assert re.search(r"range 1-3 eV misses every predicted excitation \(from \d\.\d\d to "
                     r"\d\.\d\d eV\); widen --e-range", capsys.readouterr().err)
    assert not (tmp_path / "x.png").exists()


def test_uv_vis_of_a_model_that_learns_the_spectrum_directly(workdir, tmp_path, capsys):
    options = {**OPTIONS, "targets": {"absorption": {"e_min": 4.0, "e_max": 14.0,
                                                     "width": 0.25, "n_states": 3}}}
    (tmp_path / "uv.yaml").write_text(yaml.safe_dump(options))
    assert main(["fit", str(tmp_path / "uv.yaml"), "-o", str(tmp_path / "uv.alm")]) == 0
    capsys.readouterr()
    assert main(["spectrum", "--kind", "uv-vis", str(tmp_path / "uv.alm"),
                 str(workdir / "frames.xyz"), "-o", str(tmp_path / "uv.png")]) == 0
    assert "reference peaks -> predicted" in capsys.readouterr().out
    table = np.loadtxt(tmp_path / "uv.csv", delimiter=",", skiprows=1)
    assert table.shape[1] == 4 and np.trapezoid(table[:, 1], table[:, 0]) > 0
    # its grid and line are the model's: another width is refused
    assert main(["spectrum", "--kind", "uv-vis", str(tmp_path / "uv.alm"),
                 str(workdir / "frames.xyz"), "-o", str(tmp_path / "x.png"),
                 "--width", "0.5"]) == 2
    assert "learns the absorption spectrum on its own grid" in capsys.readouterr().err


def test_delta_model_from_yaml_reads_the_frames_orbital_energies(workdir, tmp_path, capsys):
    options = {**OPTIONS, "targets": {
        "excitation_energies": {"n_states": 3, "baseline": "orbital_differences"},
        "oscillator_strengths": {"n_states": 3}}}
    (tmp_path / "delta.yaml").write_text(yaml.safe_dump(options))
    assert main(["fit", str(tmp_path / "delta.yaml"), "-o", str(tmp_path / "d.alm")]) == 0
    assert main(["predict", str(tmp_path / "d.alm"), str(workdir / "frames.xyz"), "-o",
                 str(tmp_path / "p.xyz")]) == 0
    frames = read_structures(workdir / "frames.xyz")
    predicted = np.array([a.info["pred_excitation_energies"]
                          for a in read_structures(tmp_path / "p.xyz")])
    # the KS baseline alone is already within 0.3 eV; the learned correction does better
    base = orbital_differences(frames, 3)
    truth = X.read_states(frames, "excitation_energies", 3)
    assert np.abs(predicted - truth).mean() < np.abs(base - truth).mean()
    bare = [a.copy() for a in frames[:2]]
    for a in bare:
        del a.info["orbital_energies"]
    capsys.readouterr()
    write(tmp_path / "bare.xyz", bare)
    assert main(["predict", str(tmp_path / "d.alm"), str(tmp_path / "bare.xyz"), "-o",
                 str(tmp_path / "q.xyz")]) == 2
    err = capsys.readouterr().err
    # the frame is named where it came from (the shipped file's frame it was read from)
    assert re.search(r"\(frame \d+\) has no 'orbital_energies' in its info", err)


def test_new_frames_labelled_by_pyscf_carry_the_delta_baselines(workdir, tmp_path, capsys):
    """A trajectory's frames (positions only) labelled by 'atomlearn label --labeler
    pyscf' (a ground-state calculation) get the orbital energies and orbital-pair
    strengths the Delta route adds to: its predictions there are those from the shipped
    frame's own baselines, and the ensemble spectrum follows."""
    options = {**OPTIONS, "targets": {
        "excitation_energies": {"n_states": 3, "baseline": "orbital_differences"},
        "oscillator_strengths": {"n_states": 3, "baseline": "orbital_pairs"}}}
    (tmp_path / "pairs.yaml").write_text(yaml.safe_dump(options))
    model = tmp_path / "pairs.alm"
    assert main(["fit", str(tmp_path / "pairs.yaml"), "-o", str(model)]) == 0
    shipped = load_ethanol_excitations("305:306")
    bare = shipped[0].copy()
    bare.info = {}
    write(tmp_path / "traj.xyz", [bare])
    labelled = tmp_path / "labelled.xyz"
    assert main(["label", str(tmp_path / "traj.xyz"), "--labeler", "pyscf", "-o",
                 str(labelled)]) == 0
    write(tmp_path / "shipped.xyz", shipped)
    for source, out in ((labelled, "a.xyz"), (tmp_path / "shipped.xyz", "b.xyz")):
        assert main(["predict", str(model), str(source), "-o", str(tmp_path / out)]) == 0
    ours, theirs = (read_structures(tmp_path / out)[0].info for out in ("a.xyz", "b.xyz"))
    for name in ("pred_excitation_energies", "pred_oscillator_strengths"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-3, atol=1e-4)
    capsys.readouterr()
    assert main(["spectrum", "--kind", "uv-vis", str(model), str(labelled), "-o",
                 str(tmp_path / "uv.png")]) == 0
    assert "(one frame)" in capsys.readouterr().out
