"""Learn a potential on the fly: MD with the model, a reference code where it is unsure."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from ..active import OnTheFly
from ..config import dump_options, load_options
from ..errors import ConfigError
from ..labelers import labeler_from_name
from ..metrics import on_the_fly_plot
from ..workflows import build_model, read_data

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("options", help="YAML options file (targets, model, learn)")
    parser.add_argument("--start", required=False, default=None,
                        help="start structures (extended XYZ, or a shipped dataset such as "
                             "ethanol): labelled and fitted first; the dynamics start from "
                             "the last")
    parser.add_argument("--start-index", default=":",
                        help="which start structures (ASE index syntax, e.g. 0:5)")
    parser.add_argument("--labeler", required=True,
                        help="reference code: pyscf, tblite or module:Class (a Labeler or "
                             "an ASE calculator)")
    parser.add_argument("-o", "--output", required=True, help="run folder")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override an option, e.g. learn.steps=500")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the folder from its last checkpoint")
    parser.add_argument("--pool", default=None,
                        help="pool mode: choose the structures to label from this file (or "
                             "shipped dataset) by uncertainty, instead of running MD")
    parser.add_argument("--pool-index", default=":", help="which pool structures")
    parser.add_argument("--budget", type=int, default=100,
                        help="pool mode: reference calls at most")


def run(args) -> int:
    options = load_options(args.options, args.overrides)
    options.learn.check()
    out = Path(args.output)
    resuming = args.resume and args.pool is None and (out / "checkpoint.npz").exists()
    if not resuming and args.start is None:
        raise ConfigError("A new run needs --start STRUCTURES.xyz (or --resume with the "
                          "folder of a run that wrote a checkpoint).")
    model = build_model(options)
    learns_forces = any("forces" in s.gradients for s in model.target_specs)
    if not learns_forces or not model.provides_uncertainty:
        raise ConfigError("On-the-fly learning needs a potential with forces and "
                          "uncertainties: an 'energy' target with forces: true, and a GP "
                          "or a committee (n_models > 1).")
    labeler = labeler_from_name(args.labeler)
    start = None if resuming else read_data(args.start, args.start_index)
    learner = OnTheFly(model, labeler, options.learn, out)
    dump_options(options, out / "options.yaml")
    if args.pool is not None:
        if args.budget < 1:
            raise ConfigError(f"--budget must be at least 1; got {args.budget}.")
        summary = learner.run_pool(start, read_data(args.pool, args.pool_index),
                                   budget=args.budget)
        print(f"{summary['labels']} reference calls on the pool ({summary['stopped']}); "
              f"run folder: {out} (model.alm, labelled.xyz, log.csv)")
        return 0
    summary = learner.run(start, resume=resuming)
    png = on_the_fly_plot(out / "log.csv", out / "learning.png",
                          lower=options.learn.lower, upper=options.learn.upper)
    with open(out / "log.csv", newline="") as fh:
        labelled = [r for r in csv.DictReader(fh) if r["force_mae"]]
    tail = labelled[-10:]
    error = (sum(float(r["force_mae"]) for r in tail) / len(tail)) if tail else float("nan")
    print(f"{summary['steps']} steps, {summary['labels']} reference calls "
          f"({summary['stopped']}); running force MAE of the last {len(tail)} labelled "
          f"frames before learning them: {error:.3g} eV/Å")
    print(f"Run folder: {out} (model.alm, labelled.xyz, trajectory.xyz, log.csv, {png.name})")
    return 0
