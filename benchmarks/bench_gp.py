"""GP core speed and memory, atomlearn beside scikit-learn and beside the DGEMM ceiling.

    python benchmarks/bench_gp.py [--quick]

1. Full GPR with hyperparameter optimisation (anisotropic RBF + white noise, same bounds,
   same restarts, same data) at N = 1000, 2000, 4000: wall time of atomlearn and of
   scikit-learn, and their ratio (target <= 0.5). Also the time per log-marginal-
   likelihood evaluation (with gradient), which does not depend on the optimiser's path.
2. Sparse GPR fit at N = 200,000, M = 2,000, 500 features: fit time against the time of
   the bare matrix products it cannot avoid (building K_NM: one N x M x D product, and
   K_NM^T K_NM: N x M^2), both measured in this run, with this machine's DGEMM rate;
   peak memory of the fit (target < 1.5 GB).
"""

from __future__ import annotations

import argparse
import resource
import sys
import threading
import time

import numpy as np


def dgemm_gflops(n: int = 2000, repeats: int = 3) -> float:
    a = np.random.default_rng(0).normal(size=(n, n))
    b = a.copy()
    a @ b
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


class PeakMemory:
    """Peak resident memory above the baseline, sampled every 10 ms (MB)."""

    def __enter__(self):
        self.base = _rss_mb()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.01)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.increase = self.peak - self.base


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def full_gpr(sizes, n_features=8, restarts=1):
    import sklearn.gaussian_process as skgp
    import sklearn.gaussian_process.kernels as skk

    import atomlearn.kernels as alk
    from atomlearn.gp import GaussianProcessRegressor

    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        X = rng.normal(size=(n, n_features))
        y = np.sin(X[:, 0]) + 0.3 * X[:, 1] ** 2 - 0.5 * X[:, 2] + 0.1 * rng.normal(size=n)
        kernels = {
            "atomlearn": (GaussianProcessRegressor,
                          alk.ConstantKernel(1.0, (1e-3, 1e3))
                          * alk.RBF([1.0] * n_features, (1e-2, 1e3))
                          + alk.WhiteKernel(0.1, (1e-5, 1e1))),
            "sklearn": (skgp.GaussianProcessRegressor,
                        skk.ConstantKernel(1.0, (1e-3, 1e3))
                        * skk.RBF([1.0] * n_features, (1e-2, 1e3))
                        + skk.WhiteKernel(0.1, (1e-5, 1e1))),
        }
        res = {}
        for name, (cls, kernel) in kernels.items():
            gp = cls(kernel, n_restarts_optimizer=restarts, random_state=0)
            t = time.perf_counter()
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gp.fit(X, y)
            fit = time.perf_counter() - t
            theta = gp.kernel_.theta
            t = time.perf_counter()
            for _ in range(3):
                gp.log_marginal_likelihood(theta, eval_gradient=True)
            per_eval = (time.perf_counter() - t) / 3
            res[name] = (fit, per_eval, gp.log_marginal_likelihood_value_)
        rows.append((n, res))
    return rows


def sparse_gpr(n=200_000, m=2000, d=500, chunk=8192):
    from atomlearn.gp import SparseGaussianProcessRegressor
    from atomlearn.kernels import RBF, ConstantKernel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    y = np.sin(X[:, :5].sum(axis=1) * 3) + 0.01 * rng.normal(size=n)
    kernel = ConstantKernel(1.0) * RBF(1.0)
    Xm = X[:m]
    # the unavoidable products, timed alone in chunks of the same size
    t = time.perf_counter()
    A = np.zeros((m, m))
    for s in range(0, n, chunk):
        K = X[s : s + chunk] @ Xm.T
        A += K.T @ K
    bare = time.perf_counter() - t
    del A
    # K_NM: one (N x D)(D x M) product; K_NM^T K_NM is symmetric, so NumPy computes it
    # with SYRK at N M^2 flops (half a general product)
    flops = 2.0 * n * m * d + 1.0 * n * m * m
    model = SparseGaussianProcessRegressor(kernel, n_sparse=m, selection="random",
                                           alpha=1e-2, optimizer=None, chunk_size=chunk,
                                           random_state=0)
    with PeakMemory() as mem:
        t = time.perf_counter()
        model.fit(X, y)
        fit = time.perf_counter() - t
    return {"n": n, "m": m, "d": d, "bare": bare, "fit": fit, "flops": flops,
            "peak_mb": mem.increase}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--only", choices=("full", "sparse"), default=None)
    args = p.parse_args(argv)
    rate = dgemm_gflops()
    print(f"DGEMM (float64, n=2000, all threads) before: {rate:.1f} GFLOP/s\n", flush=True)
    if args.only != "sparse":
        run_full(args)
    if args.only != "full":
        run_sparse(args, rate)
    return 0


def run_full(args):
    sizes = [300, 600] if args.quick else [1000, 2000, 4000]
    print("Full GPR fit with hyperparameter optimisation (C*RBF_aniso(8)+White, 1 restart)")
    print(f"{'N':>6} {'atomlearn s':>12} {'sklearn s':>10} {'ratio':>7} "
          f"{'LML+grad al':>12} {'LML+grad sk':>12} {'ratio':>7} {'LML al':>10} {'LML sk':>10}")
    for n, res in full_gpr(sizes):
        a, s = res["atomlearn"], res["sklearn"]
        print(f"{n:>6} {a[0]:>12.2f} {s[0]:>10.2f} {a[0] / s[0]:>7.2f} {a[1]:>12.3f} "
              f"{s[1]:>12.3f} {a[1] / s[1]:>7.2f} {a[2]:>10.2f} {s[2]:>10.2f}", flush=True)


def run_sparse(args, rate_before):
    kw = dict(n=20_000, m=500, d=100) if args.quick else {}
    r = sparse_gpr(**kw)
    # the machine's rate: the best of a measurement before and after the fit
    rate = max(rate_before, dgemm_gflops())
    print(f"\nDGEMM (float64, n=2000, all threads), best of before/after: {rate:.1f} GFLOP/s")
    print(f"\nSparse GPR fit, N={r['n']:,}, M={r['m']:,}, D={r['d']}")
    print(f"{'bare products s':>16} {'fit s':>8} {'fit/bare':>9} {'GFLOP/s (fit)':>14} "
          f"{'of DGEMM':>9} {'peak MB':>8}")
    print(f"{r['bare']:>16.2f} {r['fit']:>8.2f} {r['fit'] / r['bare']:>9.2f} "
          f"{r['flops'] / r['fit'] / 1e9:>14.1f} {r['flops'] / r['fit'] / 1e9 / rate:>9.0%} "
          f"{r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    sys.exit(main())
