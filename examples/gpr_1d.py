"""The lecture's "GPR with a worked example", as pictures.

    python examples/gpr_1d.py [--out docs/images/gpr_1d] [--n-train 40] [--quick]

Noisy samples of f(x) = sin(x) + 0.3 cos(3x) are fitted with
``ConstantKernel(s^2) * RBF(sigma_l)`` and noise variance eta. Writes six PNGs:

1. ``1_prior.png``: draws from the GP prior for two length scales: what the kernel
   believes before seeing data.
2. ``2_posterior.png``: the posterior mean with a +/-2 sigma band after fitting (with
   hyperparameters from the log marginal likelihood); the band is narrow near data and
   widens between and beyond the samples.
3. ``3_hyperparameters.png``: the same data fitted with small/right/large sigma_l (rows)
   and small/right/large eta (columns): too small a length scale wiggles through the
   noise, too large a one smooths the function away; too small an eta interpolates the
   noise, too large a one ignores the data.
4. ``4_lml_surface.png``: the log marginal likelihood over (sigma_l, eta), with the
   optimum found by L-BFGS-B marked; its ridge shows which pairs explain the data
   equally well.
5. ``5_sparse_vs_full.png``: sparse GPR with M inducing points (marked on the axis) next
   to the full GPR: with enough well-placed points the two curves coincide.
6. ``6_learning_curve.png``: test error vs number of training points (log-log) for the
   full GPR, falling until it reaches the noise level.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from atomlearn.gp import GaussianProcessRegressor, SparseGaussianProcessRegressor
from atomlearn.kernels import RBF, ConstantKernel, WhiteKernel


def truth(x):
    return np.sin(x) + 0.3 * np.cos(3 * x)


NOISE = 0.15


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 10, n))
    return x[:, None], truth(x) + NOISE * rng.normal(size=n)


def _fig(w=6.4, h=4.0, rows=1, cols=1):
    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def _band(ax, xs, mean, std, label="posterior mean", color="C0"):
    ax.plot(xs, mean, color=color, label=label)
    ax.fill_between(xs, mean - 2 * std, mean + 2 * std, color=color, alpha=0.2,
                    label="±2σ")


def main(argv=None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images/gpr_1d")
    p.add_argument("--n-train", type=int, default=40)
    p.add_argument("--quick", action="store_true", help="coarser grids (for tests)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X, y = data(args.n_train)
    xs = np.linspace(-1, 11, 300)
    Xs = xs[:, None]
    written = []

    def save(fig, name):
        path = out / name
        fig.savefig(path)
        written.append(path)

    # 1. prior samples
    fig, ax = _fig(rows=1, cols=2, w=8)
    for a, ls in zip(ax[0], (0.5, 2.0), strict=True):
        prior = GaussianProcessRegressor(RBF(ls))
        a.plot(xs, prior.sample_y(Xs, 5, random_state=1), lw=1)
        a.set_title(f"prior draws, σ_l = {ls}")
        a.set_xlabel("x")
    save(fig, "1_prior.png")

    # 2. posterior with hyperparameters from the log marginal likelihood
    kernel = ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(0.1)
    gp = GaussianProcessRegressor(kernel, n_restarts_optimizer=2, random_state=0).fit(X, y)
    s2 = gp.kernel_.k1.k1.constant_value
    sigma_l = gp.kernel_.k1.k2.length_scale
    eta = gp.kernel_.k2.noise_level
    mean, std = gp.predict(Xs, return_std=True)
    fig, ax = _fig()
    a = ax[0, 0]
    a.plot(xs, truth(xs), "k--", lw=1, label="truth")
    _band(a, xs, mean, std)
    a.plot(X[:, 0], y, "ko", ms=3, label="noisy samples")
    a.set_title(f"posterior: s² = {s2:.2f}, σ_l = {sigma_l:.2f}, η = {eta:.3f} "
                f"(true noise variance {NOISE**2:.3f})", fontsize=9)
    a.legend(fontsize=7)
    save(fig, "2_posterior.png")

    # 3. effect of sigma_l and eta
    fig, ax = _fig(w=9, h=6.5, rows=3, cols=3)
    for i, ls in enumerate((0.15 * sigma_l, sigma_l, 8 * sigma_l)):
        for j, e in enumerate((1e-4 * eta, eta, 30 * eta)):
            g = GaussianProcessRegressor(ConstantKernel(s2) * RBF(ls), alpha=e,
                                         optimizer=None).fit(X, y)
            m, s = g.predict(Xs, return_std=True)
            a = ax[i, j]
            _band(a, xs, m, s)
            a.plot(X[:, 0], y, "ko", ms=2)
            a.set_ylim(-2.5, 2.5)
            a.set_title(f"σ_l = {ls:.2g}, η = {e:.2g}", fontsize=8)
    save(fig, "3_hyperparameters.png")

    # 4. log-marginal-likelihood surface over (sigma_l, eta), amplitude at its optimum
    n_grid = 15 if args.quick else 50
    ls_grid = np.logspace(-1, 1.3, n_grid)
    eta_grid = np.logspace(-4, 0.5, n_grid)
    base = GaussianProcessRegressor(ConstantKernel(s2, "fixed") * RBF(1.0) + WhiteKernel(0.1),
                                    optimizer=None).fit(X, y)
    lml = np.array([[base.log_marginal_likelihood(np.log([ls, e])) for ls in ls_grid]
                    for e in eta_grid])
    fig, ax = _fig(w=5.5, h=4.5)
    a = ax[0, 0]
    levels = np.max(lml) - np.array([200, 100, 50, 20, 10, 5, 2, 1, 0.0])[::-1][::-1]
    cs = a.contourf(ls_grid, eta_grid, np.maximum(lml, np.max(lml) - 200), levels=30,
                    cmap="viridis")
    a.contour(ls_grid, eta_grid, lml, levels=np.sort(levels), colors="w", linewidths=0.5)
    fig.colorbar(cs, ax=a, label="log marginal likelihood")
    a.plot([sigma_l], [eta], "r*", ms=14, label="L-BFGS-B optimum")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("σ_l")
    a.set_ylabel("η (noise variance)")
    a.legend(fontsize=8)
    save(fig, "4_lml_surface.png")

    # 5. sparse vs full
    Xb, yb = data(400, seed=3)
    fig, ax = _fig(w=9, h=3.6, rows=1, cols=2)
    full = GaussianProcessRegressor(ConstantKernel(s2) * RBF(sigma_l), alpha=eta,
                                    optimizer=None).fit(Xb, yb)
    mf, sf = full.predict(Xs, return_std=True)
    for a, m_sparse in zip(ax[0], (6, 25), strict=True):
        sp = SparseGaussianProcessRegressor(ConstantKernel(s2) * RBF(sigma_l),
                                            n_sparse=m_sparse, alpha=eta, optimizer=None,
                                            random_state=0).fit(Xb, yb)
        ms, ss = sp.predict(Xs, return_std=True)
        a.plot(Xb[:, 0], yb, ".", color="0.7", ms=2, label="400 samples")
        _band(a, xs, mf, sf, label="full GPR", color="C0")
        _band(a, xs, ms, ss, label=f"sparse GPR, M = {m_sparse}", color="C3")
        a.plot(sp.X_sparse_[:, 0], np.full(m_sparse, -2.3), "k^", ms=6,
               label="inducing points (FPS)")
        a.set_ylim(-2.5, 2.5)
        a.legend(fontsize=6, loc="upper right")
    save(fig, "5_sparse_vs_full.png")

    # 6. learning curve
    Xtest = np.linspace(0, 10, 500)[:, None]
    sizes = [5, 10, 20, 40, 80] if args.quick else [5, 10, 20, 40, 80, 160, 320]
    errs = []
    for n in sizes:
        e = []
        for rep in range(3):
            Xn, yn = data(n, seed=100 + rep)
            g = GaussianProcessRegressor(ConstantKernel(s2) * RBF(sigma_l), alpha=eta,
                                         optimizer=None).fit(Xn, yn)
            e.append(np.sqrt(np.mean((g.predict(Xtest) - truth(Xtest[:, 0])) ** 2)))
        errs.append((np.mean(e), np.std(e)))
    errs = np.array(errs)
    fig, ax = _fig(w=5, h=3.8)
    a = ax[0, 0]
    a.errorbar(sizes, errs[:, 0], yerr=errs[:, 1], fmt="o-", capsize=3,
               label="test RMSE vs truth")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("number of training points")
    a.set_ylabel("RMSE")
    a.grid(True, which="both", alpha=0.3)
    a.legend(fontsize=8)
    save(fig, "6_learning_curve.png")
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
