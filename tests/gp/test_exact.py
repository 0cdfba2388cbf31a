import re

import numpy as np
import pytest
import sklearn.gaussian_process as skgp
import sklearn.gaussian_process.kernels as sk

import atomlearn.kernels as al
from atomlearn.errors import ConfigError, NotFittedError
from atomlearn.gp import GaussianProcessRegressor

rng = np.random.default_rng(0)
X = rng.uniform(-3, 3, size=(60, 2))
y = np.sin(X[:, 0]) * np.cos(X[:, 1]) + 0.05 * rng.normal(size=60)
Xt = rng.uniform(-3, 3, size=(25, 2))


def _pair():
    return (al.ConstantKernel(1.2) * al.RBF([0.9, 1.4]) + al.WhiteKernel(0.02),
            sk.ConstantKernel(1.2) * sk.RBF([0.9, 1.4]) + sk.WhiteKernel(0.02))


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("normalize_y", [False, True])
@pytest.mark.parametrize("optimizer", [None, "fmin_l_bfgs_b"])
def test_agrees_with_sklearn(normalize_y, optimizer):
    ka, ks = _pair()
    ours = GaussianProcessRegressor(ka, alpha=1e-6, optimizer=optimizer,
                                    normalize_y=normalize_y).fit(X, y)
    ref = skgp.GaussianProcessRegressor(ks, alpha=1e-6, optimizer=optimizer,
                                        normalize_y=normalize_y).fit(X, y)
    # the optimiser may stop a hair apart; compare at the same hyperparameters
    ours.kernel_.theta = ref.kernel_.theta
    ours = GaussianProcessRegressor(ours.kernel_, alpha=1e-6, optimizer=None,
                                    normalize_y=normalize_y).fit(X, y)
    m, s = ours.predict(Xt, return_std=True)
    mr, sr = ref.predict(Xt, return_std=True)
    assert _rel(m, mr) < 1e-8 and _rel(s, sr) < 1e-8
    _, c = ours.predict(Xt, return_cov=True)
    _, cr = ref.predict(Xt, return_cov=True)
    assert _rel(c, cr) < 1e-8
    theta = ref.kernel_.theta + 0.05
    lml, grad = ours.log_marginal_likelihood(theta, eval_gradient=True)
    lml_r, grad_r = ref.log_marginal_likelihood(theta, eval_gradient=True)
    assert abs(lml - lml_r) < 1e-8 * abs(lml_r)
    assert _rel(grad, grad_r) < 1e-8
    if optimizer is not None:
        assert abs(ours.log_marginal_likelihood_value_ - ref.log_marginal_likelihood_value_) \
            < 1e-4 * abs(ref.log_marginal_likelihood_value_)


def test_multi_output_matches_sklearn():
    Y2 = np.column_stack([y, np.cos(X[:, 0])])
    ka, ks = _pair()
    ours = GaussianProcessRegressor(ka, optimizer=None).fit(X, Y2)
    ref = skgp.GaussianProcessRegressor(ks, optimizer=None).fit(X, Y2)
    np.testing.assert_allclose(ours.predict(Xt), ref.predict(Xt), rtol=1e-8)
    theta = ka.theta
    np.testing.assert_allclose(ours.log_marginal_likelihood(theta, True)[1],
                               ref.log_marginal_likelihood(theta, True)[1], rtol=1e-8)


def test_lml_gradient_finite_differences():
    ka, _ = _pair()
    gp = GaussianProcessRegressor(ka, optimizer=None).fit(X, y)
    theta = gp.kernel_.theta
    _, grad = gp.log_marginal_likelihood(theta, eval_gradient=True)
    eps = 1e-6
    numeric = [(gp.log_marginal_likelihood(theta + e) - gp.log_marginal_likelihood(theta - e))
               / (2 * eps) for e in np.eye(len(theta)) * eps]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5)


def test_interpolates_and_std_grows_away_from_data():
    X1 = np.linspace(0, 5, 12)[:, None]
    gp = GaussianProcessRegressor(al.RBF(1.0), alpha=1e-10, optimizer=None).fit(
        X1, np.sin(X1[:, 0]))
    m, s = gp.predict(X1, return_std=True)
    np.testing.assert_allclose(m, np.sin(X1[:, 0]), atol=1e-6)
    assert s.max() < 1e-3
    _, far = gp.predict(np.array([[20.0]]), return_std=True)
    assert far[0] > 0.99


def test_prior_before_fit_and_samples():
    gp = GaussianProcessRegressor(al.RBF(1.0))
    m, s = gp.predict(Xt, return_std=True)
    assert np.all(m == 0) and np.allclose(s, 1.0)
    samples = gp.sample_y(Xt, n_samples=4)
    assert samples.shape == (25, 4)
    fitted = GaussianProcessRegressor(al.RBF(1.0), alpha=1e-4, optimizer=None).fit(X, y)
    assert fitted.sample_y(Xt, 3, random_state=1).shape == (25, 3)


