"""Corrupted, truncated and mutated model, options and structure files: every one either
works or ends in one of atomlearn's errors (which the CLI prints as one line, exit 2),
never in a traceback or in silent non-finite numbers."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from atomlearn.errors import AtomlearnError
from atomlearn.structures import read_structures

DATA = Path(__file__).parent / "data"
SAVED = DATA / "saved" / "v3"
EXAMPLES = Path(__file__).parents[1] / "examples"
ODD_VALUES = [None, -1, 0, -0.5, 1e308, float("nan"), "x", "", [], {}, [1, "a"], {"a": 1},
              True, 10**30, [[[[[]]]]]]


def _outcome(call) -> str:
    """'ok', or the name of the atomlearn error; anything else fails the test."""
    try:
        call()
    except AtomlearnError as err:
        assert str(err).strip(), "an error without a message"
        return type(err).__name__
    return "ok"


def _paths(tree, prefix=()):
    """Every key path of a JSON-like tree."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _mutate_tree(tree, rng):
    """Replace, delete or add one entry somewhere in a JSON-like tree."""
    tree = copy.deepcopy(tree)
    paths = list(_paths(tree))
    path = paths[rng.integers(len(paths))]
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    action = rng.integers(3)
    if action == 0 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == 1 and isinstance(parent, dict):
        parent["unexpected_key"] = ODD_VALUES[rng.integers(len(ODD_VALUES))]
    else:
        parent[path[-1]] = ODD_VALUES[rng.integers(len(ODD_VALUES))]
    return tree


def _truncated_or_flipped(raw: bytes, rng) -> bytes:
    if rng.random() < 0.5:
        return raw[: rng.integers(len(raw))]
    data = bytearray(raw)
    for pos in rng.integers(len(data), size=rng.integers(1, 8)):
        data[pos] = rng.integers(256)
    return bytes(data)


# -- model files --------------------------------------------------------------------
def _members(path):
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["__metadata__"]))
        arrays = {k: npz[k] for k in npz.files if k != "__metadata__"}
    return meta, arrays


