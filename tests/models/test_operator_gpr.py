"""Kohn-Sham matrices by block-wise SA-GPR: predictions rotate as D^T H D (PySCF's own
Wigner matrices), change by (-1)^l per shell under inversion, follow permutations of
atoms, are symmetric, survive the model file; the layout's decomposition is exact and
the reference matrices give the data's orbital energies with the exact overlap."""

import numpy as np
import pytest

from atomlearn.datasets import load_ethanol_hamiltonians, load_extra
from atomlearn.errors import ConfigError, DataError
from atomlearn.models import StructureModel, SymmetryAdaptedGPRModel
from atomlearn.targets import hamiltonian
from atomlearn.targets.levels import orbital_pair_strengths
from atomlearn.targets.operators import AtomicOrbitals, OperatorLayout, orbital_energies
from atomlearn.testing import check_operator_symmetries, orbital_rotation, random_rotation, rotate

OPTIONS = {"descriptor": {"cutoff": 3.5, "n_max": 3, "l_max": 2, "atom_width": 0.3},
           "operator": {"pair_cutoff": 4.0, "pair_n_max": 3, "pair_l_max": 2},
           "n_sparse": 8, "sigma": 1e-3, "hyperparameters": "fixed"}


@pytest.fixture(scope="module")
def frames():
    return load_ethanol_hamiltonians(":8")


@pytest.fixture(scope="module")
def model(frames):
    return SymmetryAdaptedGPRModel(hamiltonian(72), **OPTIONS).fit(frames[:6])


