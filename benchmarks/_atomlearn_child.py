"""Train one atomlearn model on the benchmark split (run by bench_networks.py) and print
one JSON line: errors, throughput and MD speed."""

import json
import sys
import time

import numpy as np
import torch
from ase import units
from ase.io import read
from ase.md.verlet import VelocityVerlet

from atomlearn.calculators import ModelCalculator
from atomlearn.models import BehlerParrinelloModel, MessagePassingModel, SparseGPRModel
from atomlearn.targets import energy as energy_target

kind, work, budget, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}   # model options to try
torch.set_num_threads(threads)
train = read(f"{work}/train.xyz", ":") + read(f"{work}/validation.xyz", ":")
n_val = len(read(f"{work}/validation.xyz", ":"))
test = read(f"{work}/test.xyz", ":")
energy = np.array([a.info["REF_energy"] for a in train])
forces = np.concatenate([a.arrays["REF_forces"] for a in train])
# the networks hold out a validation share of n_val frames, as the MACE run does;
# per-atom energy errors weigh 100 times force errors unless the options say otherwise
target = energy_target(forces=True, weight=extra.pop("energy_weight", 100.0))
settings = {"epochs": 100_000, "max_time": budget, "patience": 100_000,
            "validation_fraction": n_val / len(train), "force_weight": 1.0, **extra}
if kind == "mpnn":
    model = MessagePassingModel(target, activation="silu", **settings)
elif kind == "bpnn":
    model = BehlerParrinelloModel(target, **settings)
else:
    # the angular decay that benchmarks/bench_gap.py chooses on validation frames
    model = SparseGPRModel(descriptor={"cutoff": 5.0, "n_max": 8, "l_max": 6,
                                       "atom_width": 0.5, "angular_decay": 1.0},
                           kernel={"zeta": 4}, n_sparse={"H": 150, "C": 150, "O": 150},
                           selection="cur", sigma=1e-3, sigma_forces=0.03)
t = time.perf_counter()
model.fit(train, {"energy": energy, "forces": forces})
fit_seconds = time.perf_counter() - t
pred = model.predict(test)
E = np.array([a.info["REF_energy"] for a in test])
F = np.concatenate([a.arrays["REF_forces"] for a in test])
result = {"energy_mae": 1000 * float(np.mean(np.abs(pred["energy"] - E))),
          "forces_mae": 1000 * float(np.mean(np.abs(pred["forces"] - F))),
          "train_seconds": fit_seconds}
if kind != "gpr":
    h = model.history_
    result.update(epochs=len(h.validation_loss), train_seconds=h.seconds,
                  structures_per_s=len(h.validation_loss) * (len(train) - n_val) / h.seconds)
md_atoms = read(f"{work}/md_ethanol.xyz")
md_atoms.calc = ModelCalculator(model)
dyn = VelocityVerlet(md_atoms, 0.5 * units.fs)
dyn.run(5)
t = time.perf_counter()
dyn.run(200)
result["md_atom_steps_per_s"] = 200 * len(md_atoms) / (time.perf_counter() - t)
print(json.dumps(result))
