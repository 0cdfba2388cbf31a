"""The shipped TDA frames as a YAML data source: fit per-state excitation targets and
predict them."""

import numpy as np
import yaml

from atomlearn.cli.main import main
from atomlearn.datasets import load_ethanol_excitations
from atomlearn.structures import read_structures


def test_fit_and_predict_excitations_from_the_shipped_tda_frames(tmp_path, capsys):
    options = {"targets": {"excitation_energies": {"n_states": 3},
                           "oscillator_strengths": {"n_states": 3}},
               "data": {"train": "ethanol_tda", "test_fraction": 0.2, "n_train": 30,
                        "seed": 0},
               "model": {"type": "sparse_gpr", "n_sparse": 20,
                         "descriptor": {"cutoff": 4.0, "n_max": 4, "l_max": 3}}}
    (tmp_path / "exc.yaml").write_text(yaml.safe_dump(options))
    assert main(["fit", str(tmp_path / "exc.yaml"), "-o", str(tmp_path / "m.alm")]) == 0
    out = capsys.readouterr().out
    assert "excitation_energies: MAE" in out and "oscillator_strengths: MAE" in out
    assert main(["info", str(tmp_path / "m.alm")]) == 0
    assert "training data:   ethanol_tda (30 of 350 structures" in capsys.readouterr().out
    from ase.io import write

    write(tmp_path / "frames.xyz", load_ethanol_excitations("0:4"))
    assert main(["predict", str(tmp_path / "m.alm"), str(tmp_path / "frames.xyz"), "-o",
                 str(tmp_path / "p.xyz")]) == 0
    info = read_structures(tmp_path / "p.xyz")[0].info
    assert np.asarray(info["pred_excitation_energies"]).shape == (3,)
    assert np.all(np.asarray(info["pred_oscillator_strengths_std"]) > 0)
