"""DOS labels from eigenvalues, their energy references, and the refusals."""

import re

import numpy as np
import pytest
from ase import Atoms
from scipy.stats import norm

from atomlearn.errors import ConfigError, DataError
from atomlearn.targets import Dataset, dos, energy
from atomlearn.targets import density_of_states as D
from atomlearn.targets.spec import companions, target_from_options


def _molecule(levels, n_electrons, **info):
    a = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    a.info.update({"orbital_energies": np.asarray(levels, float),
                   "n_electrons": n_electrons, **info})
    return a


def test_labels_integrate_to_the_states_and_have_the_smearing_width():
    levels = [-8.0, -3.0, 2.0, 6.0]
    spec = dos(e_min=-12.0, e_max=12.0, spacing=0.01, smearing=0.3, reference="absolute")
    g = spec.read([_molecule(levels, 4)])[0]
    grid = D.dos_options(spec).grid
    # the top level's Gaussian is cut: it and what lies 3 sigma below it are missing
    known = np.isfinite(g)
    assert grid[known].max() <= 6.0 - 3 * 0.3 + 1e-9 and np.isnan(g[grid > 6.0]).all()
    # two electrons per level: the first three levels hold 6 states, plus the top level's
    # tail below its 3-sigma cut
    tail = 2 * norm.sf((6.0 - grid[known].max()) / 0.3)
    assert np.trapezoid(g[known], grid[known]) == pytest.approx(6.0 + tail, rel=1e-6)
    # an isolated peak is a Gaussian of the smearing width (second moment sigma^2)
    near = known & (np.abs(grid + 3.0) < 2.0)
    w = g[near] / np.trapezoid(g[near], grid[near])
    assert np.trapezoid(w * (grid[near] + 3.0) ** 2, grid[near]) == pytest.approx(0.09,
                                                                                  rel=1e-3)
    # per atom: half of it for this two-atom molecule
    per_atom = dos(e_min=-12.0, e_max=12.0, spacing=0.01, smearing=0.3,
                   reference="absolute", normalization="atom")
    assert not per_atom.extensive
    np.testing.assert_allclose(per_atom.read([_molecule(levels, 4)])[0], g / 2)


def test_k_point_weights_and_band_energies():
    a = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    a.info.update({"band_energies": np.array([[-2.0, 1.0], [-1.0, 3.0]]).ravel(),
                   "n_kpoints": 2, "kpoint_weights": np.array([3.0, 1.0]),
                   "n_electrons": 2})
    spec = dos(e_min=-6.0, e_max=0.0, spacing=0.01, smearing=0.1, reference="absolute")
    g = spec.read([a])[0]
    grid = D.dos_options(spec).grid
    peak = lambda e: g[np.argmin(np.abs(grid - e))]       # noqa: E731
    assert peak(-2.0) / peak(-1.0) == pytest.approx(3.0, rel=1e-6)     # weights 3:1


def test_references():
    a = _molecule([-9.0, -5.0, 1.0, 4.0], 4, fermi_level=-1.5)
    levels = D.read_levels(a, 0)
    assert D.reference_level(levels, a, "absolute", 2.0) == 0.0
    assert D.reference_level(levels, a, "vbm", 2.0) == -5.0
    assert D.reference_level(levels, a, "fermi", 2.0) == -1.5          # from the info
    del a.info["fermi_level"]
    assert D.reference_level(levels, a, "fermi", 2.0) == pytest.approx(-2.0)   # mid-gap
    spec = dos(e_min=-10.0, e_max=6.0, smearing=0.2, spacing=0.05, reference="vbm")
    assert [s.name for s in companions([spec])] == ["dos", "dos_reference"]
    assert companions([spec])[1].read([a])[0] == -5.0
    assert [s.name for s in companions([dos(reference="absolute")])] == ["dos"]


def test_levels_below_the_grid_are_counted_out():
    spec = dos(e_min=-10.0, e_max=6.0, smearing=0.2, reference="absolute")
    frames = [_molecule([-300.0, -8.0, 1.0, 4.0], 4), _molecule([-290.0, -7.0, 1.5, 4.0], 4)]
    assert D.states_below(spec, frames) == 1
    assert D.electron_counts(spec, frames) == {"valence": {"1": 2.0}, "states_below": 1}


