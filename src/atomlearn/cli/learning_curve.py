"""Learning curve: held-out error vs training-set size, to CSV and PNG."""

from __future__ import annotations

from pathlib import Path

from ..config import load_options
from ..metrics import learning_curve_plot
from ..workflows import learning_curve_from_config


def add_arguments(parser) -> None:
    parser.add_argument("options", help="YAML options file (as for 'fit')")
    parser.add_argument("--train-sizes", nargs="+", type=int, required=True,
                        help="numbers of training structures")
    parser.add_argument("--repeats", type=int, default=1,
                        help="random training subsets per size")
    parser.add_argument("-o", "--output", required=True,
                        help="CSV to write; a PNG with the same stem is written beside it")
    parser.add_argument("--train", default=None, help="overrides data.train")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override an option")


def run(args) -> int:
    options = load_options(args.options, args.overrides)
    curve = learning_curve_from_config(options, args.train_sizes, args.repeats,
                                       train_override=args.train)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    curve.to_csv(out)
    png = learning_curve_plot(curve, out.with_suffix(".png"))
    for target in curve.targets:
        n, mean, std = curve.summary(target, "mae", "test")
        unit = curve.units.get(target, "")
        print(f"{target} test MAE ({unit}): " + ", ".join(
            f"{k}: {m:.4g}±{s:.2g}" for k, m, s in zip(n, mean, std, strict=True)))
    print(f"Wrote {out} and {png}")
    return 0
