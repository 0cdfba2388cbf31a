"""The optimiser's convergence check."""

from types import SimpleNamespace

import numpy as np

from atomlearn.gp._optimize import _at_roundoff_optimum

BOUNDS = np.array([[-5.0, 5.0], [-5.0, 5.0]])


def _result(message, jac, x=(0.0, 0.0)):
    return SimpleNamespace(message=message, jac=np.array(jac), x=np.array(x))


def test_line_search_failure_at_a_flat_optimum_is_convergence():
    assert _at_roundoff_optimum(_result("ABNORMAL: ", [2e-3, -1e-3]), BOUNDS)


def test_line_search_failure_on_a_slope_is_not():
    assert not _at_roundoff_optimum(_result("ABNORMAL: ", [0.5, 0.0]), BOUNDS)
    assert not _at_roundoff_optimum(_result("ABNORMAL: ", [np.nan, 0.0]), BOUNDS)
    # other failures (iteration limit) are never excused
    assert not _at_roundoff_optimum(_result("STOP: TOTAL NO. OF ITERATIONS", [0, 0]), BOUNDS)


def test_gradient_into_an_active_bound_does_not_count():
    # at the upper bound of theta_0 with the objective still falling outward
    assert _at_roundoff_optimum(_result("ABNORMAL: ", [-3.0, 1e-4], x=(5.0, 0.0)), BOUNDS)
    assert not _at_roundoff_optimum(_result("ABNORMAL: ", [3.0, 1e-4], x=(5.0, 0.0)), BOUNDS)
