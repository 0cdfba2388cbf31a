import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from atomlearn.errors import ModelFileError
from atomlearn.models import load_model
from atomlearn.serialization import FORMAT_VERSION, read_model_file, write_model_file
from atomlearn.structures import read_structures

SAVED = Path(__file__).parent / "data" / "saved"


def test_write_is_atomic_and_pickle_free(tmp_path):
    path = write_model_file(tmp_path / "m.alm", cls="x", params={"a": 1},
                            arrays={"w": np.arange(3.0)})
    assert [p.name for p in tmp_path.iterdir()] == ["m.alm"]
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["__metadata__.npy", "w.npy"]
    meta, arrays = read_model_file(path)
    assert meta["format_version"] == FORMAT_VERSION and meta["params"] == {"a": 1}
    np.testing.assert_array_equal(arrays["w"], [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="model files hold numbers only"):
        write_model_file(tmp_path / "o.alm", cls="x", params={},
                         arrays={"o": np.array([{}], dtype=object)})


def test_pickled_payload_is_refused(tmp_path):
    # an npz whose array is a pickled object must not be unpickled
    path = tmp_path / "evil.alm"
    meta = json.dumps({"magic": "atomlearn-model", "format_version": 1, "class": "sparse_gpr",
                       "params": {}})
    with open(path, "wb") as fh:
        np.savez(fh, __metadata__=np.array(meta), payload=np.array([object()], dtype=object))
    with pytest.raises(ModelFileError, match="array 'payload' holds object values; model "
                                             "files hold numbers only"):
        read_model_file(path)


def test_bad_files(tmp_path):
    with pytest.raises(ModelFileError, match=re.escape(
            f"Model file '{tmp_path / 'none.alm'}' does not exist")):
        read_model_file(tmp_path / "none.alm")
    text = tmp_path / "t.alm"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="is not an atomlearn model file"):
        read_model_file(text)
    newer = write_model_file(tmp_path / "n.alm", cls="x", params={}, arrays={})
    meta, _ = read_model_file(newer)
    with open(newer, "wb") as fh:
        np.savez(fh, __metadata__=np.array(json.dumps({**meta, "format_version": 99})))
    with pytest.raises(ModelFileError, match="has model format 99, newer than this atomlearn"):
        read_model_file(newer)
    unknown = write_model_file(tmp_path / "u.alm", cls="mystery", params={}, arrays={})
    with pytest.raises(ModelFileError, match="unknown model class 'mystery'"):
        load_model(unknown)


def _stored(version: int):
    expected = json.loads((SAVED / f"v{version}" / "expected.json").read_text())
    return [(version, family) for family in expected]


@pytest.mark.parametrize("version,family", _stored(1) + _stored(2) + _stored(3))
def test_stored_files_still_load(version, family):
    """Files of every released format load and predict the numbers saved with them (the v1
    files were written by atomlearn at commit cd952ec, before the model layer of format 2;
    the v2 and v3 files by tests/data/saved/regenerate.py)."""
    folder = SAVED / f"v{version}"
    expected = json.loads((folder / "expected.json").read_text())[family]
    model = load_model(folder / expected.pop("file"))
    structures = read_structures(Path(__file__).parent / "data" / "ethanol_10.extxyz")
    with_std = any(k.endswith("_std") for k in expected)
    out = model.predict(structures[8:], return_std=with_std)
    pred, std = out if with_std else (out, {})
    for name, values in expected.items():
        got = std[name[:-4]] if name.endswith("_std") else pred[name]
        np.testing.assert_allclose(got, values, rtol=1e-7, atol=1e-9, err_msg=name)
