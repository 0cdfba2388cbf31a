import re

import numpy as np
import pytest

import atomlearn.kernels as al
from atomlearn.errors import ConfigError
from atomlearn.gp import (
    GaussianProcessRegressor,
    SparseGaussianProcessRegressor,
    select_sparse_points,
)
from atomlearn.gp.sparse import sparse_lml_gradient

rng = np.random.default_rng(1)
X = rng.uniform(0, 6, size=(120, 2))
y = np.sin(X[:, 0]) * np.cos(X[:, 1]) + 0.05 * rng.normal(size=120)
Xt = rng.uniform(0, 6, size=(30, 2))
KERNEL = al.ConstantKernel(1.3) * al.RBF([1.1, 0.9])


@pytest.mark.parametrize("solver", ["normal", "qr"])
def test_m_equals_n_reproduces_full_gp(solver):
    full = GaussianProcessRegressor(KERNEL, alpha=0.01, optimizer=None).fit(X, y)
    sparse = SparseGaussianProcessRegressor(KERNEL, n_sparse=120, alpha=0.01, jitter=1e-12,
                                            optimizer=None, solver=solver).fit(X, y)
    m, s = full.predict(Xt, return_std=True)
    ms, ss = sparse.predict(Xt, return_std=True)
    np.testing.assert_allclose(ms, m, atol=1e-7)
    np.testing.assert_allclose(ss, s, atol=1e-6)
    assert sparse.log_marginal_likelihood_value_ == pytest.approx(
        full.log_marginal_likelihood_value_, rel=1e-5)


def test_lecture_formula():
    """c_M = (K_NM^T K_NM + eta K_MM)^-1 K_NM^T y with eta = alpha."""
    eta = 0.02
    sgp = SparseGaussianProcessRegressor(KERNEL, n_sparse=25, alpha=eta, jitter=0.0,
                                         optimizer=None).fit(X, y)
    K_NM = KERNEL(X, sgp.X_sparse_)
    K_MM = KERNEL(sgp.X_sparse_)
    c = np.linalg.solve(K_NM.T @ K_NM + eta * K_MM, K_NM.T @ y)
    np.testing.assert_allclose(sgp.alpha_, c, rtol=1e-6)
    np.testing.assert_allclose(sgp.predict(Xt), KERNEL(Xt, sgp.X_sparse_) @ c, atol=1e-9)


def test_chunking_and_per_observation_noise():
    noise = np.where(np.arange(120) % 2 == 0, 0.01, 0.1)
    a = SparseGaussianProcessRegressor(KERNEL, n_sparse=30, alpha=noise, optimizer=None,
                                       chunk_size=7, random_state=0).fit(X, y)
    b = SparseGaussianProcessRegressor(KERNEL, n_sparse=30, alpha=noise, optimizer=None,
                                       chunk_size=1000, random_state=0).fit(X, y)
    np.testing.assert_allclose(a.predict(Xt), b.predict(Xt), atol=1e-10)
    K_NM = KERNEL(X, a.X_sparse_)
    W = 1.0 / noise
    c = np.linalg.solve(K_NM.T @ (W[:, None] * K_NM) + KERNEL(a.X_sparse_)
                        + 1e-10 * np.eye(30), K_NM.T @ (W * y))
    np.testing.assert_allclose(a.alpha_, c, rtol=1e-6)


def test_lml_gradient_finite_differences():
    sgp = SparseGaussianProcessRegressor(KERNEL, n_sparse=20, alpha=0.01,
                                         optimizer=None).fit(X, y)
    s2 = np.full(120, 0.01)

    def f(t):
        return sparse_lml_gradient(KERNEL.clone_with_theta(t[:-1]), X, sgp.X_sparse_, y,
                                   s2 * np.exp(t[-1]), 1e-10)

    t0 = np.append(KERNEL.theta, 0.2)
    _, grad = f(t0)
    numeric = [(f(t0 + e)[0] - f(t0 - e)[0]) / 2e-6 for e in np.eye(len(t0)) * 1e-6]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5)


