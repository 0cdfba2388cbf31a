"""atomlearn's sparse GPR potential beside GAP (gap_fit / quippy), side by side.

    python benchmarks/bench_gap.py [--sizes 200 400] [--n-sparse 150] [--threads 1] [--seeds 3]

Needs GAP in a separate environment (never a project dependency)::

    python3 -m venv benchmarks/.venv-peers
    benchmarks/.venv-peers/bin/pip install -c constraints.txt quippy-ase==0.10.3

Both codes get the same training frames from the shipped ethanol set, the same 200
held-out frames, the same SOAP (cutoff 5 Å, n_max 8, l_max 6, atom width 0.5 Å, zeta 4,
delta 1), the same noise (sigma_E 1 meV, sigma_F 30 meV/Å), the same number of sparse
points per element (CUR), and the same number of threads. Both codes sample their CUR
points at random, so each size is fitted with several seeds and the errors are given as
mean ± std over them (one GAP run can land 8% above or below another). Each fit runs in a child
process; wall time and peak resident memory (ru_maxrss of the child) are measured the
same way for both. MD speed: velocity Verlet through each code's ASE calculator on
ethanol and on a 192-atom periodic silicon cell (a model fitted on the shipped GFN1-xTB
silicon cells).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.io import write

from atomlearn.datasets import load_ethanol, load_silicon

ROOT = Path(__file__).resolve().parent
PEERS = ROOT / ".venv-peers" / "bin"
SOAP = dict(cutoff=5.0, n_max=8, l_max=6, atom_sigma=0.5, zeta=4)


_WRAPPER = ("import json, resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr)\n"
            "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "sys.stdout.write('\\n@@peak_kb ' + str(rss) + '\\n')\n"
            "sys.exit(p.returncode)\n")


def run_child(cmd, env_threads):
    """Run ``cmd``; return wall seconds, its own peak resident memory (MB), stdout."""
    env = dict(os.environ, OMP_NUM_THREADS=str(env_threads),
               OPENBLAS_NUM_THREADS=str(env_threads), MKL_NUM_THREADS=str(env_threads),
               RAYON_NUM_THREADS=str(env_threads))
    t = time.perf_counter()
    # a fresh wrapper process per command, so RUSAGE_CHILDREN holds this command only
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True,
                          text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out, _, peak = proc.stdout.rpartition("@@peak_kb ")
    return wall, int(peak.strip()) / 1024, out


def gap_fit(train_file, out_dir, n_sparse, threads, seed=0):
    gap = (f"soap cutoff={SOAP['cutoff']} cutoff_transition_width=0.5 n_max={SOAP['n_max']} "
           f"l_max={SOAP['l_max']} atom_sigma={SOAP['atom_sigma']} zeta={SOAP['zeta']} "
           f"delta=1 covariance_type=dot_product n_sparse={n_sparse} "
           "sparse_method=cur_points")
    cmd = [str(PEERS / "gap_fit"), f"at_file={train_file}", f"gp_file={out_dir}/gap.xml",
           "energy_parameter_name=energy", "force_parameter_name=forces", "e0_method=average",
           "default_sigma={0.001 0.03 0.0 0.0}", "sparse_jitter=1e-8", f"rnd_seed={seed + 1}",
           f"gap={{{gap}}}"]
    return run_child(cmd, threads)


ATOMLEARN_FIT = """
import sys, json
from atomlearn.structures import read_structures
from atomlearn.models import SparseGPRModel
frames = read_structures(sys.argv[1])
n_sparse = {{z: int(sys.argv[3]) for z in ("H", "C", "O", "Si")}}
present = {{a for f in frames for a in f.get_chemical_symbols()}}
if sys.argv[4] == "defaults":      # what a user gets with no options (the example's)
    model = SparseGPRModel(random_state=int(sys.argv[5]))
else:
    model = SparseGPRModel(descriptor={{"cutoff": 5.0, "cutoff_width": 0.5, "n_max": 8,
                           "l_max": 6, "atom_width": 0.5, "angular_decay": float(sys.argv[6])}},
                           kernel={{"zeta": 4, "delta": 1.0}}, sigma=0.001 / {per_atom},
                           sigma_forces=0.03, n_sparse={{z: n for z, n in n_sparse.items()
                           if z in present}}, selection="cur", hyperparameters=sys.argv[4],
                           chunk_size=10, random_state=int(sys.argv[5]))
