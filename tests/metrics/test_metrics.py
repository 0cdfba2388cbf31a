import numpy as np
import pytest

from atomlearn.gp import GaussianProcessRegressor, SparseGaussianProcessRegressor
from atomlearn.kernels import RBF, ConstantKernel
from atomlearn.metrics import (
    LearningCurve,
    calibration_report,
    error_report,
    learning_curve,
)


def test_error_report():
    r = error_report(np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 1.0]), n_atoms=[1, 2, 3])
    assert r["mae"] == pytest.approx(4 / 3) and r["max"] == 3.0
    assert r["rmse"] == pytest.approx(np.sqrt(10 / 3))
    assert r["mae_per_atom"] == pytest.approx((0 + 0.5 + 1) / 3)


@pytest.mark.parametrize("sparse", [False, True])
def test_calibration_on_data_drawn_from_the_prior(sparse):
    """Functions drawn from the GP prior plus known noise: with the true hyperparameters
    the posterior is exact, so errors divided by the predictive std (latent plus noise)
    are standard normal: 68.3% within 1 sigma, 95.4% within 2."""
    rng = np.random.default_rng(0)
    kernel = ConstantKernel(2.0) * RBF(0.7)
    noise = 0.1
    X = rng.uniform(0, 10, size=(700, 1))
    f = rng.multivariate_normal(np.zeros(700), kernel(X) + 1e-10 * np.eye(700))
    y = f + noise * rng.normal(size=700)
    train, test = slice(0, 200), slice(200, 700)
    if sparse:
        gp = SparseGaussianProcessRegressor(kernel, n_sparse=200, alpha=noise**2,
                                            optimizer=None, random_state=0)
    else:
        gp = GaussianProcessRegressor(kernel, alpha=noise**2, optimizer=None)
    gp.fit(X[train], y[train])
    mean, std = gp.predict(X[test], return_std=True)
    report = calibration_report(mean, y[test], np.sqrt(std**2 + noise**2))
    assert report["within_1sigma"] == pytest.approx(0.683, abs=0.05)
    assert report["within_2sigma"] == pytest.approx(0.954, abs=0.03)
    assert report["z_std"] == pytest.approx(1.0, abs=0.1)
    # a model that ignores its own noise is over-confident, and the report shows it
    bad = calibration_report(mean, y[test], std)
    assert bad["within_1sigma"] < 0.5


def test_learning_curve_table_and_arrays(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 6, size=(120, 1))
    y = np.sin(X[:, 0])
    Xt = np.linspace(0, 6, 50)[:, None]

    def fit_predict(idx):
        gp = GaussianProcessRegressor(RBF(1.0), alpha=1e-6, optimizer=None).fit(X[idx], y[idx])
        return ({"y": (gp.predict(X[idx]), y[idx])},
                {"y": (gp.predict(Xt), np.sin(Xt[:, 0]))})

    curve = learning_curve(fit_predict, 120, train_sizes=[4, 16, 64], repeats=2)
    sizes, mean, std = curve.summary("y", "mae", "test")
    assert sizes.tolist() == [4, 16, 64] and mean[0] > mean[1] > mean[2]
    n, train_scores, test_scores = curve.as_arrays("y")
    assert train_scores.shape == test_scores.shape == (3, 2)
    curve.units = {"y": "eV"}
    curve.to_csv(tmp_path / "curve.csv")
    again = LearningCurve.read_csv(tmp_path / "curve.csv")
    assert again.units == {"y": "eV"} and len(again.rows) == len(curve.rows)
    np.testing.assert_allclose(again.summary("y")[1], mean, rtol=1e-7)
