"""The shared model test suite: every family, every target layout it supports.

Targets are real labels of the ten ethanol frames (the DFT energy, forces, dipole,
polarizability, HOMO/LUMO/gap from the shipped set), some repackaged into other layouts
(the per-atom force magnitude as a per-atom scalar, (HOMO, LUMO) as a spectrum).
Operators (Kohn-Sham matrices) have their own suite (``test_operator_gpr.py``).
"""

import numpy as np
import pytest

from atomlearn.models import model_class, model_types
from atomlearn.targets import TargetSpec, dipole, energy, polarizability
from atomlearn.testing import conformance as C

TARGETS = {
    ("scalar", False): energy(forces=True),
    ("spectrum", False): TargetSpec("levels", "spectrum", unit="eV", shape=(2,),
                                    extensive=False),
    ("scalar", True): TargetSpec("force_norm", "scalar", per_atom=True, unit="eV/Å"),
    ("spectrum", True): TargetSpec("force_powers", "spectrum", per_atom=True, shape=(2,)),
    ("vector", False): dipole(),
    ("rank2_symmetric", False): polarizability(),
}
HYPERS = {
    "sparse_gpr": dict(descriptor={"cutoff": 3.5, "n_max": 3, "l_max": 2}, n_sparse=10,
                       sigma=1e-2, sigma_forces=0.1, jitter=1e-6),
    "sa_gpr": dict(descriptor={"cutoff": 3.5, "n_max": 2, "l_max": 2}, n_sparse=20,
                   hyperparameters="fixed", validation_fraction=0.0),
    "bpnn": dict(descriptor={"cutoff": 3.5}, n_hidden=[4], epochs=2, batch_size=4,
                 n_models=2, validation_fraction=0.25),
    "mpnn": dict(cutoff=3.5, n_features=4, n_interactions=1, n_rbf=4, n_hidden=[4], epochs=2,
                 batch_size=4, n_models=2, validation_fraction=0.25),
}
#: Families of molecules and crystals alike (band_gpr, of crystals only: test_band_gpr.py)
FAMILIES = [f for f in model_types() if not model_class(f).periodic_only]
CASES = [(family, layout) for family in FAMILIES
         for layout in sorted(model_class(family).supported_layouts) if layout in TARGETS]


@pytest.fixture(scope="module")
def frames():
    from atomlearn.structures import read_structures
    from conftest import DATA

    out = read_structures(DATA / "ethanol_10.extxyz")
    for a in out:
        f = a.get_forces()
        a.info["levels"] = np.array([a.info["homo"], a.info["lumo"]])
        a.arrays["force_norm"] = np.linalg.norm(f, axis=1)
        a.arrays["force_powers"] = np.stack([np.linalg.norm(f, axis=1),
                                             np.sum(f**2, axis=1)], axis=1)
    return out


def _model(family, layout, **extra):
    spec = TARGETS[layout]
    if spec.gradients and not model_class(family).supported_gradients:
        spec = energy(forces=False)
    return model_class(family)(spec, **{**HYPERS[family], **extra})


@pytest.fixture(scope="module")
def fitted(frames):
    cache = {}

    def get(family, layout):
        if (family, layout) not in cache:
            # a validation search needs 5 structures on each side: all ten frames
            search = family == "sparse_gpr" and layout == ("scalar", False)
            extra = {"validation_fraction": 0.5} if search else {}
            cache[family, layout] = _model(family, layout, **extra).fit(
                frames if search else frames[:8])
        return cache[family, layout]
    return get


def test_every_family_has_cases():
    assert {family for family, _ in CASES} == set(FAMILIES)
    assert set(model_types()) - set(FAMILIES) == {"band_gpr"}
    covered = {layout for _, layout in CASES}
    assert covered == set(TARGETS)


@pytest.mark.parametrize("family,layout", CASES)
def test_shapes_symmetry_and_forces(fitted, frames, family, layout):
    model = fitted(family, layout)
    C.check_output_shapes(model, frames[8:])
    C.check_symmetry(model, frames[9])
    C.check_forces(model, frames[8])
    C.check_calibration_report(model)
    C.check_unknown_element(model)


@pytest.mark.parametrize("family,layout", CASES)
def test_save_load_identity(fitted, frames, family, layout, tmp_path):
    C.check_save_load(fitted(family, layout), frames[8:], tmp_path)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_missing_label_is_refused(frames, family):
    layout = sorted(model_class(family).supported_layouts & set(TARGETS))[0]
    C.check_missing_label(lambda: _model(family, layout), frames[:4])


def test_calibration_is_reported_where_a_held_out_share_exists(fitted):
    assert set(fitted("sparse_gpr", ("scalar", False)).calibration_) == {"energy", "forces"}
    assert set(fitted("mpnn", ("vector", False)).calibration_) == {"dipole"}
    assert fitted("sa_gpr", ("vector", False)).calibration_ == {}