model.fit(frames)
model.save(sys.argv[2])
h = model.fitted_
print(json.dumps({{"delta": h.delta, "sigma": h.sigma, "sigma_forces": h.sigma_forces}}))
"""

PREDICT_AND_MD = """
import sys, json, time
import numpy as np
from ase.io import read
from ase.md.verlet import VelocityVerlet
from ase.md.velocitydistribution import thermalize_momenta
from ase import units
code, model, test_file, md_file, steps = sys.argv[1:6]
if code == "gap":
    from quippy.potential import Potential
    calc = Potential(param_filename=model)
else:
    from atomlearn.calculators import ModelCalculator
    calc = ModelCalculator(model)
out = {}
if test_file != "-":
    test = read(test_file, ":")
    E, F = [], []
    for a in test:
        ref_e, ref_f = a.get_potential_energy(), a.get_forces().copy()
        b = a.copy(); b.calc = calc
        E.append(b.get_potential_energy() - ref_e); F.append(b.get_forces() - ref_f)
    out["e_mae"] = float(np.mean(np.abs(E)))
    out["f_mae"] = float(np.mean(np.abs(np.concatenate(F))))
if int(steps) > 0:
    atoms = read(md_file, 0)
    atoms.calc = calc
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    dyn.run(5)
    t = time.perf_counter(); dyn.run(int(steps)); dt = time.perf_counter() - t
    out["md_atom_steps_per_s"] = len(atoms) * int(steps) / dt
if code != "gap" and int(steps) > 0:
    # the ceiling featomic sets: its spherical expansion with position gradients alone,
    # on atoms that move between calls as they do in MD
    from atomlearn.models import load_model
    soap = load_model(model).descriptor_
    expansion = soap._expansion_calculator()
    expansion.compute([atoms], gradients=["positions"])
    kicks = np.random.default_rng(1).normal(scale=1e-3, size=(int(steps), len(atoms), 3))
    t = time.perf_counter()
    for kick in kicks:
        atoms.positions += kick
        expansion.compute([atoms], gradients=["positions"])
    out["featomic_atom_steps_per_s"] = len(atoms) * int(steps) / (time.perf_counter() - t)
print(json.dumps(out))
"""


KERNEL_RATE = """
import json, sys, time
import numpy as np
from atomlearn.models import load_model
from atomlearn.structures import read_structures
frames = read_structures(sys.argv[1])
model = load_model(sys.argv[2])
a = np.random.default_rng(0).normal(size=(2000, 2000))
t = time.perf_counter(); a @ a; dgemm = 2 * 2000**3 / (time.perf_counter() - t) / 1e9
from atomlearn.models.sparse_gpr.equations import KernelRows
kernel = model.kernel_
rows = KernelRows(model.descriptor_, kernel, model.hypers.chunk_size)
flops = seconds = build = 0.0
for start in range(0, len(frames), model.hypers.chunk_size):
    chunk = frames[start : start + model.hypers.chunk_size]
    t = time.perf_counter()
    env, f = rows.environments(chunk, ("positions",))
    kernel.rows(env, model.sparse_)
    t_desc = time.perf_counter()
    kernel.derivative_rows(env, model.sparse_, f.positions)
    seconds += time.perf_counter() - t_desc
    build += time.perf_counter() - t
    # the force rows' products: 3 rows per pair, the pair's non-zero species-pair columns,
    # the sparse points of the centre's element
    g = f.positions
    width = f.values.shape[1] // g.nonzero.shape[1]
    m_of = {int(z): int(np.sum(model.sparse_.numbers == z)) for z in model.species_}
    m_pair = np.array([m_of[int(z)] for z in env.numbers[g.center]])
    flops += float(np.sum(2 * 3 * width * g.nonzero.sum(axis=1) * m_pair))
print(json.dumps({"force_rows_s": seconds, "gflops": flops / seconds / 1e9,
                  "dgemm_gflops": dgemm, "rows_and_descriptors_s": build}))