def test_optimisation_increases_lml():
    start = SparseGaussianProcessRegressor(KERNEL, n_sparse=40, alpha=0.05,
                                           optimizer=None).fit(X, y)
    opt = SparseGaussianProcessRegressor(KERNEL, n_sparse=40, alpha=0.05,
                                         alpha_bounds=(1e-4, 1.0)).fit(X, y)
    assert opt.log_marginal_likelihood_value_ > start.log_marginal_likelihood_value_ + 1.0
    assert 0.05 * opt.noise_scale_ < 0.05  # the data's noise variance is 0.0025


def test_std_small_at_sparse_points_and_prior_far_away():
    sgp = SparseGaussianProcessRegressor(KERNEL, n_sparse=60, alpha=1e-4,
                                         optimizer=None).fit(X, y)
    _, s_in = sgp.predict(sgp.X_sparse_, return_std=True)
    _, s_far = sgp.predict(np.array([[50.0, 50.0]]), return_std=True)
    assert s_in.max() < 0.05
    assert s_far[0] == pytest.approx(np.sqrt(1.3), rel=1e-6)


@pytest.mark.parametrize("method", ["fps", "cur", "random"])
def test_selection(method):
    idx = select_sparse_points(X, 15, method, random_state=0)
    assert len(np.unique(idx)) == 15 and idx.max() < 120
    np.testing.assert_array_equal(idx, select_sparse_points(X, 15, method, random_state=0))


def test_fps_spreads_points():
    line = np.linspace(0, 1, 101)[:, None]
    for seed in range(5):
        idx = select_sparse_points(line, 3, "fps", random_state=seed)
        # greedy max-min is a 2-approximation of the best spacing (0.5)
        assert np.diff(line[idx, 0]).min() >= 0.25
        assert 0 in idx or 100 in idx


def test_errors():
    with pytest.warns(UserWarning, match=re.escape(
            "n_sparse=500 is larger than the number of samples (120); using all 120 samples "
            "as sparse points (the full GP).")):
        clamped = SparseGaussianProcessRegressor(KERNEL, n_sparse=500, alpha=1e-2,
                                                 optimizer=None).fit(X, y)
    assert len(clamped.sparse_indices_) == 120
    with pytest.raises(ConfigError, match=re.escape(
            "The 'n_sparse' parameter of SparseGaussianProcessRegressor must be an int in the "
            "range [1, n_samples]. Got 0 instead.")):
        SparseGaussianProcessRegressor(KERNEL, n_sparse=0, optimizer=None).fit(X, y)
    with pytest.raises(ConfigError, match=re.escape("Unknown sparse-point selection 'fsp'")):
        SparseGaussianProcessRegressor(KERNEL, selection="fsp", optimizer=None).fit(X, y)
    with pytest.raises(ConfigError, match="'alpha' must be a scalar or have one value per"):
        SparseGaussianProcessRegressor(KERNEL, n_sparse=5, alpha=np.ones(3),
                                       optimizer=None).fit(X, y)
    dup = np.vstack([X[:10]] * 3)
    with pytest.raises(np.linalg.LinAlgError, match=re.escape(
            "The sparse-point kernel matrix K_MM is not positive definite (duplicate or "
            "nearly identical sparse points?). Increase 'jitter' (currently 0.0)")):
        SparseGaussianProcessRegressor(KERNEL, n_sparse=20, selection="random", jitter=0.0,
                                       optimizer=None, random_state=0).fit(
            dup, np.zeros(30))