def test_layout_round_trip_and_reference_levels(frames):
    H = np.stack([a.info["hamiltonian"] for a in frames])
    numbers = frames[0].numbers
    layout = OperatorLayout(AtomicOrbitals.from_pyscf("def2-svp", numbers))
    parts = layout.decompose(H, numbers)
    np.testing.assert_allclose(layout.assemble(parts, numbers, len(H)), H, atol=1e-12)
    # pair blocks in both orders, on-site blocks once: their upper triangles
    sizes = [layout.orbitals.n_functions(int(z)) for z in numbers]
    assert sum(v.size for v in parts.values()) == len(H) * (
        72 * 72 - sum(n * (n - 1) // 2 for n in sizes))
    # the data's orbital energies are the generalised eigenvalues with the exact overlap
    levels = orbital_energies(H, frames, "def2-svp")
    rows = np.arange(0, 16, 2)[:8]
    np.testing.assert_allclose(levels, load_extra("ethanol")["mo_energies"][rows],
                               atol=3e-3)


def test_predictions_rotate_invert_and_permute(model, frames):
    a = frames[7]
    check_operator_symmetries(
        lambda x: model.predict([x], targets=["hamiltonian"])["hamiltonian"][0], a,
        "def2-svp", swap=(3, 5))
    orbitals = AtomicOrbitals.from_pyscf("def2-svp", a.numbers)
    slices = [s for atom in orbitals.shell_slices(a.numbers) for s in atom]
    assert len(slices) == 2 * 6 + 6 * 3 + 6


def test_levels_follow_the_matrix_and_the_file_round_trip(model, frames, tmp_path):
    out = model.predict(frames[6:])
    levels = orbital_energies(out["hamiltonian"], frames[6:], "def2-svp")
    np.testing.assert_allclose(out["orbital_energies"], levels)
    np.testing.assert_allclose(out["gap"], levels[:, 13] - levels[:, 12])
    np.testing.assert_allclose(out["homo"], levels[:, 12])
    # the orbital pairs' strengths (a Delta baseline of excitations) of the same matrix
    pairs = [orbital_pair_strengths(a, H, "def2-svp")
             for a, H in zip(frames[6:], out["hamiltonian"], strict=True)]
    np.testing.assert_allclose(out["orbital_pair_strengths"], pairs, rtol=1e-10)
    # fitted to 6 frames, the matrix is already far closer than the training mean
    ref = np.stack([a.info["hamiltonian"] for a in frames[6:]])
    mean = np.mean([a.info["hamiltonian"] for a in frames[:6]], axis=0)
    assert np.abs(out["hamiltonian"] - ref).mean() < 0.2 * np.abs(mean - ref).mean()
    model.save(tmp_path / "h.alm")
    again = StructureModel.load(tmp_path / "h.alm").predict(frames[6:])
    for name, value in out.items():
        np.testing.assert_array_equal(again[name], value)
    with pytest.raises(NotImplementedError, match="without standard deviations"):
        model.predict(frames[6:], return_std=True)


def test_bad_operator_input(model, frames):
    with pytest.raises(ConfigError, match="basis"):
        from atomlearn.targets import TargetSpec

        TargetSpec("hamiltonian", "operator", shape=(72, 72))
    water = frames[0][[2, 3, 4]]
    water.numbers = [8, 1, 7]
    with pytest.raises(DataError, match="not trained on"):
        model.predict([water], targets=["hamiltonian"])
    two_oxygens = frames[0].copy()
    two_oxygens.numbers[1] = 8          # an O-O pair: blocks no training frame had
    with pytest.raises(DataError, match=r"frame 0\) has blocks \('pair', 8, 8\)"):
        model.predict([two_oxygens], targets=["hamiltonian"])
    with pytest.raises(ConfigError, match="symmetry_adapted"):
        SymmetryAdaptedGPRModel(hamiltonian(72), symmetry_adapted=False).fit(frames[:2])


def test_metric_re_solve_gradient_and_descent(frames):
    """The joint objective's gradient is its derivative (it is quadratic, so a central
    difference is exact up to rounding), its start is the channel-wise solution, and the
    re-solve lowers the Löwdin-basis error it adds."""
    from atomlearn.models.sa_gpr.metric import MetricProblem, refine_in_metric

    op = SymmetryAdaptedGPRModel(hamiltonian(72), **OPTIONS)._blockwise_model()
    H = np.stack([a.info["hamiltonian"] for a in frames[:6]])
    op.fit_channels(frames[:6], H)
    problem = MetricProblem(op, frames[:3], H[:3], 1.0)
    value, grad, _ = problem(problem.z0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        d = rng.normal(size=problem.z0.shape)
        h = 1e-3 * np.linalg.norm(problem.z0) / np.linalg.norm(d)
        fd = (problem(problem.z0 + h * d)[0] - problem(problem.z0 - h * d)[0]) / 2
        assert fd == pytest.approx(h * grad @ d, rel=1e-5)
    # without the metric term the start is the minimum: the whitened channel terms
    # have gradient 2 (z - z*), zero at z0
    problem.weight = 0.0
    assert np.linalg.norm(problem(problem.z0)[1]) < 1e-6 * np.linalg.norm(grad)
    report = refine_in_metric(op, frames[:3], H[:3], weight=1.0, max_iter=50)
    assert report["metric_rms_after"] < 0.7 * report["metric_rms_before"]
    assert report["objective_after"] < report["objective_before"]


def test_lowdin_route(frames):
    """S^-1/2 S S^-1/2 = 1 and (S^1/2)^2 = S; a model of the orthogonalised matrix still
    returns H in the atomic-orbital basis, symmetric and rotating as D^T H D."""
    from atomlearn.targets.operators import overlap_matrices, overlap_powers

    S, = overlap_matrices(frames[:1], "def2-svp")
    X, = overlap_powers(frames[:1], "def2-svp", -0.5)
    Y, = overlap_powers(frames[:1], "def2-svp", 0.5)
    np.testing.assert_allclose(X @ S @ X, np.eye(72), atol=1e-9)
    np.testing.assert_allclose(Y @ Y, S, atol=1e-12)
    model = SymmetryAdaptedGPRModel(hamiltonian(72), **{
        **OPTIONS, "operator": {**OPTIONS["operator"], "orthogonal": True}}).fit(frames[:6])
    a = frames[7]
    H = model.predict([a], targets=["hamiltonian"])["hamiltonian"][0]
    np.testing.assert_allclose(H, H.T, atol=1e-10 * np.abs(H).max())
    R = random_rotation(6)
    D = orbital_rotation(AtomicOrbitals.from_pyscf("def2-svp", a.numbers), a.numbers, R)
    rotated = model.predict([rotate(a, R)], targets=["hamiltonian"])["hamiltonian"][0]
    np.testing.assert_allclose(rotated, D.T @ H @ D, atol=1e-8 * np.abs(H).max())
    ref = a.info["hamiltonian"]
    mean = np.mean([f.info["hamiltonian"] for f in frames[:6]], axis=0)
    assert np.abs(H - ref).mean() < 0.5 * np.abs(mean - ref).mean()