"""


def with_box(frames, size=30.0):
    out = []
    for a in frames:
        b = a.copy()
        b.info = {"energy": a.get_potential_energy()}
        b.arrays["forces"] = a.get_forces()
        b.calc = None
        if not b.pbc.any():
            b.cell = [size, size, size]
            b.center()
        out.append(b)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[200, 400])
    p.add_argument("--n-sparse", type=int, default=150, help="sparse points per element")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--md-steps", type=int, default=200)
    p.add_argument("--seeds", type=int, default=3,
                   help="sparse-point selection seeds per size (both codes select at random)")
    p.add_argument("--decays", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5],
                   help="atomlearn angular decays to choose from on validation frames")
    p.add_argument("--keep", default=None, help="folder to keep the fitted models in")
    p.add_argument("--defaults", action="store_true",
                   help="also fit atomlearn with no options at all (its defaults, which "
                        "examples/ethanol_gpr.yaml spells out)")
    args = p.parse_args(argv)
    if not (PEERS / "gap_fit").exists():
        print(f"GAP is not installed in {PEERS.parent}; see this script's docstring.")
        return 1
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_gap_"))
    work.mkdir(parents=True, exist_ok=True)
    frames = load_ethanol()
    order = np.random.default_rng(0).permutation(len(frames))
    test = with_box([frames[i] for i in order[:200]])
    write(work / "test.xyz", test)
    write(work / "md_ethanol.xyz", test[0])
    si = with_box(load_silicon())
    write(work / "si_train.xyz", si[:60])
    write(work / "md_si192.xyz", si[60].repeat((3, 1, 1)))
    py = sys.executable
    rows = []   # (code, n, seed, predictions, fit wall s, fit peak MB)

    def predict(code, model, test_file, md_file, steps, threads=args.threads):
        exe = str(PEERS / "python") if code == "gap" else py
        _, _, out = run_child([exe, "-c", PREDICT_AND_MD, code, str(model), str(test_file),
                               str(md_file), str(steps)], threads)
        return json.loads(out.strip().splitlines()[-1])

    def fit_atomlearn(train_file, model, hyper, seed, decay=0.0, threads=args.threads):
        return run_child([py, "-c", ATOMLEARN_FIT.format(per_atom="1.0"), str(train_file),
                          str(model), str(args.n_sparse), hyper, str(seed), str(decay)],
                         threads)

    # atomlearn's angular decay, chosen on 200 validation frames (neither training nor
    # test frames of any size) with the smallest training set
    n0 = args.sizes[0]
    write(work / "train_choice.xyz", with_box([frames[i] for i in order[200 : 200 + n0]]))
    valid = with_box([frames[i] for i in order[200 + max(args.sizes) :][:200]])
    write(work / "valid.xyz", valid)
    choice = {}
    for decay in args.decays:
        model = work / f"atomlearn_choice_{decay}.alm"
        fit_atomlearn(work / "train_choice.xyz", model, "fixed", 0, decay)
        choice[decay] = predict("atomlearn", model, work / "valid.xyz", "-", 0)
    best = min(choice, key=lambda d: choice[d]["f_mae"])
    variants = [("atomlearn", 0.0)] + ([(f"atomlearn decay {best:g}", best)] if best else [])

    for n in args.sizes:
        train = with_box([frames[i] for i in order[200 : 200 + n]])
        train_file = work / f"train_{n}.xyz"
        write(train_file, train)
        for seed in range(args.seeds):
            steps = args.md_steps if seed == 0 else 0        # MD speed from the first seed
            d = work / f"gap_{n}_{seed}"
            d.mkdir(exist_ok=True)
            wall, peak, _ = gap_fit(train_file, d, args.n_sparse, args.threads, seed)
            res = predict("gap", d / "gap.xml", work / "test.xyz", work / "md_ethanol.xyz",
                          steps)
            rows.append(("GAP", n, seed, res, wall, peak))
            for name, decay in variants + ([("atomlearn defaults", None)] if args.defaults
                                           else []):
                model = work / f"atomlearn_{n}_{decay}_{seed}.alm"
                wall, peak, _ = fit_atomlearn(train_file, model, "fixed" if decay is not None
                                              else "defaults", seed, decay or 0.0)
                res = predict("atomlearn", model, work / "test.xyz", work / "md_ethanol.xyz",
                              steps)
                rows.append((name, n, seed, res, wall, peak))

    # the force rows of K_NM as matrix products: rate beside this machine's DGEMM
    n_last = args.sizes[-1]
    _, _, out = run_child([py, "-c", KERNEL_RATE, str(work / f"train_{n_last}.xyz"),
                           str(work / f"atomlearn_{n_last}_0.0_0.alm")], args.threads)
    rate = json.loads(out.strip().splitlines()[-1])

    # 192-atom periodic silicon: MD speed only
    d = work / "gap_si"
    d.mkdir(exist_ok=True)
    gap_fit(work / "si_train.xyz", d, args.n_sparse, args.threads)
    si_gap = predict("gap", d / "gap.xml", "-", work / "md_si192.xyz", 20)
    si_model = work / "atomlearn_si.alm"
    fit_atomlearn(work / "si_train.xyz", si_model, "fixed", 0, best)
    si_al = predict("atomlearn", si_model, "-", work / "md_si192.xyz", 20)

    print(f"\natomlearn's angular decay d (SOAP channel l scaled by (2l+1)^-d), chosen on "
          f"{len(valid)} validation frames with {n0} training frames (seed 0):")
    for decay, res in choice.items():
        print(f"  d = {decay:g}: E MAE {1000 * res['e_mae']:.1f} meV, F MAE "
              f"{1000 * res['f_mae']:.1f} meV/Å" + ("  <- chosen" if decay == best else ""))
    print(f"\nethanol: {len(test)} held-out frames; SOAP 5 Å / 8 / 6 / 0.5 Å, zeta 4; "
          f"{args.n_sparse} CUR sparse points per element; {args.threads} thread(s); "
          f"errors as mean ± std over {args.seeds} selection seed(s) (gap_fit rnd_seed, "
          "atomlearn random_state); fit time and memory: median over the seeds; MD: seed 0\n")
    head = (f"{'code':<22} {'n_train':>7} {'E MAE meV':>13} {'F MAE meV/Å':>13} "
            f"{'fit s':>7} {'fit MB':>7} {'MD atom-steps/s':>16}")
    print(head)
    print("-" * len(head))
    summary = {}
    for name in dict.fromkeys(r[0] for r in rows):
        for n in args.sizes:
            mine = [r for r in rows if r[0] == name and r[1] == n]
            if not mine:
                continue
            e = 1000 * np.array([r[3]["e_mae"] for r in mine])
            f = 1000 * np.array([r[3]["f_mae"] for r in mine])
            wall = float(np.median([r[4] for r in mine]))
            peak = float(np.median([r[5] for r in mine]))
            md = mine[0][3]["md_atom_steps_per_s"]
            summary[name, n] = dict(e=e.mean(), f=f.mean(), wall=wall, peak=peak, md=md)
            print(f"{name:<22} {n:>7} {e.mean():>6.1f} ± {e.std():>4.1f} "
                  f"{f.mean():>6.1f} ± {f.std():>4.1f} {wall:>7.1f} {peak:>7.0f} {md:>16.0f}")
    for name in [v for v, _ in variants] + (["atomlearn defaults"] if args.defaults else []):
        print(f"\nratios {name} / GAP:")
        for n in args.sizes:
            g, a = summary["GAP", n], summary[name, n]
            print(f"  n_train={n}: E MAE {a['e'] / g['e']:.2f}, F MAE {a['f'] / g['f']:.2f}, "
                  f"fit time {a['wall'] / g['wall']:.3f}, fit memory "
                  f"{a['peak'] / g['peak']:.2f}, MD speed {a['md'] / g['md']:.1f}x")
    print(f"\nforce rows of K_NM (n_train={n_last}): {rate['force_rows_s']:.2f} s at "
          f"{rate['gflops']:.1f} GFLOP/s = {100 * rate['gflops'] / rate['dgemm_gflops']:.0f}% "
          f"of this machine's DGEMM ({rate['dgemm_gflops']:.1f} GFLOP/s, n=2000, "
          f"{args.threads} thread(s)); with descriptors and energy rows "
          f"{rate['rows_and_descriptors_s']:.2f} s")
    first = next(r for r in rows if r[0] == variants[-1][0])[3]
    gap_eth = summary["GAP", args.sizes[0]]["md"]
    print("\nMD atom-steps/s (velocity Verlet through ASE, 1 thread):")
    print(f"  ethanol: GAP {gap_eth:.0f}, atomlearn {first['md_atom_steps_per_s']:.0f} "
          f"({first['md_atom_steps_per_s'] / gap_eth:.1f}x); featomic's expansion with "
          f"gradients alone {first['featomic_atom_steps_per_s']:.0f} "
          f"({first['featomic_atom_steps_per_s'] / gap_eth:.1f}x)")
    print(f"  192-atom silicon: GAP {si_gap['md_atom_steps_per_s']:.0f}, atomlearn "
          f"{si_al['md_atom_steps_per_s']:.0f} "
          f"({si_al['md_atom_steps_per_s'] / si_gap['md_atom_steps_per_s']:.1f}x); featomic's "
          f"expansion with gradients alone {si_al['featomic_atom_steps_per_s']:.0f} "
          f"({si_al['featomic_atom_steps_per_s'] / si_gap['md_atom_steps_per_s']:.1f}x, the "
          "ceiling for any model on featomic)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