def test_white_kernel_is_observation_noise():
    """A WhiteKernel summand acts as the noise alpha (never as part of K_MM), and its level
    is optimised like the kernel's other hyperparameters."""
    with_white = SparseGaussianProcessRegressor(KERNEL + al.WhiteKernel(0.01), n_sparse=30,
                                                alpha=1e-10, optimizer=None,
                                                random_state=0).fit(X, y)
    with_alpha = SparseGaussianProcessRegressor(KERNEL, n_sparse=30, alpha=0.01 + 1e-10,
                                                optimizer=None, random_state=0).fit(X, y)
    np.testing.assert_allclose(with_white.alpha_, with_alpha.alpha_, rtol=1e-8)
    assert with_white.log_marginal_likelihood_value_ == pytest.approx(
        with_alpha.log_marginal_likelihood_value_)
    fitted = SparseGaussianProcessRegressor(KERNEL + al.WhiteKernel(0.5), n_sparse=30,
                                            random_state=0).fit(X, y)
    assert 1e-4 < fitted.kernel_.k2.noise_level < 0.01     # the data's noise is 0.0025
    with pytest.raises(ConfigError, match="needs it as a summand of the kernel"):
        SparseGaussianProcessRegressor(al.RBF() * al.WhiteKernel(), n_sparse=5).fit(X, y)


def test_white_kernel_lml_gradient_finite_differences():
    kernel = al.ConstantKernel(1.3) * al.RBF([1.1, 0.9]) + al.WhiteKernel(0.02)
    Xs = X[::6]

    def f(t):
        return sparse_lml_gradient(kernel.clone_with_theta(t[:-1]), X, Xs, y,
                                   np.full(120, 1e-3) * np.exp(t[-1]), 1e-10)

    t0 = np.append(kernel.theta, 0.1)
    _, grad = f(t0)
    numeric = [(f(t0 + e)[0] - f(t0 - e)[0]) / 2e-6 for e in np.eye(len(t0)) * 1e-6]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5)


def test_multi_output_shares_one_factorisation():
    Y = np.stack([y, np.cos(X[:, 0]), 3 * y], axis=1)
    multi = SparseGaussianProcessRegressor(KERNEL, n_sparse=40, alpha=0.01, optimizer=None,
                                           random_state=0).fit(X, Y)
    mean, std = multi.predict(Xt, return_std=True)
    assert mean.shape == std.shape == (30, 3)
    lml = 0.0
    for t in range(3):
        single = SparseGaussianProcessRegressor(KERNEL, n_sparse=40, alpha=0.01,
                                                optimizer=None, random_state=0).fit(X, Y[:, t])
        m, s = single.predict(Xt, return_std=True)
        np.testing.assert_allclose(mean[:, t], m, atol=1e-10)
        np.testing.assert_allclose(std[:, t], s, atol=1e-10)
        lml += single.log_marginal_likelihood_value_
    assert multi.log_marginal_likelihood_value_ == pytest.approx(lml)
    lml2, grad = sparse_lml_gradient(KERNEL, X, multi.X_sparse_, Y, np.full(120, 0.01), 1e-10)
    parts = [sparse_lml_gradient(KERNEL, X, multi.X_sparse_, Y[:, t], np.full(120, 0.01),
                                 1e-10) for t in range(3)]
    assert lml2 == pytest.approx(sum(p[0] for p in parts))
    np.testing.assert_allclose(grad, sum(p[1] for p in parts), rtol=1e-8)


def test_a_tree_of_chunk_factors_is_the_qr_of_all_rows():
    """The tall-skinny QR of a distributed fit: chunk factors merged in a binary tree give
    the R of a direct QR of every row (up to row signs)."""
    from atomlearn.gp.factor import RowFactor
    from atomlearn.models.sparse_gpr.equations import tree_sum

    rng = np.random.default_rng(3)
    K, y, s2 = rng.normal(size=(230, 12)), rng.normal(size=230), rng.uniform(0.5, 2, 230)
    parts = []
    for a in range(0, 230, 40):
        f = RowFactor.zeros(12)
        f.add(K[a:a + 40], y[a:a + 40], s2[a:a + 40])
        parts.append(f)
    merged = tree_sum(parts)
    rows = np.hstack([K, y[:, None]]) / np.sqrt(s2)[:, None]
    direct = np.linalg.qr(rows, mode="r")
    np.testing.assert_allclose(np.abs(merged.R), np.abs(direct), atol=1e-10)
    assert merged.n == 230
    np.testing.assert_allclose(merged.logdet_sigma, np.log(s2).sum())
