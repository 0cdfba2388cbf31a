"""Hyperparameter searches of the sparse GPR over (delta, sigma, sigma_forces).

Both objectives cost O(M^3) per trial: they recombine the unit-kernel factors of
:class:`~.equations.ObservationTerms` and never return to the data; both have analytic
gradients (below), run through the one optimiser of every GP
(:func:`atomlearn.gp.optimize_theta`) with L-BFGS-B, and are smooth: the factors never
square the rows' condition number, so a search ends at the same point whatever the
thread count or the order of sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...gp import optimize_theta
from ...gp.factor import FactoredSolution, inverse_products
from ...gp.factor import lml_and_gradient as factored_lml
from ...gp.solver import predictive_variance
from .equations import KeptRows, ObservationTerms

#: Search ranges (log) of delta (target unit per atom), sigma and sigma_forces (eV/Å).
BOUNDS = np.log([(1e-3, 1e2), (1e-5, 1.0), (1e-4, 10.0)])


@dataclass
class Hyperparameters:
    delta: float
    sigma: float
    sigma_forces: float

    def solve(self, terms: ObservationTerms, jitter: float) -> FactoredSolution:
        return terms.solve(self.delta, self.sigma, self.sigma_forces, jitter)


def _free(terms: ObservationTerms) -> int:
    """Searched hyperparameters: delta, sigma, and sigma_forces when there are forces."""
    return 3 if terms.forces.n else 2


def _unpack(theta, start: Hyperparameters) -> Hyperparameters:
    v = [float(x) for x in np.exp(theta)]
    return Hyperparameters(v[0], v[1], v[2] if len(v) > 2 else start.sigma_forces)


def _start(h: Hyperparameters, n_free: int) -> np.ndarray:
    return np.log([h.delta, h.sigma, h.sigma_forces][:n_free])


def by_likelihood(terms: ObservationTerms, start: Hyperparameters, jitter: float
                  ) -> Hyperparameters:
    """Maximise the sparse (DTC) log marginal likelihood of all observations (L-BFGS-B
    with the analytic gradient of :func:`lml_and_gradient`)."""
    n_free = _free(terms)

    def obj_func(theta, eval_gradient=True):
        h = _unpack(theta, start)
        value, grad = lml_and_gradient(terms, h, jitter)
        return (-value, -grad[:n_free]) if eval_gradient else -value

    theta, _ = optimize_theta(obj_func, _start(start, n_free), BOUNDS[:n_free])
    return _unpack(theta, start)


def lml_and_gradient(terms: ObservationTerms, h: Hyperparameters, jitter: float):
    """The DTC log marginal likelihood and its gradient in (log delta, log sigma,
    log sigma_forces) (:func:`atomlearn.gp.factor.lml_and_gradient`)."""
    value, grad = factored_lml(terms.K_MM, terms.types(h.sigma, h.sigma_forces), h.delta,
                               jitter)
    return value, grad[:3]


def by_validation(train: ObservationTerms, kept: KeptRows, start: Hyperparameters,
                  jitter: float) -> Hyperparameters:
    """Minimise the held-out errors over (delta, sigma, sigma_forces) with L-BFGS-B and the
    analytic gradient (implicit differentiation of the weights): the sum of the logs of
    the mean squared errors of target values (per atom for extensive targets) and of
    forces, so that halving one error is worth doubling the other, whatever their units
    and numbers (a sum of squared errors would trade the few energies away for the many
    force components).
    """
    s = kept.values_scale if kept.values_y.ndim == 1 else kept.values_scale[:, None]
    has_f = kept.forces is not None
    n_free = _free(train) if has_f else 2

    def obj_func(theta, eval_gradient=True):
        h = _unpack(theta, start)
        sol = h.solve(train, jitter)
        u = sol.unit_weights
        rv = (kept.values @ u - kept.values_y) / s
        mse_v = max(float(np.mean(rv**2)), 1e-300)
        value = np.log(mse_v)
        rf = kept.forces @ u - kept.forces_y if has_f else None
        if has_f:
            mse_f = max(float(np.mean(rf**2)), 1e-300)
            value += np.log(mse_f)
        if not eval_gradient:
            return value
        # dL/du as a vector over the weights, then du/dθ = (S^T S)^-1 (...) per θ
        g_u = 2.0 * kept.values.T @ (rv / s) / rv.size / mse_v
        if has_f:
            g_u = g_u + 2.0 * kept.forces.T @ rf / rf.size / mse_f
        _, solve = inverse_products(sol)
        w = solve(g_u)                                  # (S^T S)^-1 dL/du
        L = sol.L / h.delta
        u2 = u if u.ndim == 2 else u[:, None]
        w2 = w if w.ndim == 2 else w[:, None]
        grad = [2.0 / h.delta**2 * float(np.sum(w2 * (L @ (L.T @ u2))))]
        for factor, sigma in train.types(h.sigma, h.sigma_forces)[:n_free - 1]:
            if factor.n == 0:
                grad.append(0.0)
                continue
            r = factor.KK @ u2 - factor.Ky
            grad.append(2.0 / sigma**2 * float(np.sum((factor.KK @ w2) * r)))
        return value, np.array(grad)

    theta, _ = optimize_theta(obj_func, _start(start, n_free), BOUNDS[:n_free])
    return _unpack(theta, start)


def held_out_predictions(train: ObservationTerms, kept: KeptRows, h: Hyperparameters,
                         jitter: float) -> tuple[dict, dict]:
    """Predictions of the kept rows (``"values"``, ``"forces"``) and their latent std by
    the fit to ``train`` at ``h`` (what the calibration of the std compares)."""
    sol = h.solve(train, jitter)
    has_f = kept.forces is not None
    d2 = h.delta**2
    mean = {"values": kept.values @ sol.unit_weights}
    std = {"values": np.sqrt(predictive_variance(d2 * kept.values, d2 * kept.values_prior,
                                                 sol))}
    if has_f:
        mean["forces"] = kept.forces @ sol.unit_weights
        std["forces"] = np.sqrt(predictive_variance(d2 * kept.forces, d2 * kept.forces_prior,
                                                    sol))
    return mean, std