def _mutate_arrays(arrays, rng):
    arrays = dict(arrays)
    key = sorted(arrays)[rng.integers(len(arrays))]
    value = arrays[key]
    action = rng.integers(6)
    if action == 0:
        del arrays[key]
    elif action == 1 and value.ndim and len(value):
        arrays[key] = value[:-1]                    # one row short
    elif action == 2:
        arrays[key] = value.reshape(-1)[: max(1, value.size // 2)].copy()
    elif action == 3 and value.size and value.dtype.kind == "f":
        bad = value.astype(float).copy()
        bad.reshape(-1)[rng.integers(bad.size)] = np.nan
        arrays[key] = bad
    elif action == 4:
        arrays[key] = np.array(["text"] * max(1, value.size))
    else:
        arrays["unexpected/array"] = np.ones(3)
    return arrays


def _write_members(path, meta, arrays):
    with open(path, "wb") as fh:
        np.savez(fh, __metadata__=np.array(json.dumps(meta)), **arrays)


FAMILIES = ["sparse_gpr", "sa_gpr", "bpnn", "mpnn"]


@pytest.mark.parametrize("family", FAMILIES)
def test_mutated_model_files(tmp_path, family):
    from atomlearn.cli.main import main
    from atomlearn.models import load_model

    source = SAVED / f"{family}.alm"
    meta, arrays = _members(source)
    raw = source.read_bytes()
    structures = read_structures(DATA / "ethanol_10.extxyz")[8:]
    rng = np.random.default_rng(sum(map(ord, family)))
    outcomes = {}
    for case in range(60):
        path = tmp_path / f"case{case}.alm"
        kind = ("bytes", "metadata", "arrays")[case % 3]
        if kind == "bytes":
            path.write_bytes(_truncated_or_flipped(raw, rng))
        elif kind == "metadata":
            _write_members(path, _mutate_tree(meta, rng), arrays)
        else:
            _write_members(path, meta, _mutate_arrays(arrays, rng))

        def load_and_predict(path=path):
            assert main(["info", str(path)]) in (0, 2)
            model = load_model(path)
            out = model.predict(structures, return_std=model.provides_uncertainty)
            for part in out if isinstance(out, tuple) else (out,):
                assert all(np.all(np.isfinite(v)) for v in part.values())

        try:
            result = _outcome(load_and_predict)
        except Exception as err:        # noqa: BLE001 - report which case broke
            raise AssertionError(f"{family} case {case} ({kind}): {type(err).__name__}: "
                                 f"{err}") from err
        outcomes[result] = outcomes.get(result, 0) + 1
    assert outcomes.get("ModelFileError", 0) > 20, outcomes


def test_a_header_claiming_terabytes_is_refused(tmp_path):
    from atomlearn.errors import ModelFileError
    from atomlearn.models import load_model

    meta, arrays = _members(SAVED / "sparse_gpr.alm")
    path = tmp_path / "huge.alm"
    _write_members(path, meta, arrays)
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    name = "solution/weights.npy"
    members[name] = members[name].replace(
        repr(arrays["solution/weights"].shape).encode(), b"(1000000000000,)", 1)
    with zipfile.ZipFile(path, "w") as z:
        for filename, data in members.items():
            z.writestr(filename, data)
    with pytest.raises(ModelFileError, match="claims shape"):
        load_model(path)


# -- options files ------------------------------------------------------------------
@pytest.mark.parametrize("example", ["ethanol_gpr.yaml", "ethanol_mpnn.yaml",
                                     "ethanol_dipole_sagpr.yaml", "silicon_dos_gpr.yaml"])
def test_mutated_options_files(tmp_path, example):
    import yaml

    from atomlearn.config import load_options
    from atomlearn.workflows import build_model

    source = EXAMPLES / example
    raw = source.read_bytes()
    tree = yaml.safe_load(raw)
    rng = np.random.default_rng(len(example))

    for case in range(60):
        path = tmp_path / f"case{case}.yaml"
        if case % 2:
            path.write_bytes(_truncated_or_flipped(raw, rng))
        else:
            path.write_text(yaml.safe_dump(_mutate_tree(tree, rng)))

        def load_and_build(path=path):
            options = load_options(path)
            build_model(options).check_hypers()

        try:
            _outcome(load_and_build)
        except Exception as err:        # noqa: BLE001
            raise AssertionError(f"{example} case {case}: {type(err).__name__}: {err}"
                                 ) from err


# -- structure files ----------------------------------------------------------------
def test_mutated_structure_files(tmp_path):
    from atomlearn.targets import Dataset, energy

    raw = (DATA / "ethanol_10.extxyz").read_bytes()
    rng = np.random.default_rng(7)
    outcomes = {}
    for case in range(80):
        path = tmp_path / f"case{case}.xyz"
        path.write_bytes(_truncated_or_flipped(raw, rng))

        def read(path=path):
            Dataset.read(read_structures(path), [energy(forces=True)])

        try:
            result = _outcome(read)
        except Exception as err:        # noqa: BLE001
            raise AssertionError(f"case {case}: {type(err).__name__}: {err}") from err
        outcomes[result] = outcomes.get(result, 0) + 1
    assert outcomes.get("DataError", 0) > 20, outcomes


# -- option values at the edge ------------------------------------------------------
SMALL = {
    "sparse_gpr": dict(descriptor={"cutoff": 3.0, "n_max": 2, "l_max": 1}, n_sparse=5),
    "sa_gpr": dict(descriptor={"cutoff": 3.0, "n_max": 2, "l_max": 1}, n_sparse=3),
    "bpnn": dict(descriptor={"cutoff": 3.0}, n_hidden=[2], epochs=1, batch_size=3),
    "mpnn": dict(cutoff=3.0, n_features=2, n_interactions=1, n_rbf=2, n_hidden=[2],
                 epochs=1, batch_size=3),
}


def _numeric_options(cls, prefix=""):
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from _numeric_options(hint, f"{prefix}{f.name}.")
        elif hint in (int, float) or str(hint) in ("float | None", "int | None"):
            yield prefix + f.name


@pytest.mark.parametrize("family", FAMILIES)
def test_zero_and_negative_numbers_are_refused_or_work(family):
    """Every numeric option of every family at 0 and -1: refused by name before any work,
    or a fit (and a prediction) that works; never a traceback."""
    from atomlearn.models import family_hypers, model_class
    from atomlearn.targets import dipole, energy, polarizability

    frames = read_structures(DATA / "ethanol_10.extxyz")
    target = {"sa_gpr": polarizability(), "bpnn": dipole()}.get(family, energy())
    for name in _numeric_options(family_hypers(family)):
        for value in (0, -1):
            options = {k: (dict(v) if isinstance(v, dict) else v)
                       for k, v in SMALL[family].items()}
            section, _, key = name.rpartition(".")
            (options.setdefault(section, {}) if section else options)[key] = value

            def fit_and_predict(options=options):
                model = model_class(family)(target, **options)
                model.check_hypers()
                model.fit(frames[:6]).predict(frames[6:8])

            try:
                _outcome(fit_and_predict)
            except Exception as err:        # noqa: BLE001
                raise AssertionError(f"{family} {name}={value}: {type(err).__name__}: {err}"
                                     ) from err