def test_options_from_yaml_and_refusals():
    spec = target_from_options("dos", {"e_min": "-5", "e_max": 5, "smearing": 0.3,
                                       "reference": "learned"})
    assert D.dos_options(spec).reference == "learned" and spec.shape == (201,)
    with pytest.raises(ConfigError, match=re.escape(
            "The DOS smearing (0.01 eV) is smaller than the grid spacing (0.05 eV)")):
        dos(smearing=0.01)
    with pytest.raises(ConfigError, match="Unknown DOS energy reference 'midgap'"):
        dos(reference="midgap")
    with pytest.raises(ConfigError, match="asks for \\['forces'\\], but forces and stress"):
        target_from_options("dos_forces", {"kind": "spectrum", "shape": [3], "forces": True})
    with pytest.raises(ConfigError, match="Unknown option 'forces' of target 'dos'"):
        target_from_options("dos", {"forces": True})


def test_bad_eigenvalue_data_is_named():
    spec = dos(e_min=-10.0, e_max=6.0, smearing=0.2, reference="absolute")
    bare = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    with pytest.raises(DataError, match=re.escape(
            "structure 0 has no eigenvalues: a DOS needs 'orbital_energies'")):
        spec.read([bare])
    with pytest.raises(DataError, match=re.escape(
            "The DOS grid starts at -10.0 eV, +0.2 eV from a level of structure 1")):
        spec.read([_molecule([-8.0, 1.0], 2), _molecule([-9.8, 1.0], 2)])
    with pytest.raises(DataError, match=re.escape(
            "structure 0 has 6 electrons but only 2 computed levels (4 electrons)")):
        spec.read([_molecule([-8.0, 1.0], 6)])
    with pytest.raises(DataError, match="has no electron count"):
        spec.read([Atoms("H", info={"orbital_energies": np.array([-1.0])})])


def test_missing_grid_points_pass_the_dataset_but_not_other_nan():
    spec = dos(e_min=-10.0, e_max=6.0, smearing=0.2, reference="absolute")
    data = Dataset.read([_molecule([-8.0, -4.0, 1.0], 4)], [spec])
    assert np.isnan(data.labels["dos"]).any()
    bad = _molecule([-8.0, 1.0], 2)
    bad.info["energy"] = float("nan")
    with pytest.raises(DataError, match="Label .energy. in structure 0 contains NaN or inf"):
        Dataset.read([bad], [energy(forces=False)])


def test_alignment_recovers_a_known_shift():
    """Labels shifted by known amounts and a 'prediction' equal to the unshifted DOS: the
    re-chosen references undo the shifts (up to their common constant)."""
    rng = np.random.default_rng(0)
    spec = dos(e_min=-10.0, e_max=4.0, spacing=0.02, smearing=0.2, reference="fermi")
    frames = [_molecule(np.sort(rng.uniform(-8, 3, 12)), 8, fermi_level=0.0)
              for _ in range(6)]
    truth = spec.read(frames)
    shifts = rng.uniform(-0.4, 0.4, len(frames))
    shifts -= shifts.mean()
    found = D.aligned_shifts(spec, frames, np.nan_to_num(truth), shifts)
    np.testing.assert_allclose(found - found.mean(), 0.0, atol=0.01)


def test_electrons_from_the_valence_table():
    """Eigenvalues of valence electrons only (xTB, pseudopotentials): the count from the
    elements, less the charge; the shipped silicon cells agree with their n_electrons."""
    from atomlearn.datasets import load_silicon

    assert [D.valence_electrons(z) for z in (1, 6, 8, 14, 26, 31, 79, 83)] == [
        1, 4, 6, 4, 8, 3, 11, 5]
    with pytest.raises(ValueError, match="no valence electron count for element 64 .Gd."):
        D.valence_electrons(64)
    cell = load_silicon(":1")[0]
    assert D.read_levels(cell, 0, "valence").n_electrons == 256
    assert cell.info["n_electrons"] == pytest.approx(256)
    bare = cell.copy()
    del bare.info["n_electrons"]
    # the top of the valence band is the 128th level either way
    spec = dos(e_min=-14.0, e_max=2.0, smearing=0.3, reference="vbm", electrons="valence")
    np.testing.assert_allclose(spec.read([bare]), dos(
        e_min=-14.0, e_max=2.0, smearing=0.3, reference="vbm").read([cell]))
    with pytest.raises(DataError, match="or set the DOS option 'electrons: valence'"):
        dos(reference="vbm").read([bare])
    ion = _molecule([-8.0, -4.0, 1.0], 0)
    ion.info.pop("n_electrons")
    ion.info["charge"] = 1
    assert D.read_levels(ion, 0, "valence").n_electrons == 1.0     # H2+
    with pytest.raises(ConfigError, match="Unknown DOS electron count 'table'"):
        dos(electrons="table")
