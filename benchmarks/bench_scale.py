"""Scale: a sparse GPR potential fit with 100,000 force components and 5,000 sparse points.

    python benchmarks/bench_scale.py [--force-components 100000] [--n-sparse 5000]

The training frames are the shipped ethanol DFT frames and randomly rotated copies of
them (rotating positions and forces together gives exactly labelled new frames), 27 force
components each. The fit runs in a child process; the table shows its wall time, its own
peak resident memory (target: within 8 GB) and atomlearn's estimate printed before the fit.
Sparse points are drawn at random here: farthest-point sampling over 33,000 environments is
the slow part of a fit this size and is not what this benchmark measures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = """
import json, sys, time, resource, logging
import numpy as np
from atomlearn.datasets import load_ethanol
from atomlearn.models import SparseGPRModel
from atomlearn.testing import random_rotation
n_frames, n_sparse = int(sys.argv[1]), int(sys.argv[2])
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
model = SparseGPRModel(n_sparse=n_sparse, selection="random", chunk_size=20)
estimate = model.memory_estimate(frames)
t = time.perf_counter()
model.fit(frames)
fit = time.perf_counter() - t
print(json.dumps({"frames": n_frames, "force_components": 27 * n_frames,
                  "n_sparse": int(len(model.sparse_indices_)), "fit_s": fit,
                  "estimate_gb": estimate / 2**30,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--force-components", type=int, default=100_000)
    p.add_argument("--n-sparse", type=int, default=5000)
    args = p.parse_args(argv)
    n_frames = -(-args.force_components // 27)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n_frames), str(args.n_sparse)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        return 1
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{'frames':>7} {'force comps':>12} {'sparse':>7} {'fit s':>8} {'wall s':>8} "
          f"{'estimate GB':>12} {'peak GB':>8}")
    print(f"{r['frames']:>7} {r['force_components']:>12,} {r['n_sparse']:>7} "
          f"{r['fit_s']:>8.0f} {time.perf_counter() - t:>8.0f} {r['estimate_gb']:>12.2f} "
          f"{r['peak_gb']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
