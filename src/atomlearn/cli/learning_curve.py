"""Learning curve: held-out error vs training-set size, to CSV and PNG."""

from __future__ import annotations

from pathlib import Path

from .. import executors
from ..config import load_options
from ..metrics import learning_curve_plot, learning_curves_plot
from ..workflows import learning_curve_from_config


def add_arguments(parser) -> None:
    parser.add_argument("options", nargs="+",
                        help="YAML options file(s) as for 'fit'; with several, their curves "
                             "on the same test set are also plotted together")
    parser.add_argument("--train-sizes", nargs="+", type=int, required=True,
                        help="numbers of training structures")
    parser.add_argument("--repeats", type=int, default=1,
                        help="random training subsets per size")
    parser.add_argument("-o", "--output", required=True,
                        help="CSV to write; a PNG with the same stem is written beside it")
    parser.add_argument("--train", default=None, help="overrides data.train")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override an option")
    executors.add_arguments(parser, "the fits of the curve's points")


def run(args) -> int:
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    several = len(args.options) > 1
    curves = {}
    executor = executors.from_arguments(args)
    try:
        computed = [learning_curve_from_config(
            load_options(path, args.overrides), args.train_sizes, args.repeats,
            train_override=args.train, executor=executor) for path in args.options]
    finally:
        executors.close(executor)
    for path, curve in zip(args.options, computed, strict=True):
        options = load_options(path, args.overrides)
        label = f"{Path(path).stem} ({options.model.type})"
        csv = out.with_name(f"{out.stem}_{Path(path).stem}.csv") if several else out
        curve.to_csv(csv)
        png = learning_curve_plot(curve, csv.with_suffix(".png"), title=label)
        curves[label] = curve
        for target in curve.targets:
            n, mean, std = curve.summary(target, "mae", "test")
            unit = curve.units.get(target, "")
            print(f"{label} {target} test MAE ({unit}): " + ", ".join(
                f"{k}: {m:.4g}±{s:.2g}" for k, m, s in zip(n, mean, std, strict=True)))
        print(f"Wrote {csv} and {png}")
    if several:
        shared = set.intersection(*(set(c.targets) for c in curves.values()))
        for target in sorted(shared):
            png = learning_curves_plot(curves, out.with_name(f"{out.stem}_{target}.png"),
                                       target=target)
            print(f"Wrote {png}")
    return 0
