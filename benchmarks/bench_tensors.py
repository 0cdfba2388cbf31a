"""Dipoles and polarizabilities: SA-GPR, the PaiNN heads and the naive baseline.

    python benchmarks/bench_tensors.py [--sizes 100 200 400] [--budget 150]

Same 200 held-out frames of the shipped ethanol set for every model; training frames are
the first n of a fixed seeded order. Errors are MAE and RMSE over all Cartesian
components as a percentage of the targets' standard deviation (components centred
over the test set). SA-GPR: lambda-SOAP (cutoff 5 Å, n_max 6, l_max 4), zeta 2, 300
sparse environments per lambda, noise and scale by marginal likelihood. Naive baseline:
the same GPR machinery learning each Cartesian component with the invariant (lambda = 0)
kernel. Network heads: PaiNN (64 channels, 3 interactions) with a dipole or polarizability
head, ``--budget`` seconds of training per size. One thread per run, two runs at a time.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def run(family: str, target: str, n: int, budget: float) -> dict:
    import torch

    from atomlearn import threads
    from atomlearn.datasets import load_ethanol
    from atomlearn.models import MessagePassingModel, SymmetryAdaptedGPRModel
    from atomlearn.targets import dipole, polarizability

    threads.configure(1)      # two runs at a time on two cores: one thread each (BLAS too)
    torch.set_num_threads(1)
    frames = load_ethanol()
    order = np.random.default_rng(0).permutation(len(frames))
    test = [frames[i] for i in order[:200]]
    train = [frames[i] for i in order[200 : 200 + n]]
    spec = dipole() if target == "dipole" else polarizability()
    t = time.perf_counter()
    if family == "mpnn":
        model = MessagePassingModel(spec, epochs=100_000, max_time=budget,
                                    patience=100_000, activation="silu")
    else:
        # 300 sparse environments per lambda, shared by element as in ethanol's formula
        model = SymmetryAdaptedGPRModel(spec, n_sparse={"H": 200, "C": 67, "O": 33},
                                        symmetry_adapted=family == "sa_gpr")
    model.fit(train)
    seconds = time.perf_counter() - t
    ref = spec.read(test)
    err = (model.predict(test)[target] - ref).reshape(len(test), -1)
    sd = np.sqrt(np.mean((ref - ref.mean(0)) ** 2))
    return {"family": family, "target": target, "n": n, "seconds": seconds,
            "mae_pct": 100 * np.mean(np.abs(err)) / sd,
            "rmse_pct": 100 * np.sqrt(np.mean(err**2)) / sd}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[100, 200, 400])
    p.add_argument("--budget", type=float, default=150.0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--families", nargs="+", default=["sa_gpr", "naive", "mpnn"])
    args = p.parse_args(argv)
    jobs = [(f, t, n) for f in args.families for t in ("dipole", "polarizability")
            for n in args.sizes]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run, *zip(*jobs, strict=True), [args.budget] * len(jobs)))
    names = {"sa_gpr": "SA-GPR (lambda-SOAP)", "naive": "naive GPR (Cartesian, invariant)",
             "mpnn": f"PaiNN head ({args.budget:.0f} s)"}
    print("ethanol, 200 held-out frames; error as % of the target's standard deviation")
    print("| target | model | " + " | ".join(f"n={n} MAE / RMSE %" for n in args.sizes)
          + " | fit s (largest n) |")
    print("|---|---|" + "---|" * (len(args.sizes) + 1))
    for target in ("dipole", "polarizability"):
        for family in args.families:
            mine = sorted((r for r in rows if r["family"] == family and r["target"] == target),
                          key=lambda r: r["n"])
            cells = " | ".join(f"{r['mae_pct']:.2f} / {r['rmse_pct']:.2f}" for r in mine)
            print(f"| {target} | {names[family]} | {cells} | {mine[-1]['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
