"""``atomlearn label``: tblite labels on a process pool, reused on a rerun; refusals."""

import ase.io
import numpy as np

from atomlearn.cli.main import main
from atomlearn.datasets import load_ethanol


def test_label_on_workers_and_rerun(tmp_path, capsys):
    out = tmp_path / "labelled.xyz"
    args = ["label", "ethanol", "--index", "0:4", "--labeler", "tblite", "-o", str(out)]
    assert main(args + ["--executor", "process", "--workers", "2"]) == 0
    assert "Labelled 4 of 4 structures with tblite:GFN2-xTB" in capsys.readouterr().out
    labelled = ase.io.read(out, index=":")
    shipped = load_ethanol("0:4")
    np.testing.assert_allclose([a.get_potential_energy() for a in labelled],
                               [a.info["gfn2_energy"] for a in shipped], atol=1e-6)
    stored = sorted((tmp_path / "labelled.xyz.labels").glob("*.xyz"))
    assert len(stored) == 4
    before = [p.stat().st_mtime_ns for p in stored]
    assert main(args) == 0                        # served from the store
    assert [p.stat().st_mtime_ns for p in stored] == before


def test_label_refusals(tmp_path, capsys):
    args = ["label", "ethanol", "--index", "0:2", "--labeler", "tblite", "-o",
            str(tmp_path / "x.xyz")]
    assert main(args + ["--timeout", "0"]) == 2
    assert "--timeout must be positive" in capsys.readouterr().err
    assert main(args + ["--executor", "dask", "--scheduler-file",
                        str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "Dask scheduler file" in err and "does not exist" in err
    assert main(args + ["--executor", "process", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
