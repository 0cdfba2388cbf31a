"""atomlearn's networks beside MACE, trained from scratch with the same wall-clock budget.

    python benchmarks/bench_networks.py [--n-train 800] [--budget 1200] [--jobs 2]

Needs MACE in a separate environment (never a project dependency)::

    python3 -m venv benchmarks/.venv-peers
    benchmarks/.venv-peers/bin/pip install -c constraints.txt mace-torch==0.3.16

All models see the same frames of the shipped ethanol set: 200 held-out test frames and
``n_train`` training frames of which the same 10% are the validation split (early
stopping / best epoch). MACE uses the reference settings of ../shared/PEERS.md (hidden
32x0e+32x1o, max_ell 3, correlation 3, 2 interactions, 8 Bessel functions, float64,
AMSGrad lr 0.01, batch 10, loss per-atom energy² + 100 force²). atomlearn's networks use
their defaults (PaiNN: 64 channels, 3 interactions; BPNN: G2/G4, 32x32 tanh), PaiNN with
the training settings of examples/ethanol_mpnn.yaml (``MPNN_OPTIONS``: float32, batch 5,
lr 3e-3 halved after 10 flat epochs, loss per-atom energy² + 10 force²). Every run
gets one thread and ``--budget`` seconds of training; ``--jobs 2`` runs two at a time on
the two cores. The sparse GPR potential (150 CUR points per element, as in
bench_gap.py) is fitted on the same frames for reference. Throughput is training
structures per second (epochs x training frames / training seconds, validation
included); MD speed is velocity Verlet through each code's ASE calculator.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from ase.io import write

from atomlearn.datasets import load_ethanol

ROOT = Path(__file__).resolve().parent
PEERS = ROOT / ".venv-peers" / "bin" / "python"
#: PaiNN's training settings for a fixed wall-clock budget (as examples/ethanol_mpnn.yaml)
MPNN_OPTIONS = {"dtype": "float32", "batch_size": 5, "learning_rate": 3e-3, "lr_patience": 10,
                "energy_weight": 1.0, "force_weight": 10.0}


def labelled(frames):
    out = []
    for a in frames:
        b = a.copy()
        b.info = {"REF_energy": a.get_potential_energy()}
        b.arrays["REF_forces"] = a.get_forces()
        b.calc = None
        out.append(b)
    return out


def run(cmd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), RAYON_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=800)
    p.add_argument("--budget", type=float, default=1200.0, help="training seconds per model")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--codes", nargs="+", default=["mace", "mpnn", "bpnn", "gpr"])
    p.add_argument("--work", default=None, help="folder for the split and results")
    p.add_argument("--options", default="{}",
                   help="JSON of extra atomlearn network options (over MPNN_OPTIONS for "
                        "PaiNN), e.g. '{\"lr_patience\": 20}'")
    args = p.parse_args(argv)
    if "mace" in args.codes and not PEERS.exists():
        print(f"MACE is not installed in {PEERS.parent.parent}; see this script's docstring.")
        return 1
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_networks_"))
    work.mkdir(parents=True, exist_ok=True)
    frames = load_ethanol()
    order = np.random.default_rng(0).permutation(len(frames))
    test = labelled([frames[i] for i in order[:200]])
    train = labelled([frames[i] for i in order[200 : 200 + args.n_train]])
    n_val = max(1, round(0.1 * len(train)))
    write(work / "test.xyz", test)
    write(work / "train.xyz", train[:-n_val])
    write(work / "validation.xyz", train[-n_val:])
    write(work / "md_ethanol.xyz", test[0])
    here = str(ROOT)
    extra = json.loads(args.options)
    options = {"mpnn": {**MPNN_OPTIONS, **extra}, "bpnn": extra, "gpr": {}}
    commands = {
        "mace": [str(PEERS), f"{here}/_mace_child.py", str(work), str(args.budget),
                 str(args.threads)],
        **{k: [sys.executable, f"{here}/_atomlearn_child.py", k, str(work), str(args.budget),
               str(args.threads), json.dumps(options[k])]
           for k in ("mpnn", "bpnn", "gpr")},
    }
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {k: pool.submit(run, commands[k], args.threads) for k in args.codes}
        results = {k: f.result() for k, f in futures.items()}
    (work / "results.json").write_text(json.dumps(results, indent=2))
    names = {"mace": "MACE", "mpnn": "atomlearn PaiNN (mpnn)",
             "bpnn": "atomlearn Behler-Parrinello (bpnn)", "gpr": "atomlearn sparse GPR"}
    ref = results.get("mace")
    lines = [f"ethanol, {args.n_train} training frames (10% validation), 200 test frames, "
             f"{args.budget:.0f} s training budget per network, {args.threads} thread(s)",
             f"| {'model':36s} | E MAE meV | F MAE meV/Å | F / MACE | epochs | "
             "train structures/s | vs MACE | MD atom-steps/s | vs MACE |",
             "|" + "---|" * 9]
    for k, r in results.items():
        def ratio(key, r=r):
            return f"{r[key] / ref[key]:.2f}" if ref and key in r else "-"
        lines.append(
            f"| {names[k]:36s} | {r['energy_mae']:9.1f} | {r['forces_mae']:11.1f} | "
            f"{ratio('forces_mae'):>8s} | {r.get('epochs', '-')!s:>6s} | "
            f"{r.get('structures_per_s', float('nan')):18.1f} | {ratio('structures_per_s'):>7s}"
            f" | {r['md_atom_steps_per_s']:15.0f} | {ratio('md_atom_steps_per_s'):>7s} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
