"""Fit a model from an options file, evaluate it on held-out data, save it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .. import executors, threads
from ..config import dump_options, load_options
from ..distributed import Distributed, leave_process_group
from ..metrics import parity_plot
from ..workflows import fit_from_config

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("options", help="YAML options file")
    parser.add_argument("-o", "--output", required=True, help="model file to write (.alm)")
    parser.add_argument("--train", default=None,
                        help="training structures (extended XYZ); overrides data.train")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override an option, e.g. model.n_sparse=200")
    parser.add_argument("--resume", action="store_true",
                        help="networks: continue the training saved in <output>.ckpt")
    executors.add_arguments(parser, "a sparse GP's kernel rows (a task per chunk, merged "
                                    "as a tree of QR factors)")
    parser.add_argument("--ddp", action="store_true",
                        help="networks: require a data-parallel launch (torchrun or srun), "
                             "which is otherwise detected from its environment")


def run(args) -> int:
    options = load_options(args.options, args.overrides)
    output = Path(args.output)
    outdir = Path(options.output.directory) if options.output.directory else output.parent
    outdir.mkdir(parents=True, exist_ok=True)
    checkpoint = output.with_name(output.name + ".ckpt")
    ranks = Distributed.required() if args.ddp else Distributed.from_environment()
    if ranks is not None and not ranks.is_main:
        logging.getLogger().setLevel(logging.WARNING)       # rank 0 tells the story
    if ranks is not None and args.threads is None:
        # the ranks on this node share its cores
        threads.configure(max(1, threads.available_cores()
                              // int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)))
    executor = executors.from_arguments(args)
    result = None
    try:
        result = fit_from_config(options, train_override=args.train, checkpoint=checkpoint,
                                 resume=args.resume, executor=executor, distributed=ranks)
    finally:
        executors.close(executor)
        if ranks is not None:
            leave_process_group(barrier=result is not None)
    if ranks is not None and not ranks.is_main:
        return 0                       # rank 0 writes the model, metrics and plots
    result.model.save(output)
    # the saved options name the data this run read, with its content hash: a refit
    # from them repeats the run (or refuses a changed file)
    dump_options(result.options, outdir / f"{output.stem}.options.yaml")
    print(f"Fitted {options.model.type} on {result.n_train} structures; model: {output}")
    metrics = {}
    if result.test is not None:
        ev = result.test
        n_test = len(next(iter(ev.reference.values())))
        print(f"Held-out errors ({n_test} structures):")
        for name, err in ev.errors.items():
            unit = result.model.supported_targets[name].unit
            line = f"  {name}: MAE {err['mae']:.4g} {unit}, RMSE {err['rmse']:.4g} {unit}"
            if "mae_per_atom" in err:
                line += f", MAE/atom {1000 * err['mae_per_atom']:.3g} m{unit}"
            print(line)
            if "calibration" in err:
                c = err["calibration"]
                print(f"    uncertainty: {100 * c['within_1sigma']:.0f}% of errors within 1σ "
                      f"(68% if calibrated), {100 * c['within_2sigma']:.0f}% within 2σ (95%); "
                      f"z-scores mean {c['z_mean']:.2f}, std {c['z_std']:.2f}")
            metrics[name] = err
            if options.output.plots:
                png = parity_plot(ev.reference[name], ev.predicted[name],
                                  outdir / f"parity_{name}.png",
                                  std=None if ev.std is None else ev.std.get(name),
                                  name=name, unit=unit)
                print(f"  parity plot: {png}")
    (outdir / f"{output.stem}.metrics.json").write_text(json.dumps(metrics, indent=2))
    return 0