def test_errors():
    gp = GaussianProcessRegressor(al.RBF(1.0), optimizer=None)
    with pytest.raises(ValueError, match=re.escape(
            "Expected a 2-D array of shape (n_samples, n_features), got a 1-D array of shape "
            "(60,) instead. Reshape your data")):
        gp.fit(X[:, 0], y)
    with pytest.raises(ValueError, match=re.escape(
            "Found input variables with inconsistent numbers of samples: [60, 59]")):
        gp.fit(X, y[:-1])
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        gp.fit(Xn, y)
    yn = y.copy()
    yn[0] = np.inf
    with pytest.raises(ValueError, match="Input y contains infinity"):
        gp.fit(X, yn)
    with pytest.raises(RuntimeError, match="At most one of return_std or return_cov"):
        gp.fit(X, y).predict(Xt, return_std=True, return_cov=True)
    with pytest.raises(ValueError, match=re.escape("X has 3 features, but "
                                                   "GaussianProcessRegressor is expecting 2")):
        gp.predict(np.ones((4, 3)))
    with pytest.raises(ConfigError, match=re.escape(
            "Bounds of RBF.length_scale must be positive and increasing")):
        GaussianProcessRegressor(al.RBF(1.0, length_scale_bounds=(0.0, 1.0))).fit(X, y)
    with pytest.raises(NotFittedError, match="This GaussianProcessRegressor instance is not"):
        GaussianProcessRegressor().log_marginal_likelihood()
    with pytest.raises(TypeError, match="sparse input is not supported"):
        import scipy.sparse

        gp.fit(scipy.sparse.csr_matrix(X), y)


def test_start_outside_bounds_is_searched_from_the_bound():
    """As in scikit-learn: a start value outside its bounds is not refused; the search
    starts from the nearest bound and warns if the optimum stays there."""
    gp = GaussianProcessRegressor(al.RBF(1e-9, length_scale_bounds=(1e-3, 1e-2)))
    with pytest.warns(UserWarning, match="close to the specified lower bound 0.001"):
        gp.fit(X, y)
    assert 1e-3 <= gp.kernel_.length_scale <= 1e-2


def test_not_positive_definite_names_alpha():
    Xd = np.vstack([X[:5], X[:5]])  # duplicated inputs, no noise
    gp = GaussianProcessRegressor(al.RBF(1.0), alpha=0.0, optimizer=None)
    with pytest.raises(np.linalg.LinAlgError, match=re.escape(
            "The kernel, RBF(length_scale=1), is not returning a positive definite matrix. "
            "Try gradually increasing the 'alpha' parameter of your GaussianProcessRegressor "
            "estimator. It is 0.0 now")):
        gp.fit(Xd, np.arange(10.0))


def test_default_kernel_has_free_hyperparameters():
    """kernel=None fits ConstantKernel() * RBF() with free hyperparameters (scikit-learn);
    the prior of an unfitted model keeps them at 1."""
    gp = GaussianProcessRegressor().fit(X, y)
    assert gp.kernel_.n_dims == 2 and not np.allclose(gp.kernel_.theta, 0.0)
    _, std = GaussianProcessRegressor().predict(Xt, return_std=True)
    np.testing.assert_allclose(std, 1.0)


def test_fitted_model_keeps_no_kernel_memo():
    """Hyperparameter searches reuse k(X), but nothing N x N is kept after the fit."""
    import pickle

    from atomlearn.kernels import memo

    gp = GaussianProcessRegressor(al.ConstantKernel() * al.RBF([1.0, 1.0])).fit(X, y)
    assert memo() is None
    size = len(pickle.dumps(gp))
    # L_ (60 x 60) is the one N x N array a fitted model needs; a kept memo would double it
    assert size < 1.5 * 8 * 60 * 60, size


def test_multi_output_shapes_and_sample_y():
    Y2 = np.stack([y, 2 * y], axis=1)
    for normalize in (False, True):
        gp = GaussianProcessRegressor(al.RBF(1.0), optimizer=None, alpha=1e-4,
                                      normalize_y=normalize).fit(X, Y2)
        mean, std = gp.predict(Xt, return_std=True)
        _, cov = gp.predict(Xt, return_cov=True)
        assert mean.shape == std.shape == (25, 2) and cov.shape == (25, 25, 2)
        np.testing.assert_allclose(std, np.sqrt(np.diagonal(cov).T), rtol=1e-6)
        np.testing.assert_allclose(std[:, 1], 2 * std[:, 0] if normalize else std[:, 0])
        assert gp.sample_y(Xt, 3).shape == (25, 2, 3)


def test_score_is_r2():
    gp = GaussianProcessRegressor(al.RBF(1.0), optimizer=None, alpha=1e-2).fit(X, y)
    pred = gp.predict(Xt)
    yt = np.sin(Xt[:, 0]) * np.cos(Xt[:, 1])
    expected = 1 - np.sum((yt - pred) ** 2) / np.sum((yt - yt.mean()) ** 2)
    assert gp.score(Xt, yt) == pytest.approx(expected)


def test_generic_inputs():
    """Kernels with GenericKernelMixin get their inputs unchanged (lists of strings here)."""
    class Overlap(al.GenericKernelMixin, al.NormalizedKernelMixin, al.Kernel):
        def __call__(self, A, B=None, eval_gradient=False):
            B = A if B is None else B
            K = np.array([[len(set(a) & set(b)) / len(set(a) | set(b)) for b in B]
                          for a in A])
            return (K, np.empty(K.shape + (0,))) if eval_gradient else K

        def is_stationary(self):
            return False

    words = ["abc", "abd", "xyz", "xya", "bcd"]
    gp = GaussianProcessRegressor(Overlap(), alpha=1e-8).fit(words, np.arange(5.0))
    np.testing.assert_allclose(gp.predict(words), np.arange(5.0), atol=1e-6)

