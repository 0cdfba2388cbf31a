"""Run molecular dynamics with a fitted model, writing energies, temperature and uncertainty."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from ase import units
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from tqdm.auto import tqdm

from .. import threads
from ..calculators import ModelCalculator, UncertaintyWatch
from ..errors import ConfigError
from ..structures import read_structures

log = logging.getLogger(__name__)

#: Exit code when the run stopped because the force uncertainty passed the threshold.
EXIT_UNCERTAIN = 3


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file written by 'atomlearn fit'")
    parser.add_argument("start", help="starting structure (extended XYZ; the first frame)")
    parser.add_argument("-o", "--output", required=True, help="trajectory to write (extxyz)")
    parser.add_argument("--steps", type=int, default=1000, help="number of MD steps")
    parser.add_argument("--timestep", type=float, default=0.5, help="time step in fs")
    parser.add_argument("--temperature", type=float, default=300.0,
                        help="initial (and Langevin) temperature in K")
    parser.add_argument("--ensemble", choices=("nve", "langevin"), default="nve",
                        help="velocity Verlet (NVE) or Langevin (NVT)")
    parser.add_argument("--friction", type=float, default=0.01,
                        help="Langevin friction in 1/fs")
    parser.add_argument("--interval", type=int, default=1, help="write every N steps")
    parser.add_argument("--max-force-std", type=float, default=None,
                        help="stop when the largest force standard deviation (eV/Å) "
                             "exceeds this value")
    parser.add_argument("--check-every", type=int, default=10, metavar="N",
                        help="compute the force uncertainty every N steps, and every step "
                             "once it is above half of --max-force-std (default 10)")
    parser.add_argument("--no-uncertainty", action="store_true",
                        help="skip the force uncertainty (faster)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial velocities")
    parser.add_argument("--with", dest="extra_models", action="append", default=[],
                        metavar="MODEL", help="another model (e.g. dipole, polarizability) "
                        "whose predictions are written every frame; repeatable")


def run(args) -> int:
    for name in ("steps", "interval", "check_every"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1. Got "
                              f"{getattr(args, name)}.")
    if args.timestep <= 0 or args.temperature < 0:
        raise ConfigError("--timestep must be positive and --temperature non-negative.")
    if args.no_uncertainty and args.max_force_std is not None:
        raise ConfigError("--max-force-std needs the uncertainty; drop --no-uncertainty.")
    atoms = read_structures(args.start, index=0)[0]
    # errors on the moving structure name the trajectory and the step, not the start file
    atoms.info.update({"_source": f"MD from {args.start}", "_frame": 0})
    atoms.calc = ModelCalculator(args.model, *args.extra_models)
    if "forces" not in atoms.calc.implemented_properties:
        raise ConfigError(
            f"{args.model} predicts {sorted(atoms.calc.model.supported_targets)}, not energies "
            "and forces: pass the potential first and other models with --with.")
    extra = [p for p in ("dipole", "polarizability") if p in atoms.calc.implemented_properties]
    has_std = "forces_std" in atoms.calc.implemented_properties
    if args.max_force_std is not None and not has_std:
        raise ConfigError(
            "--max-force-std needs a model with uncertainties; this one has none (train a "
            "committee or a GP model), or drop --max-force-std.")
    log.info("MD with %s (one per step: its products are small)", threads.describe())
    thermalize_momenta(atoms, temperature_K=args.temperature,
                       rng=np.random.default_rng(args.seed))
    Stationary(atoms)
    if not atoms.pbc.any():
        ZeroRotation(atoms)
    dt = args.timestep * units.fs
    if args.ensemble == "langevin":
        dyn = Langevin(atoms, dt, temperature_K=args.temperature, fixcm=False,
                       friction=args.friction / units.fs, rng=np.random.default_rng(args.seed))
    else:
        dyn = VelocityVerlet(atoms, dt)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        os.remove(out)
    watch = (UncertaintyWatch(args.max_force_std, args.check_every)
             if has_std and not args.no_uncertainty else None)
    stopped = None

    with open(out, "a") as fh, tqdm(total=args.steps, desc="MD", unit="step",
                                     disable=None) as bar:
        def record(step, checked):
            frame = atoms.copy()
            frame.calc = None
            # the start file's labels (energies, polarizabilities, ...) describe the start
            # structure only: every frame carries what this run computed, nothing else
            frame.info = {}
            for name in [k for k in frame.arrays if k not in ("numbers", "positions",
                                                               "momenta")]:
                del frame.arrays[name]
            epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
            frame.info.update({"step": step, "time_fs": step * args.timestep,
                               "energy": epot, "kinetic_energy": ekin,
                               "total_energy": epot + ekin,
                               "temperature": atoms.get_temperature()})
            frame.arrays["forces"] = atoms.get_forces()
            for name in extra:
                frame.info[name] = atoms.calc.get_property(name, atoms)
            if checked:
                fstd = atoms.calc.results["forces_std"]
                frame.info["max_force_std"] = float(fstd.max())
                frame.arrays["forces_std"] = fstd
            write(fh, frame, format="extxyz")
            fh.flush()

        def check(step) -> bool:
            value = float(atoms.calc.results["forces_std"].max())
            return watch.exceeded(value) and (step, value)

        if watch is not None:
            atoms.calc.get_property("forces_std", atoms)
            stopped = check(0)
        record(0, watch is not None)
        for step in range(1, args.steps + 1):
            if stopped:
                break
            checked = watch is not None and watch.due(step)
            if checked:
                atoms.calc.request_std()      # with this step's forces, in one pass
            atoms.info["_frame"] = step
            dyn.run(1)
            if checked:
                stopped = check(step)
            if step % args.interval == 0 or stopped:
                record(step, checked)
            bar.update(1)
            if step % max(1, args.steps // 100) == 0:
                bar.set_postfix(T=f"{atoms.get_temperature():.0f}K")
    if stopped:
        step, value = stopped
        print(f"Stopped at step {step}: the largest force uncertainty {value:.3g} eV/Å "
              f"exceeds --max-force-std {args.max_force_std:g}; the trajectory up to that "
              f"step is in {out}. Add such structures to the training set and refit.")
        return EXIT_UNCERTAIN
    print(f"Ran {args.steps} steps of {args.ensemble.upper()} MD; trajectory: {out}")
    return 0
