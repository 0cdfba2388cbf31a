import re

import numpy as np
import pytest
from ase import Atoms

from atomlearn.errors import DataError
from atomlearn.structures import (
    KeySpec,
    get_label,
    has_label,
    read_structures,
    write_predictions,
)
from atomlearn.targets import dipole, energy, polarizability, read_gradient_labels


def test_read_ethanol_labels(ethanol):
    assert len(ethanol) == 10
    assert energy().read(ethanol).shape == (10,)
    assert dipole().read(ethanol).shape == (10, 3)
    pol = polarizability().read(ethanol)
    assert pol.shape == (10, 3, 3)
    np.testing.assert_allclose(pol, np.swapaxes(pol, 1, 2))
    forces = read_gradient_labels(energy(), ethanol)["forces"]
    assert forces.shape == (90, 3)
    # DFT forces on an isolated molecule sum to ~0
    assert np.abs(forces[:9].sum(axis=0)).max() < 1e-5


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"Structure file '{tmp_path / 'no.xyz'}' "
                                                  "does not exist; check the path.")):
        read_structures(tmp_path / "no.xyz")


def test_not_extxyz(tmp_path):
    bad = tmp_path / "bad.xyz"
    bad.write_text("this is not\nan xyz file\n")
    with pytest.raises(DataError, match=re.escape(f"Could not read '{bad}' as extended XYZ")):
        read_structures(bad)


def _write(tmp_path, frames, name="data.xyz"):
    import ase.io

    path = tmp_path / name
    ase.io.write(path, frames, format="extxyz")
    return path


def test_missing_label_names_file_frame_and_key(tmp_path):
    frames = [Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]) for _ in range(3)]
    for i, a in enumerate(frames):
        if i != 1:
            a.info["REF_energy"] = -1.0 * i
    path = _write(tmp_path, frames)
    structures = read_structures(path)
    with pytest.raises(DataError, match=re.escape(
            f"No label 'energy' in '{path}' (frame 1): looked for 'REF_energy', 'energy'")):
        energy().read(structures)


def test_nan_in_positions(tmp_path):
    path = tmp_path / "nan.xyz"
    path.write_text("2\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 nan\n")
    with pytest.raises(DataError, match=re.escape(
            f"Positions in '{path}' (frame 0) are not finite (atom 1)")):
        read_structures(path)


@pytest.mark.parametrize("pbc", [False, True])
def test_overlapping_atoms_are_refused(tmp_path, pbc):
    """Coinciding atoms have no defined descriptor gradient (NaN forces): refused with
    both atoms named, in molecules and across a periodic boundary."""
    a = Atoms("H3", positions=[[0, 0, 0], [0, 0, 0.74], [0, 0.02, 0.75]], cell=[6, 6, 6],
              pbc=pbc)
    if pbc:
        a.positions[2] = [0, 0, 5.99]           # 0.01 Å from atom 0 through the boundary
    path = _write(tmp_path, [Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]), a])
    pair = "0 and 2" if pbc else "1 and 2"
    with pytest.raises(DataError, match=re.escape(
            f"Atoms {pair} in '{path}' (frame 1) are ")):
        read_structures(path)


def test_nan_in_label(tmp_path):
    a = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    a.info["REF_energy"] = float("nan")
    structures = read_structures(_write(tmp_path, [a]))
    with pytest.raises(DataError, match="Label 'energy' in .* contains NaN or inf"):
        energy().read(structures)


def test_forces_of_wrong_shape(tmp_path):
    a = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    a.info["REF_forces"] = np.zeros(4)
    with pytest.raises(DataError, match=re.escape(
            "Label 'forces' in structure 0 has shape (4,); expected (2, 3) (one row per "
            "atom).")):
        get_label(a, "forces", shape=(3,), per_atom=True, frame=0)


def test_key_precedence_and_overrides():
    a = Atoms("H")
    a.info["energy"] = 1.0
    a.info["REF_energy"] = 2.0
    a.info["dft"] = 3.0
    assert get_label(a, "energy") == 2.0
    assert get_label(a, "energy", KeySpec(overrides={"energy": "dft"})) == 3.0
    assert has_label(a, "energy") and not has_label(a, "dipole")


def test_write_predictions_roundtrip(tmp_path, ethanol):
    pred = {"energy": np.arange(10.0), "forces": np.ones((90, 3))}
    std = {"energy": np.full(10, 0.5)}
    out = tmp_path / "sub" / "pred.xyz"
    write_predictions(out, ethanol, pred, std, per_atom={"forces": True})
    back = read_structures(out)
    assert [a.info["pred_energy"] for a in back] == list(range(10))
    assert back[3].info["pred_energy_std"] == 0.5
    assert back[2].arrays["pred_forces"].shape == (9, 3)
    assert sorted(p.name for p in out.parent.iterdir()) == ["pred.xyz"]  # no temp file left
