"""Band energies of silicon cells at any k-point (band_gpr): the shipped labels reach the
model (mesh and path), predictions are invariant under rotation and translation of the
cell and under k -> -k and k -> k + G, the model file round-trips, bad input is named."""

import numpy as np
import pytest

from atomlearn.datasets import load_extra, load_silicon_bands
from atomlearn.errors import DataError
from atomlearn.models import BandGPRModel, StructureModel
from atomlearn.targets import band_energies
from atomlearn.testing import random_rotation, rotate


@pytest.fixture(scope="module")
def frames():
    return load_silicon_bands(":")


@pytest.fixture(scope="module")
def model(frames):
    # 20 cells, four of them with paths; frames[0] (with a path) is held out
    train = frames[1:21]
    assert sum("path_kpoints" in a.info for a in train) == 4
    return BandGPRModel(band_energies(27, 8)).fit(train)


def test_shipped_labels(frames):
    extra = load_extra("silicon_bands")
    a = frames[int(extra["path_frames"][1])]
    np.testing.assert_array_equal(np.reshape(a.info["path_band_energies"], (20, 8)),
                                  extra["path_band_energies"][1])
    np.testing.assert_array_equal(np.reshape(a.info["kpoints"], (27, 3)), extra["kpts_frac"])
    assert sum("path_kpoints" in f.info for f in frames) == 13


def test_invariances_and_file(model, frames, tmp_path):
    a = frames[0]
    path = np.reshape(a.info["path_kpoints"], (-1, 3))
    bands = model.predict_bands([a], path)[0]
    moved = rotate(a, random_rotation(4))
    moved.translate([0.3, -1.2, 2.0])
    np.testing.assert_allclose(model.predict_bands([moved], path)[0], bands, atol=1e-9)
    shifted = -path + np.array([1.0, -2.0, 0.0])        # time reversal and a lattice vector
    np.testing.assert_allclose(model.predict_bands([a], shifted)[0], bands, atol=1e-9)
    # the paths of training cells are labels: reproduced (a model that ignored them
    # would interpolate the mesh there, hundreds of meV off)
    seen = next(f for f in frames[1:21] if "path_kpoints" in f.info)
    ref = np.reshape(seen.info["path_band_energies"], (-1, 8))
    assert np.abs(model.predict_bands([seen], path)[0] - ref).max() < 0.01
    mean_pred, std = model.predict([a], return_std=True)
    assert mean_pred["band_energies"].shape == std["band_energies"].shape == (1, 27, 8)
    assert np.all(std["band_energies"] > 0)
    model.save(tmp_path / "b.alm")
    again = StructureModel.load(tmp_path / "b.alm")
    np.testing.assert_array_equal(again.predict_bands([a], path), model.predict_bands([a],
                                                                                   path))


def test_bad_input(model, frames):
    molecule = frames[0].copy()
    molecule.pbc = False
    with pytest.raises(DataError, match="periodic cells of one atom order"):
        model.predict([molecule])
    with pytest.raises(DataError, match=r"shape \(n_k, 3\)"):
        model.predict_bands([frames[0]], np.zeros((4, 2)))
    bare = frames[2].copy()
    del bare.info["kpoints"]
    with pytest.raises(DataError, match="has no 'kpoints'"):
        BandGPRModel(band_energies(27, 8)).fit([frames[1], bare])
