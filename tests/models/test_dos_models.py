"""DOS models of both families on the shipped silicon band energies (2-atom PySCF LDA cells,
27 k-points): symmetry, supercells, saved files, and the learned energy reference."""

import numpy as np
import pytest

from atomlearn.datasets import load_silicon_bands
from atomlearn.models import model_class
from atomlearn.targets import density_of_states as D
from atomlearn.targets import dos
from atomlearn.testing import conformance as C

HYPERS = {
    "sparse_gpr": dict(descriptor={"cutoff": 4.0, "n_max": 4, "l_max": 3}, n_sparse=20,
                       hyperparameters="fixed", sigma=1e-3),
    "bpnn": dict(descriptor={"cutoff": 4.0}, n_hidden=[8], epochs=3, batch_size=8),
    "mpnn": dict(cutoff=4.0, n_features=8, n_interactions=1, n_rbf=6, n_hidden=[8],
                 epochs=3, batch_size=8),
}
GRID = dict(e_min=-16.5, e_max=0.0, spacing=0.05, smearing=0.3)


@pytest.fixture(scope="module")
def cells():
    return load_silicon_bands()


@pytest.fixture(scope="module", params=sorted(HYPERS))
def fitted(request, cells):
    spec = dos(**GRID, reference="fermi", normalization="structure")
    return model_class(request.param)(spec, **HYPERS[request.param]).fit(cells[:24])


def test_dos_model_is_symmetric_extensive_and_saved(fitted, cells, tmp_path):
    assert sorted(fitted.supported_targets) == ["dos", "dos_reference"]
    C.check_output_shapes(fitted, cells[30:33])
    C.check_symmetry(fitted, cells[30])
    C.check_save_load(fitted, cells[30:33], tmp_path)
    # a 2x1x1 supercell has twice the states of its cell at the same reference level
    cell, double = cells[31], cells[31].repeat((2, 1, 1))
    one, two = (fitted.predict([a]) for a in (cell, double))
    tol = C._tol(fitted) * max(1.0, float(np.abs(one["dos"]).max()))
    np.testing.assert_allclose(two["dos"], 2 * one["dos"], atol=2 * tol)
    np.testing.assert_allclose(two["dos_reference"], one["dos_reference"], atol=tol)


def test_per_atom_normalization_is_the_same_for_a_supercell(cells):
    spec = dos(**GRID, reference="vbm", normalization="atom")
    model = model_class("sparse_gpr")(spec, **HYPERS["sparse_gpr"]).fit(cells[:20])
    one, two = (model.predict([a])["dos"] for a in (cells[40], cells[40].repeat((1, 2, 1))))
    np.testing.assert_allclose(two, one, atol=1e-8)
    # per structure labels are per-atom labels times the atoms
    per_structure = dos(**GRID, reference="vbm").read(cells[:3])
    np.testing.assert_allclose(spec.read(cells[:3]) * 2, per_structure)


def _learned_shifts(cells, scale):
    """Training cells with their Fermi levels moved by ``scale`` x known random amounts
    (their DOS labels misplaced by them), fitted with the learned reference: how far the
    alignment moved each reference, and the known moves."""
    rng = np.random.default_rng(1)
    train = [a.copy() for a in cells[:40]]
    shifts = scale * rng.normal(0.0, 0.3, len(train))
    shifts -= shifts.mean()
    for a, s in zip(train, shifts, strict=True):
        a.info["fermi_level"] = D.fermi_level_of_levels(D.read_levels(a, 0), 300.0, 2.0) + s
    spec = dos(**GRID, reference="learned", alignment_iterations=3)
    model = model_class("sparse_gpr")(spec, **{**HYPERS["sparse_gpr"],
                                               "hyperparameters": "validation"}).fit(train)
    return model, model.reference_shifts_ - D.read_references(spec, train), shifts


def test_the_learned_reference_undoes_known_shifts_of_the_training_labels(cells):
    """The alignment of the moved labels ends where the alignment of the clean ones does
    (the Fermi level is not the best alignment either), up to a common constant."""
    _, clean, _ = _learned_shifts(cells, 0.0)
    model, moved, shifts = _learned_shifts(cells, 1.0)
    left = moved + shifts - clean          # what is left of each cell's misplacement
    assert np.std(left) < 0.3 * np.std(shifts)
    assert len(model.alignment_) == 2 and model.alignment_[-1] < model.alignment_[0]


def test_intensive_targets_average_atoms_and_older_files_keep_the_sum(cells, tmp_path):
    """A GP of an intensive target averages its atoms (a supercell predicts what its cell
    does); a file written before the aggregation was stored was fitted with the sum and
    must still predict with it."""
    from atomlearn.models import load_model
    from atomlearn.serialization import read_model_file, write_model_file
    from atomlearn.targets import TargetSpec

    for a in cells:
        a.info["band_gap"] = a.info["gap"]
    spec = TargetSpec("band_gap", "scalar", unit="eV", extensive=False)
    model = model_class("sparse_gpr")(spec, **HYPERS["sparse_gpr"]).fit(cells[:30])
    assert model.aggregation == "mean"
    cell = cells[40]
    np.testing.assert_allclose(model.predict([cell.repeat((2, 1, 1))])["band_gap"],
                               model.predict([cell])["band_gap"], rtol=1e-10)
    path = tmp_path / "gap.alm"
    model.save(path)
    meta, arrays = read_model_file(path)
    del meta["fitted"]["aggregation"]
    old = tmp_path / "old.alm"
    write_model_file(old, cls=meta.pop("class"), params=meta.pop("params"), arrays=arrays,
                     **{k: v for k, v in meta.items()
                        if k not in ("magic", "format_version", "atomlearn_version")})
    again = load_model(old)
    assert again.aggregation == "sum"
    assert load_model(path).aggregation == "mean"
