"""Kernel conformance: against scikit-learn, finite differences, PSD, algebra, repr."""

import re

import numpy as np
import pytest
import sklearn.gaussian_process.kernels as sk
from scipy.optimize import approx_fprime

import atomlearn.kernels as al
from atomlearn.errors import ConfigError

X = np.random.default_rng(0).normal(size=(15, 3))
Y = np.random.default_rng(1).normal(size=(7, 3))

PAIRS = [
    (lambda m: m.RBF(1.3), "RBF"),
    (lambda m: m.RBF([1.0, 2.0, 0.5]), "anisotropic RBF"),
    (lambda m: m.ConstantKernel(2.0) * m.RBF(0.7) + m.WhiteKernel(0.1), "C*RBF+White"),
    (lambda m: m.Matern(1.1, nu=0.5), "Matern 0.5"),
    (lambda m: m.Matern([1.1, 0.5, 2.0], nu=1.5), "Matern 1.5 aniso"),
    (lambda m: m.Matern(1.1, nu=2.5), "Matern 2.5"),
    (lambda m: m.Matern(0.9, nu=np.inf), "Matern inf"),
    (lambda m: m.RationalQuadratic(1.2, 0.8), "RationalQuadratic"),
    (lambda m: m.ExpSineSquared(1.2, 3.0), "ExpSineSquared"),
    (lambda m: m.DotProduct(0.5) ** 2, "polynomial"),
    (lambda m: m.DotProduct(0.5) * m.RBF(2.0) + m.ConstantKernel(0.3), "product-sum"),
    (lambda m: m.RBF(1.0, length_scale_bounds="fixed") * m.ConstantKernel(0.5), "fixed"),
]
IDS = [name for _, name in PAIRS]


@pytest.mark.parametrize("make", [p for p, _ in PAIRS], ids=IDS)
def test_matches_sklearn(make):
    ours, theirs = make(al), make(sk)
    K, dK = ours(X, eval_gradient=True)
    Ks, dKs = theirs(X, eval_gradient=True)
    np.testing.assert_allclose(K, Ks, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dK, dKs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours(X, Y), theirs(X, Y), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.diag(X), theirs.diag(X), rtol=1e-12)
    np.testing.assert_allclose(ours.theta, theirs.theta)
    np.testing.assert_allclose(ours.bounds, theirs.bounds)
    assert ours.n_dims == theirs.n_dims
    assert ours.is_stationary() == theirs.is_stationary()


@pytest.mark.parametrize("make", [p for p, _ in PAIRS], ids=IDS)
def test_generic_properties(make):
    k = make(al)
    # ExpSineSquared is positive definite only for one-dimensional inputs
    x = X[:, :1] if isinstance(k, al.ExpSineSquared) else X
    K = k(x)
    np.testing.assert_allclose(K, K.T, atol=1e-14)                       # symmetric
    assert np.linalg.eigvalsh(K).min() > -1e-10 * np.abs(K).max()        # PSD
    np.testing.assert_allclose(np.diag(K), k.diag(x), rtol=1e-12)        # diag
    assert al.clone(k) == k and al.clone(k) is not k                     # clone
    np.testing.assert_allclose(k.clone_with_theta(k.theta).theta, k.theta)
    np.testing.assert_allclose(k.clone_with_theta(k.theta)(x), K)


