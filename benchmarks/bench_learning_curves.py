"""Learning curves of the sparse GPR potential and both networks on one plot.

    python benchmarks/bench_learning_curves.py [--sizes 50 100 200 400 800] [--budget 240]
        [--only "sparse GPR"]     # rerun one model, read the others' CSVs

Each model is the example options file (examples/ethanol_gpr.yaml, ethanol_bpnn.yaml,
ethanol_mpnn.yaml) with the same data settings: the shipped ethanol frames, the same
seeded 200-frame test set, training subsets of the given sizes. Networks get ``--budget``
seconds of training per size (and stop earlier without validation improvement). Two
models run at a time, one thread each. Writes the curves as CSV and
docs/images/learning_curves_{energy,forces}.png.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {"sparse GPR": "ethanol_gpr.yaml", "Behler-Parrinello NN": "ethanol_bpnn.yaml",
            "PaiNN message passing": "ethanol_mpnn.yaml"}


def curve_of(example: str, sizes, budget: float, out: Path):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    from atomlearn.config import load_options
    from atomlearn.workflows import learning_curve_from_config

    torch.set_num_threads(1)
    options = load_options(ROOT / "examples" / example, [
        "data.train=ethanol", "data.test_fraction=0.125", "data.seed=0",
        f"model.max_time={budget}", "model.epochs=100000", "output.plots=false"])
    curve = learning_curve_from_config(options, sizes)
    curve.to_csv(out / f"learning_curve_{Path(example).stem}.csv")
    return curve


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[50, 100, 200, 400, 800])
    p.add_argument("--budget", type=float, default=240.0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "learning_curves"))
    p.add_argument("--images", default=str(ROOT / "docs" / "images"))
    p.add_argument("--only", nargs="+", choices=list(EXAMPLES), default=list(EXAMPLES),
                   help="models to rerun; the others are read from their CSV in --out")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from atomlearn.metrics import LearningCurve, learning_curves_plot

    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {label: pool.submit(curve_of, ex, args.sizes, args.budget, out)
                   for label, ex in EXAMPLES.items() if label in args.only}
        curves = {label: futures[label].result() if label in futures else
                  LearningCurve.read_csv(out / f"learning_curve_{Path(ex).stem}.csv")
                  for label, ex in EXAMPLES.items()}

    print("| model | target | " + " | ".join(f"n={n}" for n in args.sizes) + " |")
    print("|---|---|" + "---|" * len(args.sizes))
    for target in ("energy", "forces"):
        png = learning_curves_plot(curves, Path(args.images) / f"learning_curves_{target}.png",
                                   target=target,
                                   title=f"ethanol {target}: held-out MAE (200 frames)")
        for label, curve in curves.items():
            n, mean, _ = curve.summary(target, "mae", "test")
            scale = 1000
            print(f"| {label} | {target} (m{curve.units[target]}) | "
                  + " | ".join(f"{scale * m:.1f}" for m in mean) + " |")
        print(f"wrote {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
