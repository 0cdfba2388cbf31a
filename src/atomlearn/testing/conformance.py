"""Checks every model family passes for every target kind it supports (the shared model
test suite runs them; a new family or target inherits them).

Each check takes a fitted model and real structures (with the labels of its targets) and
raises ``AssertionError`` with what differs.
"""

from __future__ import annotations

import re
from pathlib import Path

import ase
import numpy as np

from ..errors import DataError
from .finite_difference import numeric_gradient
from .rotations import random_rotation, rotate

#: Tolerances of the symmetry checks by floating-point type (float64 models, float32
#: networks).
TOLERANCE = {"float64": 1e-8, "float32": 1e-3}


def _tol(model) -> float:
    return TOLERANCE.get(getattr(model.hypers, "dtype", "float64"), 1e-8)


def check_output_shapes(model, structures) -> None:
    """Every supported output has the documented shape; std has the mean's shape."""
    n, n_atoms = len(structures), sum(len(a) for a in structures)
    specs = model.supported_targets
    out = model.predict(structures, return_std=model.provides_uncertainty)
    mean, std = out if model.provides_uncertainty else (out, {})
    for name, spec in specs.items():
        if name == "stress" and not all(a.pbc.all() for a in structures):
            continue
        expected = ((n_atoms if spec.per_atom else n), *spec.shape)
        assert mean[name].shape == expected, (name, mean[name].shape, expected)
        assert np.all(np.isfinite(mean[name])), name
        if name in std:
            assert std[name].shape == expected and np.all(std[name] >= 0), name


def check_save_load(model, structures, directory: Path) -> None:
    """A saved and loaded model predicts the same numbers (and std)."""
    from ..models import load_model

    path = Path(directory) / f"{model.registry_name}.alm"
    model.save(path)
    again = load_model(path)
    with_std = model.provides_uncertainty
    a, b = (m.predict(structures, return_std=with_std) for m in (model, again))
    for got, want in ((b, a),) if not with_std else ((b[0], a[0]), (b[1], a[1])):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12,
                                       err_msg=name)
    assert again.calibration_ == model.calibration_
    assert again.get_params() == model.get_params()


def check_symmetry(model, atoms: ase.Atoms, seed: int = 7) -> None:
    """Rotation, translation and permutation of like atoms act on each output as its
    kind says: scalars and spectra invariant, vectors as R v, rank-2 tensors as R A R^T,
    per-atom outputs permuted with their atoms."""
    R = random_rotation(seed)
    moved = rotate(atoms, R)
    moved.positions += [0.7, -1.3, 0.4]
    perm = _like_atom_permutation(atoms)
    permuted = atoms[perm]
    names = [n for n in model.supported_targets if n != "stress"]
    ref, rot, per = (model.predict([a], targets=names) for a in (atoms, moved, permuted))
    tol = _tol(model)
    for name in names:
        spec = model.supported_targets[name]
        scale = max(1.0, float(np.abs(ref[name]).max()))
        want = ref[name]
        if spec.kind == "vector":
            want = want @ R.T
        elif spec.kind == "rank2_symmetric":
            want = R @ want @ R.T
        np.testing.assert_allclose(rot[name], want, atol=tol * scale, err_msg=f"{name}: R")
        want = ref[name][perm] if spec.per_atom else ref[name]
        np.testing.assert_allclose(per[name], want, atol=tol * scale,
                                   err_msg=f"{name}: permutation")


def _like_atom_permutation(atoms) -> np.ndarray:
    """Swap the first two atoms of every element that has two."""
    perm = np.arange(len(atoms))
    for z in np.unique(atoms.numbers):
        idx = np.flatnonzero(atoms.numbers == z)
        if len(idx) >= 2:
            perm[idx[0]], perm[idx[1]] = idx[1], idx[0]
    return perm


def check_forces(model, atoms: ase.Atoms, delta: float = 1e-4) -> None:
    """Predicted forces are minus the central finite-difference gradient of the target
    they derive from (an energy)."""
    source = model.derivative_target
    if source is None:
        return

    def value(positions):
        a = atoms.copy()
        a.positions = positions
        return model.predict([a], targets=[source.name])[source.name][0]

    numeric = -numeric_gradient(value, atoms.positions.copy(), delta)
    forces = model.predict([atoms], targets=["forces"])["forces"]
    np.testing.assert_allclose(forces, numeric, atol=1e-5 * max(1.0, np.abs(numeric).max()),
                               err_msg="forces vs -dE/dr")


def check_calibration_report(model) -> None:
    """Models with a held-out calibration report its scale and coverage per target."""
    for name, report in model.calibration_.items():
        assert name in model.supported_targets, name
        assert report["scale"] > 0 and 0 <= report["within_1sigma"] <= 1, report
        assert report["n_held_out"] >= 1


def check_unknown_element(model) -> None:
    """A structure with an element the model never saw is refused, naming it."""
    stranger = ase.Atoms("XeXe", positions=[[0, 0, 0], [0, 0, 2.5]])
    try:
        model.predict([stranger])
    except DataError as err:
        assert re.search(r"contains element\(s\) \['Xe'\]", str(err)), err
    else:
        raise AssertionError("an unknown element was not refused")


def check_missing_label(model_factory, structures) -> None:
    """Fitting structures without the target's label is refused, naming key and frame."""
    bare = [ase.Atoms(a.numbers, a.positions, cell=a.cell, pbc=a.pbc) for a in structures]
    model = model_factory()
    name = model.target_specs[0].name
    try:
        model.fit(bare)
    except DataError as err:
        message = str(err)
        assert f"No label {name!r}" in message, message
        assert "(frame 0)" in message or "structure 0" in message, message
    else:
        raise AssertionError("fitting without labels was not refused")