@pytest.mark.parametrize("make", [p for p, _ in PAIRS], ids=IDS)
def test_gradient_finite_differences(make):
    k = make(al)
    if k.n_dims == 0:
        return
    _, dK = k(X, eval_gradient=True)
    for i, j in [(0, 1), (3, 3), (5, 9)]:
        numeric = approx_fprime(k.theta, lambda t, i=i, j=j: k.clone_with_theta(t)(X)[i, j],
                                1e-7)
        np.testing.assert_allclose(dK[i, j], numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("make", [p for p, _ in PAIRS], ids=IDS)
def test_gradient_contraction_equals_einsum(make):
    k = make(al)
    G = np.random.default_rng(2).normal(size=(15, 15))
    _, dK = k(X, eval_gradient=True)
    np.testing.assert_allclose(k.gradient_contraction(X, G), np.einsum("ij,ijk->k", G, dK),
                               rtol=1e-10, atol=1e-10)


def test_cross_gradient_contraction_rbf():
    k = al.ConstantKernel(1.5) * al.RBF([1.0, 0.5, 2.0])
    G = np.random.default_rng(3).normal(size=(15, 7))
    numeric = approx_fprime(k.theta, lambda t: np.sum(G * k.clone_with_theta(t)(X, Y)), 1e-7)
    np.testing.assert_allclose(k.gradient_contraction(X, G, Y=Y), numeric, rtol=1e-5)


def test_algebra_and_params():
    k = 2.0 * al.RBF(1.0) + al.WhiteKernel(0.5)
    assert isinstance(k, al.Sum) and isinstance(k.k1, al.Product)
    assert k.get_params()["k1__k2__length_scale"] == 1.0
    k.set_params(k1__k2__length_scale=3.0)
    assert k.k1.k2.length_scale == 3.0
    np.testing.assert_allclose((al.RBF(1.0) + al.DotProduct(1.0))(X),
                               (al.DotProduct(1.0) + al.RBF(1.0))(X))
    np.testing.assert_allclose((al.RBF(1.0) * al.DotProduct(1.0))(X),
                               (al.DotProduct(1.0) * al.RBF(1.0))(X))
    np.testing.assert_allclose((al.RBF(1.0) ** 2)(X), al.RBF(1.0)(X) ** 2)


def test_repr():
    k = al.ConstantKernel(4.0) * al.RBF(1.5) + al.WhiteKernel(0.01)
    assert repr(k) == "2**2 * RBF(length_scale=1.5) + WhiteKernel(noise_level=0.01)"
    assert repr(al.NormalizedDotProduct(4)) == "NormalizedDotProduct(zeta=4)"
    assert repr(al.Matern(1.0, nu=2.5)) == "Matern(length_scale=1, nu=2.5)"


def test_normalized_dot_product():
    k = al.NormalizedDotProduct(zeta=3)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(k(X), (Xn @ Xn.T) ** 3)
    np.testing.assert_allclose(k.diag(X), 1.0)
    np.testing.assert_allclose(k(2.5 * X, Y), k(X, Y))  # scale invariant
    assert k.n_dims == 0


def test_bounds_errors():
    with pytest.raises(ConfigError, match=re.escape(
            "Bounds of RBF.length_scale must be positive and increasing (hyperparameters live "
            "in log space). Got [[10.0, 0.1]]; fix 'length_scale_bounds'.")):
        al.RBF(1.0, length_scale_bounds=(10.0, 0.1)).check_bounds()
    with pytest.raises(ConfigError, match=re.escape(
            "Bounds of WhiteKernel.noise_level must be positive")):
        (al.RBF() + al.WhiteKernel(noise_level_bounds=(-1.0, 1.0))).check_bounds()
    al.RBF(1000.0, length_scale_bounds=(0.1, 10.0)).check_bounds()   # a start may lie outside
    with pytest.raises(ConfigError, match="Invalid parameter 'lenght_scale'.*length_scale"):
        al.RBF().set_params(lenght_scale=2.0)
    with pytest.raises(ValueError, match=re.escape(
            "Anisotropic kernel must have the same number of dimensions as data (2!=3)")):
        al.RBF([1.0, 2.0])(X)
    for kernel in (al.RationalQuadratic([1.0, 2.0]), al.ExpSineSquared([1.0, 2.0])):
        with pytest.raises(AttributeError, match="only supports isotropic version"):
            kernel(X[:, :2])


def test_matern_any_nu_is_finite_with_unit_diagonal():
    for nu in (0.3, 3.0, 20.0, 100.0):
        K = al.Matern(0.7, nu=nu)(X)
        assert np.all(np.isfinite(K))
        np.testing.assert_allclose(np.diag(K), 1.0)
        if nu < 50:
            np.testing.assert_allclose(K, sk.Matern(0.7, nu=nu)(X), atol=1e-12)
    np.testing.assert_allclose(al.Matern(0.7, nu=100.0)(X), al.RBF(0.7)(X), atol=1e-2)


@pytest.mark.parametrize("make", [
    lambda: al.NormalizedDotProduct(3),
    lambda: al.ConstantKernel(2.0) * al.NormalizedDotProduct(4),
    lambda: al.RBF(0.8),
    lambda: al.DotProduct(0.5) ** 2 + al.ConstantKernel(0.1),
], ids=["soap", "scaled soap", "rbf", "polynomial+const"])
def test_profile_is_the_kernel_of_unit_vectors(make):
    """profile(u) gives k and its u-derivatives for unit inputs (what structure kernels
    differentiate), checked against the kernel itself and finite differences."""
    k = make()
    Xu = X / np.linalg.norm(X, axis=1, keepdims=True)
    Yu = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    u = Xu @ Yu.T
    value, d1, d2 = k.profile(u, order=2)
    np.testing.assert_allclose(value, k(Xu, Yu), rtol=1e-12)
    h = 1e-6
    np.testing.assert_allclose(d1, (k.profile(u + h)[0] - k.profile(u - h)[0]) / (2 * h),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d2, (k.profile(u + h)[1] - k.profile(u - h)[1]) / (2 * h),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="is not a function of the normalised dot product"):
        al.Matern(1.0).profile(u)


def test_rbf_memo_never_returns_stale_values():
    k = al.RBF([1.0, 2.0, 0.5])
    with al.remembered_values():
        _check_no_stale_values(k)


def _check_no_stale_values(k):
    Xc = X.copy()
    K1 = k(Xc)
    K1[0, 0] = 42.0                      # callers own their copy
    Xc[0, 0] += 1.0                      # inputs changed in place
    np.testing.assert_allclose(k(Xc), sk.RBF([1.0, 2.0, 0.5])(Xc))
    k.length_scale = np.array([2.0, 2.0, 2.0])   # hyperparameters changed
    np.testing.assert_allclose(k(Xc), sk.RBF(2.0)(Xc))
