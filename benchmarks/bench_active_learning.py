"""Active learning: what adding a frame to a sparse GP costs, and on-the-fly learning of
ethanol with PySCF against a model of randomly drawn frames.

    python benchmarks/bench_active_learning.py update [--n-sparse 5000] [--copies 2.25]
    python benchmarks/bench_active_learning.py otf [--temperatures 300 600] [--steps 4000]

``update``: a sparse GPR potential (energies and forces, the ethanol SOAP defaults, fixed
hyperparameters, no held-out split) with ``--n-sparse`` CUR sparse points is fitted to
the shipped 1600 ethanol frames taken ``--copies`` times (2.25: 3600 frames, 100,800
observations: energies and force components). Then one 9-atom frame (28 observations) is
added ``--repeat`` times by ``model.update`` (rank-28 QR update of the stacked factor,
LAPACK tpqrt in place, and one triangular solve; the per-type factors take the rows when
noise levels change), against the fit from scratch (what codes that redo the QR at every
call pay; ``--refit`` also times a rebuild with the same sparse points, which costs about
as much). Also timed: the QR update of one (M+1)-square factor alone and the machine's
DGEMM rate (a 4000 x 4000 product), for its flop rate (2 k M^2). Two threads.

``otf``: ``atomlearn learn``'s loop (examples/ethanol_learn.yaml) with the PySCF labeller
(PBE/def2-SVP, the shipped data's level), from the first 5 shipped frames, Langevin MD at
each temperature (the data were sampled at 500 K). Measured per run: reference calls,
MD steps per call, calls after the first picosecond, the smallest interatomic
distance, the 1- and 2-sigma coverage of the labelled frames' force errors before they
were learned (the std calibrated on earlier labels only), and an audit: 50 frames drawn
evenly from the run's trajectory, labelled by PySCF afterwards, scored by the learned
model and by models of the same configuration fitted to as many frames drawn at random
from the shipped trajectory (and to 2, 4, 8, ... times as many, for the number of random
frames that matches the learned model). The run's picture (uncertainty, reference calls
and running error against MD time) goes to ``docs/images/active/``. One thread.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "images" / "active"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="part", required=True)
    u = sub.add_parser("update")
    u.add_argument("--n-sparse", type=int, default=5000)
    u.add_argument("--copies", type=float, default=2.25)
    u.add_argument("--repeat", type=int, default=10)
    u.add_argument("--refit", action="store_true",
                   help="also time a rebuild with the same sparse points (about as long "
                        "as the initial fit)")
    o = sub.add_parser("otf")
    o.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 600.0])
    o.add_argument("--steps", type=int, default=4000)
    o.add_argument("--audit", type=int, default=50)
    o.add_argument("--out", default=str(ROOT / "runs" / "bench_otf"))
    args = p.parse_args(argv)
    return update_cost(args) if args.part == "update" else on_the_fly(args)


def update_cost(args) -> int:
    from atomlearn import threads
    from atomlearn.datasets import load_ethanol
    from atomlearn.gp.factor import update_triangle
    from atomlearn.models import SparseGPRModel

    threads.configure(2)
    shipped = load_ethanol()
    n = int(round(args.copies * len(shipped)))
    frames = [shipped[i % len(shipped)] for i in range(n)]
    counts = {"H": args.n_sparse * 6 // 9, "C": args.n_sparse * 2 // 9}
    counts["O"] = args.n_sparse - counts["H"] - counts["C"]
    model = SparseGPRModel(n_sparse=counts, hyperparameters="fixed", validation_fraction=0.0,
                           sigma=1e-3, sigma_forces=0.03)
    t = time.perf_counter()
    model.fit(frames)
    fit_s = time.perf_counter() - t
    M = len(model.sparse_.numbers)
    observations = model.factors_.values.n + model.factors_.forces.n

    new = [shipped[k] for k in range(args.repeat)]
    times = []
    for atoms in new:
        t = time.perf_counter()
        model.update([atoms])
        times.append(time.perf_counter() - t)
    update_s = float(np.median(times[1:] if len(times) > 1 else times))   # first builds
    first_s = times[0]                                                    # [R_S|z]

    # the QR update alone: 28 rows into one (M+1)-square factor, in place
    rng = np.random.default_rng(0)
    triangle = np.asfortranarray(np.triu(rng.normal(size=(M + 1, M + 1))))
    rows = rng.normal(size=(28, M + 1))
    t = time.perf_counter()
    for _ in range(5):
        update_triangle(triangle, rows)
    qr_s = (time.perf_counter() - t) / 5
    a = rng.normal(size=(4000, 4000))
    a @ a
    t = time.perf_counter()
    a @ a
    dgemm = 2 * 4000**3 / (time.perf_counter() - t) / 1e9

    refit_s = None
    if args.refit:
        t = time.perf_counter()
        model.consolidate(frames + new)
        refit_s = time.perf_counter() - t

    print(f"ethanol, M = {M} sparse points, N = {observations} observations "
          f"({n} frames: energies and force components); one 9-atom frame added")
    print("| step | seconds | vs update |")
    print("|---|---:|---:|")
    print(f"| update (median of {len(times) - 1}) | {update_s:.3f} | 1 |")
    print(f"| first update (builds [R_S|z] once) | {first_s:.3f} | {first_s / update_s:.1f} |")
    if refit_s is not None:
        print(f"| refit with the same sparse points (consolidate) | {refit_s:.1f} | "
              f"{refit_s / update_s:.0f} |")
    print(f"| fit from scratch (sparse selection included) | {fit_s:.1f} | "
          f"{fit_s / update_s:.0f} |")
    flops = 2 * 28 * (M + 1) ** 2
    print(f"\nQR update of one factor (28 rows, M + 1 = {M + 1}): {1000 * qr_s:.1f} ms, "
          f"{flops / qr_s / 1e9:.1f} GFLOP/s; DGEMM {dgemm:.1f} GFLOP/s "
          f"({100 * flops / qr_s / 1e9 / dgemm:.0f}% of it: a few rows against a "
          "200 MB triangle are bound by memory, not flops)")
    return 0


def matching_size(errors: dict, target: float) -> float | None:
    """Random frames at which the audit error reaches ``target``: log-log interpolation
    between the two sizes that bracket it (None if no size reaches it)."""
    sizes = sorted(errors)
    for small, large in zip(sizes, sizes[1:], strict=False):
        if errors[large] <= target <= errors[small]:
            slope = np.log(errors[large] / errors[small]) / np.log(large / small)
            return float(small * (target / errors[small]) ** (1 / slope))
    return float(sizes[0]) if errors[sizes[0]] <= target else None


def on_the_fly(args) -> int:
    import ase.io

    from atomlearn import threads
    from atomlearn.active import OnTheFly
    from atomlearn.config import load_options
    from atomlearn.datasets import load_ethanol
    from atomlearn.labelers import LabelStore, label_structures, labeler_from_name
    from atomlearn.metrics import on_the_fly_plot
    from atomlearn.models import load_model
    from atomlearn.workflows import build_model

    threads.configure(1)
    options = load_options(ROOT / "examples" / "ethanol_learn.yaml")
    labeler = labeler_from_name("pyscf")
    shipped = load_ethanol()
    rows = []
    for temperature in args.temperatures:
        folder = Path(args.out) / f"T{temperature:g}"
        learn = options.learn
        learn.temperature, learn.steps, learn.converged_after = temperature, args.steps, 0
        resume = (folder / "checkpoint.npz").exists()
        t = time.perf_counter()
        summary = OnTheFly(build_model(options), labeler, learn, folder).run(
            shipped[:5], resume=resume)
        timing = folder / "bench_seconds.txt"       # a resumed run reports the first's
        if not resume or not timing.exists():
            timing.write_text(f"{time.perf_counter() - t:.1f}")
        seconds = float(timing.read_text())
        on_the_fly_plot(folder / "log.csv", FIGURES / f"ethanol_{temperature:g}K.png",
                        lower=learn.lower, upper=learn.upper)
        with open(folder / "log.csv", newline="") as fh:
            log = list(csv.DictReader(fh))
        labelled = [r for r in log if r["force_mae"]]
        # after the first picosecond (or the second half of a shorter run)
        first = round(1000 / learn.timestep)
        first = first if first < args.steps else args.steps // 2
        late = sum(1 for r in labelled if int(r["step"]) > first)
        within1 = np.mean([float(r["within_1sigma"]) for r in labelled])
        within2 = np.mean([float(r["within_2sigma"]) for r in labelled])
        trajectory = ase.io.read(folder / "trajectory.xyz", index=":")
        closest = min(np.min(a.get_all_distances()[np.triu_indices(len(a), 1)])
                      for a in trajectory)
        picks = np.linspace(0, len(trajectory) - 1, args.audit).astype(int)
        audit = [a for a in label_structures([trajectory[i] for i in picks], labeler,
                                             LabelStore(folder / "audit", labeler.method))
                 if a is not None]
        ref = np.concatenate([a.get_forces() for a in audit])
        learned = load_model(folder / "model.alm")
        error = float(np.mean(np.abs(learned.predict(audit)["forces"] - ref)))
        n = len(ase.io.read(folder / "labelled.xyz", index=":"))
        random_errors = {}
        rng = np.random.default_rng(0)
        size = n
        while size <= len(shipped):
            picked = [shipped[i] for i in rng.choice(len(shipped), size, replace=False)]
            model = build_model(options).fit(picked)
            random_errors[size] = float(np.mean(np.abs(model.predict(audit)["forces"] - ref)))
            if random_errors[size] <= error or size == len(shipped):
                break
            size = min(2 * size, len(shipped))
        rows.append({"T": temperature, "first": first,
                     "steps": summary["steps"], "calls": summary["labels"],
                     "per_call": summary["steps"] / max(1, summary["labels"]), "late": late,
                     "closest": closest, "within1": within1, "within2": within2,
                     "error": error, "random": random_errors, "n": n, "seconds": seconds})
        print(f"T {temperature:g} K done: {rows[-1]}", file=sys.stderr, flush=True)
    print(f"on-the-fly learning of ethanol with PySCF PBE/def2-SVP from 5 shipped frames, "
          f"{args.steps} Langevin steps of 0.5 fs; audit: {args.audit} frames of each run's "
          "trajectory labelled afterwards; force MAE in eV/Å")
    print("| T K | DFT calls | MD steps per call | calls after the first ps (% of its steps) | "
          "closest atoms Å | within 1σ / 2σ | audit MAE, learned | audit MAE, same number "
          "of random frames | random frames to match (interpolated) | run s |")
    print("|---|" + "---:|" * 9)
    for r in rows:
        sizes = sorted(r["random"])
        match = matching_size(r["random"], r["error"])
        print(f"| {r['T']:g} | {r['calls']} | {r['per_call']:.0f} | {r['late']} "
              f"({100 * r['late'] / (r['steps'] - r['first']):.1f}%) | {r['closest']:.2f} | "
              f"{100 * r['within1']:.0f}% / {100 * r['within2']:.0f}% | {r['error']:.3f} | "
              f"{r['random'][r['n']]:.3f} ({r['n']} frames) | "
              f"{f'{match:.0f}' if match is not None else f'> {sizes[-1]}'} | "
              f"{r['seconds']:.0f} |")
        print("  random frames -> audit MAE: " + ", ".join(
            f"{k}: {v:.3f}" for k, v in r["random"].items()), file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
