"""atomlearn's everyday commands alone and beside a busy process, with default settings.

    python benchmarks/bench_load.py [--md-steps 300] [--epochs 3] [--skip-large]

Each command runs as a user runs it (the ``atomlearn`` CLI, no thread settings), first
alone, then beside one competing process that keeps a core busy (a Python loop), then
beside it with ``--threads`` set to every core (what the default was before: OpenBLAS
then spin-waits on the busy core). Targets of issue 14: with one competing process no
command slows by more than 2.5x (a fair share of two cores); predictions with std within
2x of without; MD with the uncertainty check within 1.3x of without; a 2,048-atom
prediction with std within 2 GB. Wall time and peak resident memory (ru_maxrss of the
child) are measured the same way for every command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.io import read, write

from atomlearn.datasets import load_ethanol

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "atomlearn.cli.main"]
_WRAPPER = ("import resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stderr.write(p.stderr[-2000:] if p.returncode not in (0, 3) else '')\n"
            "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print(rss)\n"
            "sys.exit(p.returncode)\n")
BUSY = "while True:\n    pass\n"


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of ``cmd`` in a fresh process."""
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_NUM_THREADS") and k != "ATOMLEARN_THREADS"}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 3):      # 3: MD stopped by the uncertainty check
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return wall, int(proc.stdout.split()[-1]) / 1024


def beside_busy(cmd: list[str]) -> tuple[float, float]:
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(0.5)
        return run(cmd)
    finally:
        busy.kill()
        busy.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--md-steps", type=int, default=300)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--predict-frames", type=int, default=200)
    p.add_argument("--skip-large", action="store_true", help="skip the 2,048-atom cell")
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="bench_load_"))
    frames = load_ethanol()
    write(tmp / "test.xyz", frames[-args.predict_frames:])
    write(tmp / "start.xyz", frames[0])
    gpr, net = tmp / "gpr.alm", tmp / "net.alm"
    run([*CLI, "fit", "examples/ethanol_gpr.yaml", "-o", str(gpr)])
    md = [*CLI, "md", str(gpr), str(tmp / "start.xyz"), "--steps", str(args.md_steps),
          "-o", str(tmp / "md.xyz")]
    commands = {
        "fit (examples/ethanol_gpr.yaml)": [*CLI, "fit", "examples/ethanol_gpr.yaml", "-o",
                                            str(tmp / "refit.alm")],
        f"predict {args.predict_frames} frames, no std": [
            *CLI, "predict", str(gpr), str(tmp / "test.xyz"), "-o", str(tmp / "p.xyz"),
            "--no-std"],
        f"predict {args.predict_frames} frames, with std": [
            *CLI, "predict", str(gpr), str(tmp / "test.xyz"), "-o", str(tmp / "p.xyz")],
        f"md {args.md_steps} steps, no uncertainty": [*md, "--no-uncertainty"],
        f"md {args.md_steps} steps, --max-force-std 10": [*md, "--max-force-std", "10"],
        f"train PaiNN {args.epochs} epochs": [
            *CLI, "fit", "examples/ethanol_mpnn.yaml", "-o", str(net), "--set",
            f"model.epochs={args.epochs}", "--set", "model.checkpoint_every=0"],
    }
    rows = []
    for name, cmd in commands.items():
        alone, mb = run(cmd)
        busy, _ = beside_busy(cmd)
        forced, _ = beside_busy([*cmd[:3], f"--threads={cores}", *cmd[3:]])
        rows.append((name, alone, busy, forced, mb))
        print(f"{name}: alone {alone:.1f} s, busy {busy:.1f} s, busy --threads {cores} "
              f"{forced:.1f} s, {mb:.0f} MB", flush=True)

    print(f"\n{cores} cores; one competing process is a Python loop on one core.\n")
    print(f"| command | alone s | beside a busy process s | ratio | beside it, "
          f"--threads {cores} s | ratio | peak MB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, alone, busy, forced, mb in rows:
        print(f"| {name} | {alone:.1f} | {busy:.1f} | {busy / alone:.2f} | {forced:.1f} | "
              f"{forced / alone:.2f} | {mb:.0f} |")
    t = {name: alone for name, alone, *_ in rows}
    keys = list(t)
    print(f"\npredict with std / without: {t[keys[2]] / t[keys[1]]:.2f} (target 2)")
    print(f"md with the check / without: {t[keys[4]] / t[keys[3]]:.2f} (target 1.3)")

    # Is checking every 10 steps (every step above half the limit) safe? Force-std traces
    # checked at every step, then the same traces replayed through UncertaintyWatch: the
    # step it stops at against the first step over the limit, for limits at multiples of
    # the trace's median, and the share of steps it computed the std at.
    from atomlearn.calculators import UncertaintyWatch

    print("\n| MD (1000 steps, Langevin) | limit | first step over it | stop with checks every "
          "10 | delay | steps checked |\n| --- | --- | --- | --- | --- | --- |")
    trace = tmp / "trace.xyz"
    for temperature in ("300", "1000", "2000"):
        run([*CLI, "md", str(gpr), str(tmp / "start.xyz"), "--steps", "1000",
             "--check-every", "1", "--temperature", temperature, "--ensemble", "langevin",
             "-o", str(trace)])
        stds = np.array([a.info["max_force_std"] for a in read(trace, ":")])
        for factor in (1.5, 2.0, 3.0, 5.0):
            limit = factor * float(np.median(stds))
            over = np.flatnonzero(stds > limit)
            first = int(over[0]) if len(over) else None
            watch, stop, checks = UncertaintyWatch(limit, every=10), None, 0
            for step, value in enumerate(stds):
                if watch.due(step):
                    checks += 1
                    if watch.exceeded(value):
                        stop = step
                        break
            delay = "-" if first is None else stop - first
            print(f"| {temperature} K | {factor:g} x median ({limit:.3f} eV/Å) | {first} | "
                  f"{stop} | {delay} | {100 * checks / (step + 1):.0f}% |")

    if not args.skip_large:
        si = tmp / "si.alm"
        run([*CLI, "fit", "examples/silicon_gpr_stress.yaml", "-o", str(si)])
        cell = bulk("Si", "diamond", a=5.43, cubic=True).repeat((8, 8, 4))
        cell.rattle(0.05, seed=0)
        write(tmp / "si2048.xyz", cell)
        print(f"\n| {len(cell)}-atom silicon cell | wall s | peak MB |\n| --- | --- | --- |")
        for label, extra in (("predict, no std", ["--no-std"]), ("predict with std", [])):
            wall, mb = run([*CLI, "predict", str(si), str(tmp / "si2048.xyz"), "-o",
                            str(tmp / "si_p.xyz"), *extra])
            print(f"| {label} | {wall:.1f} | {mb:.0f} |")


if __name__ == "__main__":
    main()
