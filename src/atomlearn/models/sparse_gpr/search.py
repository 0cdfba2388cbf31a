"""Hyperparameter searches of the sparse GPR potential over (delta, sigma, sigma_forces).

Both objectives cost O(M^3) per trial: they recombine the unit-kernel normal equations of
:class:`~.equations.ObservationTerms` and never return to the data. Both run through the
one optimiser of every GP (:func:`atomlearn.gp.optimize_theta`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from ...gp import optimize_theta
from ...gp.solver import SparseSolution, predictive_variance, solve_normal_equations
from .equations import KeptRows, ObservationTerms

#: Search ranges (log) of delta (target unit per atom), sigma and sigma_forces (eV/Å).
BOUNDS = np.log([(1e-3, 1e2), (1e-5, 1.0), (1e-4, 10.0)])


@dataclass
class Hyperparameters:
    delta: float
    sigma: float
    sigma_forces: float

    def solve(self, terms: ObservationTerms, jitter: float) -> SparseSolution:
        d = self.delta
        return solve_normal_equations(d**2 * terms.K_MM,
                                      terms.equations(d, self.sigma, self.sigma_forces),
                                      jitter * d**2)


def by_likelihood(terms: ObservationTerms, start: Hyperparameters, jitter: float
                  ) -> Hyperparameters:
    """Maximise the sparse (DTC) log marginal likelihood of all observations with its
    analytic gradient (L-BFGS-B in log space)."""
    use_forces = terms.forces.n > 0

    def unpack(t):
        return Hyperparameters(float(np.exp(t[0])), float(np.exp(t[1])),
                               float(np.exp(t[2])) if use_forces else start.sigma_forces)

    def obj_func(theta, eval_gradient=True):
        h = unpack(theta)
        try:
            value, grad = _lml_and_gradient(terms, h, jitter)
        except np.linalg.LinAlgError:
            return (1e300, np.zeros_like(theta)) if eval_gradient else 1e300
        grad = grad if use_forces else grad[:2]
        return (-value, -grad) if eval_gradient else -value

    t0 = np.log([start.delta, start.sigma] + ([start.sigma_forces] if use_forces else []))
    with warnings.catch_warnings():      # trial points may need jitter; say nothing
        warnings.simplefilter("ignore", UserWarning)
        theta, _ = optimize_theta(obj_func, t0, BOUNDS[: len(t0)])
    return unpack(theta)


def _lml_and_gradient(terms: ObservationTerms, h: Hyperparameters, jitter: float):
    """The DTC log marginal likelihood and its gradient in (log delta, log sigma,
    log sigma_forces).

    With :math:`\\tilde A = \\delta^2 K + \\delta^4\\sum_t A_t/\\sigma_t^2 + j\\delta^2 I`,
    :math:`b = \\delta^2\\sum_t b_t/\\sigma_t^2`, :math:`c = \\tilde A^{-1}b`,
    :math:`\\tilde K = \\delta^2(K + jI)` and T target columns,
    :math:`2F = -y^T\\Sigma^{-1}y + b^Tc - T\\log|\\Sigma| - T\\log|\\tilde A|
    + T\\log|\\tilde K| + \\text{const}`, hence
    :math:`2\\partial F = -\\partial(y^T\\Sigma^{-1}y) + 2\\,\\partial b^Tc
    - c^T\\partial\\tilde A\\,c - T\\partial\\log|\\Sigma|
    - T\\operatorname{tr}(\\tilde A^{-1}\\partial\\tilde A)
    + T\\operatorname{tr}(\\tilde K^{-1}\\partial\\tilde K)`.
    """
    d, se, sf = h.delta, h.sigma, h.sigma_forces
    sol = h.solve(terms, jitter)
    M = len(terms.K_MM)
    e, f, st = terms.values, terms.forces, terms.stress
    T = 1 if e.b.ndim == 1 else e.b.shape[1]
    Ri = solve_triangular(sol.R, np.eye(M), lower=True, check_finite=False)
    A_inv = Ri.T @ Ri
    c = sol.weights                                   # Ã^-1 b
    c2 = c if c.ndim == 2 else c[:, None]

    def quad(X):                                       # sum_t c_t^T X c_t
        return float(np.sum(c2 * (X @ c2)))

    def trace(X):                                      # tr(Ã^-1 X)
        return float(np.sum(A_inv * X))

    def cb(bt):                                        # sum_t c_t^T b_t
        return float(np.sum(c2 * (bt if bt.ndim == 2 else bt[:, None])))

    ws = 1.0 / terms.sigma_stress**2
    A_w = e.A / se**2 + f.A / sf**2 + ws * st.A
    K = terms.K_MM
    # d/dlog delta: dÃ = 2δ²(K + jI) + 4δ⁴A_w, db = 2b, tr(K̃^-1 dK̃) = 2M
    dA_d = 2 * d**2 * K + 4 * d**4 * A_w
    dA_d[np.diag_indices_from(dA_d)] += 2 * jitter * d**2
    b = d**2 * (e.b / se**2 + f.b / sf**2 + ws * st.b)
    g_d = 0.5 * (2 * cb(2 * b) - quad(dA_d) - T * trace(dA_d) + 2 * M * T)

    def noise_gradient(eq, sigma):
        # d/dlog σ of the terms of one observation type with noise σ
        dA = -2 * d**4 * eq.A / sigma**2
        db = -2 * d**2 * eq.b / sigma**2
        dyy = -2 * eq.yy / sigma**2
        dlogdet = 2 * eq.n * T
        return 0.5 * (-dyy + 2 * cb(db) - quad(dA) - T * trace(dA) - dlogdet)

    grad = np.array([g_d, noise_gradient(e, se), noise_gradient(f, sf)])
    return sol.log_marginal_likelihood, grad


def by_validation(train: ObservationTerms, kept: KeptRows, start: Hyperparameters,
                  jitter: float) -> tuple[Hyperparameters, dict, dict]:
    """Minimise the held-out relative mean squared error of target values (per atom for
    extensive targets) plus forces over (delta, sigma, sigma_forces), with bounded
    Nelder-Mead (the jitter fallback makes the objective only piecewise smooth).

    Returns
    -------
    Hyperparameters
    mean, std : dict
        Held-out predictions of ``"values"`` and ``"forces"`` rows (latent std) at the
        chosen hyperparameters, from the fit without them, for the calibration.
    """
    s = kept.values_scale if kept.values_y.ndim == 1 else kept.values_scale[:, None]
    var_v = max(float(np.var(kept.values_y / s)), 1e-12)
    has_f = kept.forces is not None
    var_f = max(float(np.var(kept.forces_y)), 1e-12) if has_f else 1.0

    def predictions(h: Hyperparameters):
        sol = h.solve(train, jitter)
        c = h.delta**2 * sol.weights
        return sol, kept.values @ c, (kept.forces @ c if has_f else None)

    def unpack(theta) -> Hyperparameters:
        v = [float(x) for x in np.exp(theta)]
        return Hyperparameters(v[0], v[1], v[2] if has_f else start.sigma_forces)

    def obj_func(theta, eval_gradient=False):
        h = unpack(theta)
        try:
            _, pv, pf = predictions(h)
        except np.linalg.LinAlgError:
            return 1e300
        value = float(np.mean(((pv - kept.values_y) / s) ** 2)) / var_v
        if has_f:
            value += float(np.mean((pf - kept.forces_y) ** 2)) / var_f
        return value

    # sigma_forces is searched only when there are forces
    t0 = np.log([start.delta, start.sigma] + ([start.sigma_forces] if has_f else []))
    with warnings.catch_warnings():      # trial points may need jitter; say nothing
        warnings.simplefilter("ignore", UserWarning)
        theta, _ = optimize_theta(obj_func, t0, BOUNDS[: len(t0)], optimizer="nelder-mead",
                                  options={"xatol": 1e-2, "fatol": 1e-4, "maxiter": 200})
    h = unpack(theta)
    sol, pv, pf = predictions(h)
    d2 = h.delta**2
    mean = {"values": pv}
    std = {"values": np.sqrt(predictive_variance(d2 * kept.values, d2 * kept.values_prior,
                                                 sol))}
    if has_f:
        mean["forces"] = pf
        std["forces"] = np.sqrt(predictive_variance(d2 * kept.forces, d2 * kept.forces_prior,
                                                    sol))
    return h, mean, std
