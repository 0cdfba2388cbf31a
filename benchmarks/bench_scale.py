"""Scale: a sparse GPR potential fit with 100,000 force components and 5,000 sparse points
in one process and as a tree of tasks on 1 and 2 dask workers; labelling with PySCF and
network training with torch.distributed on 1 and 2 processes; and, from the measured
costs, what 1,000,000 force components and 10,000 sparse points take on 4 and 16 nodes.

    python benchmarks/bench_scale.py [--force-components 100000] [--n-sparse 5000]
                                     [--parts fit,label,ddp] [--out FILE]

The training frames are the shipped ethanol DFT frames and randomly rotated copies of
them (rotating positions and forces together gives exactly labelled new frames), 27 force
components each. Every fit runs in a child process; the table shows its wall time, the
peak resident memory of the fitting process and of each dask worker, and atomlearn's
estimates printed before the fit (the whole fit; one task on a worker). Sparse points are
drawn at random: farthest-point sampling over 33,000 environments is a separate pass, the
same in every column, and not what this benchmark measures. Dask's task stream gives the
map phase (first chunk task started to last finished), the merges and the time after the
map (the merges run in the fitting process, as the tasks arrive).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIT_CHILD = r"""
import json, sys, time, resource, logging
import numpy as np
from atomlearn.datasets import load_ethanol
from atomlearn.models import SparseGPRModel
from atomlearn.testing import random_rotation
n_frames, n_sparse, workers, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
base = load_ethanol()
frames = []
for k in range(n_frames):
    src = base[k % len(base)]
    a = src.copy()
    R = random_rotation(k) if k >= len(base) else np.eye(3)
    a.positions = src.positions @ R.T
    a.info = {"REF_energy": src.get_potential_energy()}
    a.arrays["REF_forces"] = src.get_forces() @ R.T
    a.calc = None
    frames.append(a)
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
logging.getLogger("atomlearn").addHandler(Keep())
logging.getLogger("atomlearn").setLevel(logging.INFO)
# hyperparameters as given and no held-out share: every row goes into the tree
# sparse points per element (GAP's convention): 2/5 H, 2/5 C, 1/5 O of the total
model = SparseGPRModel(n_sparse={"H": 2 * n_sparse // 5, "C": 2 * n_sparse // 5,
                                 "O": n_sparse - 4 * (n_sparse // 5)},
                       selection="random", chunk_size=20,
                       hyperparameters="fixed", validation_fraction=0.0)
estimate = model.memory_estimate(frames)
result = {"frames": n_frames, "force_components": 27 * n_frames, "workers": workers,
          "estimate_gb": estimate / 2**30}
client = stream = None
import atomlearn.models.sparse_gpr.equations as equations
merges, merge = [], equations._merge
def timed_merge(a, b):
    t0 = time.time(); out = merge(a, b); merges.append((t0, time.time())); return out
equations._merge = timed_merge
if workers:
    from distributed import get_task_stream
    from atomlearn.executors import make_executor
    model.executor = make_executor("dask", workers=workers)
    client = model.executor._client
t = time.perf_counter()
if client is not None:
    with get_task_stream(client) as stream:
        model.fit(frames)
else:
    model.fit(frames)
result["fit_s"] = time.perf_counter() - t
result["n_sparse"] = int(len(model.sparse_indices_))
result["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
if client is not None:
    peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    result["worker_peak_gb"] = sorted(peaks.values())
    task = [r for r in records if r.getMessage().startswith("fit on ")][0]
    result["tasks"], result["task_estimate_gb"] = task.args[0], task.args[2]
    spans = [(t["key"].split("-")[0], s["start"], s["stop"]) for t in stream.data
             for s in t["startstops"] if s["action"] == "compute"]
    chunks = [(a, b) for name, a, b in spans if name == "_shared_chunk_factors"]
    first, last = min(a for a, _ in chunks), max(b for _, b in chunks)
    result["map_s"] = last - first
    result["chunk_task_s"] = sum(b - a for a, b in chunks)
    result["merge_s"] = sum(b - a for a, b in merges)
    result["after_map_s"] = max(b for _, b in merges) - last if merges else 0.0
np.save(out, model.solution_.weights)
print(json.dumps(result))
"""

QR_CHILD = r"""
import json, sys, time
import numpy as np
from atomlearn.gp.factor import update_triangle, stack_triangle
M = int(sys.argv[1]); rng = np.random.default_rng(0)
R = np.asfortranarray(np.triu(rng.normal(size=(M + 1, M + 1))))
rows = rng.normal(size=(540, M + 1))
update_triangle(R, rows[:64])
t = time.perf_counter(); update_triangle(R, rows); qr = time.perf_counter() - t
other = np.triu(rng.normal(size=(M + 1, M + 1)))
t = time.perf_counter(); stack_triangle(np.triu(R), other); merge = time.perf_counter() - t
a = rng.normal(size=(2000, 2000)); a @ a
t = time.perf_counter(); a @ a; gemm = 2 * 2000**3 / (time.perf_counter() - t) / 1e9
print(json.dumps({"qr_row_s": qr / 540, "merge_s": merge, "dgemm_gflops": gemm}))
"""

LABEL_CHILD = r"""
import json, sys, time, tempfile
from atomlearn.datasets import load_ethanol
from atomlearn.executors import close, make_executor
from atomlearn.labelers import LabelStore, label_structures, labeler_from_name
n, workers = int(sys.argv[1]), int(sys.argv[2])
frames = load_ethanol(f"100:{100 + n}")
for a in frames:
    a.calc = None
executor = make_executor("dask", workers=workers)
executor.submit(lambda: None).result()
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    out = label_structures(frames, labeler_from_name("pyscf"), LabelStore(d, "pyscf"),
                           executor=executor, progress=False)
    seconds = time.perf_counter() - t
close(executor)
print(json.dumps({"workers": workers, "structures": sum(a is not None for a in out),
                  "seconds": seconds}))
"""


def _child(code: str, *args, env=None) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fits(n_frames: int, n_sparse: int, tmp: Path) -> list[str]:
    runs = []
    for workers in (0, 1, 2):
        r = _child(FIT_CHILD, n_frames, n_sparse, workers, tmp / f"w{workers}.npy",
                   env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                        "ATOMLEARN_THREADS": "1"})
        runs.append(r)
        print(json.dumps(r), file=sys.stderr)
    import numpy as np

    w = {k: np.load(tmp / f"w{k}.npy") for k in (0, 1, 2)}
    identical = bool(np.array_equal(w[1], w[2]))
    serial_diff = float(np.abs(w[1] - w[0]).max() / np.abs(w[0]).max())
    one, two = runs[1], runs[2]
    lines = [f"fit: {runs[0]['force_components']:,} force components ({runs[0]['frames']} "
             f"frames), {runs[0]['n_sparse']} sparse points, one thread per process",
             "",
             "| run | fit s | map s | merges s (sum) | after map s | tasks | peak GB per "
             "worker | estimate GB per task | peak GB fitting process |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
             f"| one process, no executor | {runs[0]['fit_s']:.0f} | | | | | | "
             f"{runs[0]['estimate_gb']:.2f} (whole fit) | {runs[0]['peak_gb']:.2f} |"]
    for r in runs[1:]:
        lines.append(
            f"| dask, {r['workers']} worker{'s' if r['workers'] > 1 else ''} | "
            f"{r['fit_s']:.0f} | {r['map_s']:.0f} | {r['merge_s']:.1f} | "
            f"{r['after_map_s']:.1f} | {r['tasks']} | "
            f"{', '.join(f'{p:.2f}' for p in r['worker_peak_gb'])} | "
            f"{r['task_estimate_gb']:.2f} | {r['peak_gb']:.2f} |")
    efficiency = one["map_s"] / (2 * two["map_s"])
    lines += ["",
              f"map-phase parallel efficiency with 2 workers: {efficiency:.2f} (target 0.8); "
              f"fit speed-up {one['fit_s'] / two['fit_s']:.2f}x",
              f"weights on 1 and 2 workers identical: {identical}; against the serial fit: "
              f"max |Δw| / max |w| = {serial_diff:.1e}",
              "peak per worker against the printed per-task estimate: "
              + ", ".join(f"{max(r['worker_peak_gb']) / r['task_estimate_gb']:.2f}x "
                          f"({r['workers']} worker{'s' if r['workers'] > 1 else ''})"
                          for r in runs[1:])]
    return lines, runs


def paper(runs: list[dict], n_sparse: int) -> list[str]:
    """1,000,000 force components and 10,000 sparse points on 4 and 16 nodes, from this
    run's costs: per row of a task (rows built + QR into the task's triangles) and per
    merge of two triangles, scaled to M = 10,000 (QR and merges as M^2 and M^3, building
    rows as M), on nodes of 64 cores and 256 GB, one single-threaded worker per core at
    this machine's speed per core."""
    qr5 = _child(QR_CHILD, n_sparse, env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    one = runs[1]
    rows = one["force_components"] + one["frames"]
    per_row = one["chunk_task_s"] / rows                       # at M = n_sparse
    qr_row = 2 * qr5["qr_row_s"]                               # values and forces
    build_row = max(per_row - qr_row, 0.0)
    M2, N2 = 10_000, 1_000_000
    scale = M2 / n_sparse
    row2 = qr_row * scale**2 + build_row * scale
    merge2 = 2 * qr5["merge_s"] * scale**3
    # a task's memory at M = 10,000 by the estimate atomlearn prints, with this run's
    # worker memory before the task (its peak less the estimate's arrays)
    from dataclasses import asdict

    from atomlearn.datasets import load_ethanol
    from atomlearn.descriptors import SoapPowerSpectrum
    from atomlearn.models.sparse_gpr import memory
    from atomlearn.models.sparse_gpr.hypers import SoapOptions

    D = SoapPowerSpectrum(**asdict(SoapOptions()), species=[1, 6, 8]).n_features
    chunk = load_ethanol("0:20")
    arrays5 = memory.task_bytes(chunk, n_sparse=n_sparse, n_features=D, with_forces=True,
                                resident=0.0) / 2**30
    resident = max(max(one["worker_peak_gb"]) - arrays5, 0.0)
    task_gb = memory.task_bytes(chunk, n_sparse=M2, n_features=D, with_forces=True,
                                resident=resident * 2**30) / 2**30
    lines = ["", f"on paper: {N2:,} force components, {M2:,} sparse points (per row of a "
             f"task here {per_row * 1e3:.2f} ms at M = {n_sparse}: QR {qr_row * 1e3:.2f} ms "
             f"(tpqrt), building rows {build_row * 1e3:.2f} ms; a merge of two triangles "
             f"{2 * qr5['merge_s']:.1f} s; DGEMM {qr5['dgemm_gflops']:.1f} GFLOP/s per core)",
             "",
             "| nodes (64 cores, 256 GB) | workers | rows per task | tasks | map s | "
             "merges here s | total min | GB per worker | GB per node | GB here |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    # the merges run in the fitting process as tasks arrive, on a node of its own with
    # 64 BLAS threads at 60% of their DGEMM rate (tpqrt is blocked Householder)
    merge_here = merge2 / (64 * 0.6)
    tri = 2 * (M2 + 1) ** 2 * 8 / 2**30
    for nodes in (4, 16):
        workers = int(min(nodes * 64, nodes * 256 // task_gb))
        default = 2 * (M2 + 1)
        sizes = [default] + ([-(-N2 // workers)] if -(-N2 // default) < workers else [])
        for task_rows in sizes:
            tasks = -(-N2 // task_rows)
            map_s = -(-tasks // workers) * task_rows * row2
            # a task of p <= M rows is a trapezoid: its merge costs 3x - 3x^2 + x^3 of a
            # triangle's (x = p / M, the triangular-pentagonal QR's flops)
            x = min(1.0, task_rows / (M2 + 1))
            each = merge_here * (3 * x - 3 * x**2 + x**3)
            merges = max(map_s, tasks * each) - map_s + each
            held = (math.ceil(math.log2(max(tasks, 2))) + 2) * tri
            label = f"{nodes}" + ("" if task_rows == default else
                                  f", task_rows {task_rows:,}")
            lines.append(f"| {label} | {workers} | {task_rows:,} | {tasks} | {map_s:.0f} | "
                         f"{merges:.0f} | {(map_s + merges) / 60:.1f} | {task_gb:.1f} | "
                         f"{task_gb * min(64, workers / nodes):.0f} | {held:.0f} |")
    lines += ["", "Assumptions: tasks run in waves of one per single-threaded worker at this "
              "machine's speed per core; the fitting process merges the triangles as they "
              f"arrive ({merge2:.0f} s per merge on one core, scaled from here; on its own "
              "64-core node at 60% of DGEMM), overlapping the map, and holds the tree's open "
              "levels and the two arrivals being merged; a worker holds what this run's "
              f"workers held before their tasks ({resident:.2f} GB) plus the printed "
              "estimate's arrays at M = 10,000; GAP's serial fit needs over 1 TB here (QUIP #137)."]
    return lines


def labelling(n: int) -> list[str]:
    runs = [_child(LABEL_CHILD, n, w) for w in (1, 2)]
    rate = [r["structures"] / r["seconds"] for r in runs]
    return ["", f"labelling {n} ethanol frames with PySCF (PBE/def2-SVP, energies and "
            "forces) on dask workers:", "",
            "| workers | s | structures per minute |", "| ---: | ---: | ---: |"] + [
        f"| {r['workers']} | {r['seconds']:.1f} | {60 * x:.1f} |"
        for r, x in zip(runs, rate, strict=True)] + [
        "", f"speed-up with 2 workers: {rate[1] / rate[0]:.2f}x"]


def ddp(epochs: int, tmp: Path) -> list[str]:
    import torch

    options = tmp / "ddp.yaml"
    options.write_text(
        (ROOT / "examples" / "ethanol_mpnn.yaml").read_text()
        .replace("epochs: 1000", f"epochs: {epochs}").replace("batch_size: 5",
                                                             "batch_size: 16"))
    out = []
    for nproc in (1, 2):
        model = tmp / f"ddp{nproc}" / "model.alm"
        cmd = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={nproc}"] if nproc > 1 else [sys.executable])
        proc = subprocess.run(cmd + ["-m", "atomlearn", "fit", str(options), "-o", str(model),
                                     "--set", "output.plots=false"],
                              capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1",
                                   "ATOMLEARN_THREADS": "1"})
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        state = torch.load(model.with_name("model.alm.ckpt"), weights_only=True)
        out.append({"nproc": nproc, "seconds": state["seconds"],
                    "epochs": len(state["train_loss"]),
                    "val": state["validation_loss"][-1]})
    n_train = 135        # 200 frames, 25% test, 10% of the rest for validation
    lines = ["", f"PaiNN (examples/ethanol_mpnn.yaml, batches of 16) trained for {epochs} "
             "epochs with torch.distributed (gloo), one thread per process:", "",
             "| processes | training s | frames per s | last validation loss |",
             "| ---: | ---: | ---: | ---: |"]
    for r in out:
        lines.append(f"| {r['nproc']} | {r['seconds']:.1f} | "
                     f"{n_train * r['epochs'] / r['seconds']:.1f} | {r['val']:.4g} |")
    lines += ["", f"speed-up with 2 processes: {out[0]['seconds'] / out[1]['seconds']:.2f}x"]
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--force-components", type=int, default=100_000)
    p.add_argument("--n-sparse", type=int, default=5000)
    p.add_argument("--parts", default="fit,label,ddp")
    p.add_argument("--label-frames", type=int, default=8)
    p.add_argument("--ddp-epochs", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results_scale.txt"))
    p.add_argument("--paper-from", default=None, metavar="LOG",
                   help="only the on-paper table, from the fits' JSON lines in LOG (the "
                        "standard error of an earlier run)")
    args = p.parse_args(argv)
    if args.paper_from:
        runs = [json.loads(line) for line in Path(args.paper_from).read_text().splitlines()
                if line.startswith('{"frames"')]
        print("\n".join(paper(runs, args.n_sparse)))
        return 0
    parts = args.parts.split(",")
    n_frames = -(-args.force_components // 27)
    lines = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "fit" in parts:
            fit_lines, runs = fits(n_frames, args.n_sparse, tmp)
            lines += fit_lines + paper(runs, args.n_sparse)
        if "label" in parts:
            lines += labelling(args.label_frames)
        if "ddp" in parts:
            lines += ddp(args.ddp_epochs, tmp)
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(f"# python benchmarks/bench_scale.py {' '.join(argv or sys.argv[1:])}"
                              f"\n# {time.strftime('%Y-%m-%d')}\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
