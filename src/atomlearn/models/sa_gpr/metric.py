"""Channel weights of a block-wise fit re-solved jointly under the metric that decides
what the predictions are used for: the Löwdin metric for operators (eigenvalues), the
Coulomb metric for densities.

Each channel's GP minimises its own squared error in the atomic-orbital basis. An
eigenvalue, though, moves by :math:`c^T\\delta H c` with coefficients c that are large for
diffuse virtual orbitals, so equal block errors matter very unequally; in the
Löwdin-orthogonalised basis an error :math:`X\\delta H X` (:math:`X = S^{-1/2}`) moves
every eigenvalue by at most its norm. This re-solve keeps each channel's GP objective on
all its training rows (its triangular factor: misfit and prior, exactly as the fit) and
adds, for some training structures, the squared Frobenius error of :math:`X(H - H_{ref})X`
over all channels at once, which couples them (SALTED's fit in the density-fitting metric
is the same construction, :class:`CoulombMetric`). L-BFGS starts from the channel-wise
solution, in coordinates
whitened by each channel's stacked factor :math:`R_S` (:math:`R_S^TR_S` is the channel
objective's Hessian), so the channel terms are a unit quadratic and the iterations see
only the coupling.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import minimize

log = logging.getLogger(__name__)


def refine_in_metric(model, structures, matrices: np.ndarray, *, weight: float,
                     max_iter: int = 200) -> dict:
    """Re-solve ``model``'s channel weights (an :class:`OperatorGPR` or
    :class:`DensityGPR` fitted channel by channel, its channels' factors kept) for its
    objective plus ``weight`` times the error in ``model.metric`` on ``structures`` with
    targets ``matrices`` (assembled, e.g. ``(n, n_ao, n_ao)``).

    Returns
    -------
    dict
        Objective and rms error in the metric before and after, iterations.
    """
    problem = MetricProblem(model, structures, matrices, weight)
    before = problem(problem.z0)
    if hasattr(problem.metric, "block"):
        z, iterations = problem.solve(max_iter)
    else:
        result = minimize(lambda z: problem(z)[:2], problem.z0, jac=True,
                          method="L-BFGS-B", options={"maxiter": max_iter})
        z, iterations = result.x, int(result.nit)
    after = problem(z)
    problem.store(z)
    n = np.asarray(matrices).size
    report = {"objective_before": float(before[0]), "objective_after": float(after[0]),
              "metric_rms_before": float(np.sqrt(before[2] / n)),
              "metric_rms_after": float(np.sqrt(after[2] / n)),
              "iterations": iterations}
    log.info("%s weights re-solved in the %s on %d structures: rms %.3g -> %.3g in %d "
             "iterations", model.what, problem.metric.name, len(structures),
             report["metric_rms_before"], report["metric_rms_after"], report["iterations"])
    return report


class MetricProblem:
    """The joint objective of :func:`refine_in_metric` in whitened coordinates z
    (channel weights u = R_S^-1 z): ``problem(z) -> (value, gradient, metric_value)``,
    starting point ``z0`` (the channel-wise solution) and ``store(z)``."""

    def __init__(self, model, structures, matrices, weight: float) -> None:
        self.model, self.weight = model, float(weight)
        self.matrices = np.asarray(matrices, float)
        self.keys = list(model.models_)
        self.metric = model.metric(structures)
        # each channel's kernel rows against its sparse points, per group of structures
        # with the same atoms; single precision halves the largest array of the
        # re-solve, and value and gradient use the same rows, so the objective stays
        # exactly quadratic
        self.rows, self.groups = {k: {} for k in self.keys}, []
        for numbers, members, envs in model.channel_environments(list(structures)):
            self.groups.append((numbers, members))
            for k, env in envs.items():
                gpr = model.models_[k]
                self.rows[k][tuple(members)] = gpr.kernel.rows(env, gpr.sparse_).astype(
                    np.float32)
        gprs = [model.models_[k] for k in self.keys]
        self.shapes = [g.solution_.weights.shape for g in gprs]
        self.whiten = [g.solution_.R_S for g in gprs]
        self.z0 = np.concatenate([(R @ (g.delta_**2 * g.solution_.weights)).ravel()
                                  for R, g in zip(self.whiten, gprs, strict=True)])
        # the metric term per element, in units of the channels' mean noise variance
        self.noise2 = float(np.mean([g.sigma_**2 for g in gprs]))

    def weights(self, z) -> dict:
        """Channel weights u = R_S^-1 z (predictions are K u)."""
        out, start = {}, 0
        for k, shape, R in zip(self.keys, self.shapes, self.whiten, strict=True):
            n = int(np.prod(shape))
            out[k] = solve_triangular(R, z[start:start + n].reshape(shape),
                                      check_finite=False)
            start += n
        return out

    def solve(self, max_iter: int, rtol: float = 1e-6) -> tuple[np.ndarray, int]:
        """The exact minimum by conjugate gradients (the objective is quadratic:
        Hessian-vector products are gradient differences), preconditioned by each
        channel's own block of the Hessian, which holds the strong coupling of a channel's
        outputs (overlapping radial functions on one atom) that slows L-BFGS down."""
        from scipy.linalg import cho_solve
        from scipy.sparse.linalg import LinearOperator, cg

        zero = np.zeros_like(self.z0)
        g0 = self(zero)[1]
        sizes = [int(np.prod(s)) for s in self.shapes]
        edges = np.cumsum([0, *sizes])
        factors = [_cholesky(block) for block in self.channel_blocks()]

        def precondition(r):
            return np.concatenate([cho_solve(f, r[a:b]) for f, a, b in
                                   zip(factors, edges[:-1], edges[1:], strict=True)])

        n = len(self.z0)
        count = [0]

        def hessian(v):
            count[0] += 1
            return self(v)[1] - g0

        z, _ = cg(LinearOperator((n, n), hessian), -g0, x0=self.z0, rtol=rtol,
                  maxiter=max_iter, M=LinearOperator((n, n), precondition))
        return z, count[0]

    def channel_blocks(self) -> list[np.ndarray]:
        """Each channel's diagonal block of the objective's Hessian in z: 2 I plus the
        metric's block through that channel's kernel rows."""
        layout, out = self.model.layout_, []
        for k, shape, R in zip(self.keys, self.shapes, self.whiten, strict=True):
            n_out = shape[1]
            unwhiten = solve_triangular(R, np.eye(len(R)), check_finite=False)
            block = np.zeros((shape[0] * n_out, shape[0] * n_out))
            for numbers, members in self.groups:
                K = self.rows[k].get(tuple(members))
                if K is None:
                    continue
                columns = layout.columns(numbers, k)
                per = len(K) // len(members)
                for j, m in enumerate(members):
                    # the member's channel values as a function of z
                    B = np.kron(K[j * per:(j + 1) * per].astype(float) @ unwhiten,
                                np.eye(n_out))
                    block += B.T @ self.metric.block(m, columns) @ B
            block = 2 * self.weight / self.noise2 * (block + block.T) / 2
            block[np.diag_indices_from(block)] += 2.0
            out.append(block)
        return out

    def store(self, z) -> None:
        for k, u in self.weights(z).items():
            gpr = self.model.models_[k]
            gpr.solution_.weights = u / gpr.delta_**2

    def __call__(self, z):
        model, layout = self.model, self.model.layout_
        us = self.weights(z)
        value, grads = 0.0, {}
        for k in self.keys:
            gpr = model.models_[k]
            f = gpr.factor_
            misfit = f.KK @ us[k] - f.Ky
            prior = gpr.K_MM_ @ us[k] + gpr._jitter * us[k]
            value += np.sum(misfit**2) / gpr.sigma_**2 + np.sum(us[k] * prior) / gpr.delta_**2
            grads[k] = 2 * (f.KK.T @ misfit) / gpr.sigma_**2 + 2 * prior / gpr.delta_**2
        metric_value = 0.0
        for numbers, members in self.groups:
            group = tuple(members)
            parts = {k: (self.rows[k][group] @ us[k]).reshape(-1, 2 * k[-2] + 1,
                                                             us[k].shape[1])
                     + model.offsets_[k] for k in self.keys if group in self.rows[k]}
            residual = layout.assemble(parts, numbers, len(members)) - self.matrices[members]
            part_value, gradient = self.metric(members, residual)
            metric_value += part_value
            for k, part in layout.adjoint(gradient, numbers).items():
                if group not in self.rows.get(k, {}):     # a channel that is zero
                    continue
                K = self.rows[k][group]
                grads[k] = grads[k] + self.weight * (K.T @ part.reshape(len(K), -1)
                                                     ) / self.noise2
        value += self.weight * metric_value / self.noise2
        grad = [solve_triangular(R, grads[k], trans="T", check_finite=False).ravel()
                for k, R in zip(self.keys, self.whiten, strict=True)]
        return value, np.concatenate(grad), metric_value


def _cholesky(block: np.ndarray):
    """Cholesky factor of a preconditioner block (>= 2 I in exact arithmetic), with a
    growing diagonal shift where rounding made it indefinite."""
    from scipy.linalg import LinAlgError, cho_factor

    shift = 0.0
    scale = float(np.mean(np.diag(block)))
    while True:
        try:
            return cho_factor(block + shift * np.eye(len(block)))
        except LinAlgError:
            shift = max(10 * shift, 1e-10 * scale)


class LowdinMetric:
    """Squared Frobenius norm of :math:`X R X` (:math:`X = S^{-1/2}`) of residual
    matrices R: ``metric(members, R) -> (value, gradient)``."""

    name = "Löwdin metric"

    def __init__(self, structures, basis: str) -> None:
        from ...targets.operators import overlap_powers

        self.X = np.stack(overlap_powers(structures, basis, -0.5))

    def __call__(self, members, residual: np.ndarray) -> tuple[float, np.ndarray]:
        X = self.X[members]
        G = X @ residual @ X
        return float(np.sum(G**2)), 2 * X @ G @ X


class CoulombMetric:
    """:math:`r^T J r` of residual coefficients r with each structure's Coulomb metric J
    (twice the Hartree energy of the error density):
    ``metric(members, r) -> (value, gradient)``."""

    name = "Coulomb metric"

    def __init__(self, structures, basis: str) -> None:
        from ...targets.density import coulomb_metric

        self.J = np.stack([coulomb_metric(a, basis) for a in structures])

    def __call__(self, members, residual: np.ndarray) -> tuple[float, np.ndarray]:
        Jr = np.einsum("npq,nq->np", self.J[members], residual)
        return float(np.sum(residual * Jr)), 2 * Jr

    def block(self, member: int, columns: np.ndarray) -> np.ndarray:
        """The metric of one structure between the coefficients ``columns``."""
        return self.J[member][np.ix_(columns, columns)]


__all__ = ["CoulombMetric", "LowdinMetric", "MetricProblem", "refine_in_metric"]
