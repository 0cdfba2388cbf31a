"""MACE from scratch on the benchmark's ethanol split (run by bench_networks.py inside the
peers environment). Prints one JSON line: errors, throughput and MD speed."""

import json
import sys
import time

import mace  # noqa: F401  (before e3nn, see ../shared/PEERS.md)
import numpy as np
import torch
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read
from ase.md.verlet import VelocityVerlet
from e3nn import o3
from mace import modules
from mace.data import AtomicData, KeySpecification, config_from_atoms_list
from mace.modules.utils import compute_avg_num_neighbors, compute_mean_rms_energy_forces
from mace.tools import AtomicNumberTable, torch_geometric

work, budget, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
Z = [1, 6, 8]
table = AtomicNumberTable(Z)
keys = KeySpecification(info_keys={"energy": "REF_energy"}, arrays_keys={"forces": "REF_forces"})


def dataset(name):
    atoms = read(f"{work}/{name}.xyz", ":")
    return atoms, [AtomicData.from_config(c, z_table=table, cutoff=5.0)
                   for c in config_from_atoms_list(atoms, keys)]


train_atoms, train_data = dataset("train")
_, val_data = dataset("validation")
test_atoms, test_data = dataset("test")
loader = torch_geometric.DataLoader(train_data, batch_size=10, shuffle=True)
counts = np.array([[np.sum(a.numbers == z) for z in Z] for a in train_atoms], float)
e0 = np.linalg.lstsq(counts, [a.info["REF_energy"] for a in train_atoms], rcond=None)[0]
mean, rms = compute_mean_rms_energy_forces(loader, e0)
model = modules.ScaleShiftMACE(
    r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3,
    interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
    interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
    num_interactions=2, num_elements=3, hidden_irreps=o3.Irreps("32x0e+32x1o"),
    MLP_irreps=o3.Irreps("16x0e"), atomic_energies=e0,
    avg_num_neighbors=compute_avg_num_neighbors(loader), atomic_numbers=Z, correlation=3,
    gate=torch.nn.functional.silu, atomic_inter_scale=rms, atomic_inter_shift=mean,
    radial_MLP=[64, 64, 64])
opt = torch.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.8, patience=50)


def loss_of(batch, training):
    out = model(batch.to_dict(), training=training, compute_force=True)
    n = batch.ptr[1:] - batch.ptr[:-1]
    return (torch.mean(((out["energy"] - batch.energy) / n) ** 2)
            + 100.0 * torch.mean((out["forces"] - batch.forces) ** 2))


val_loader = torch_geometric.DataLoader(val_data, batch_size=10)
best, best_state, seen, epochs, clock = np.inf, None, 0, 0, 0.0
while clock < budget:
    t = time.perf_counter()
    model.train()
    for batch in loader:
        opt.zero_grad()
        loss = loss_of(batch, True)
        loss.backward()
        opt.step()
        seen += int(batch.num_graphs)
    model.eval()
    val = float(np.mean([loss_of(b, False).item() for b in val_loader]))
    sched.step(val)
    if val < best:
        best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    epochs += 1
    clock += time.perf_counter() - t
model.load_state_dict(best_state)

energies, forces = [], []
for batch in torch_geometric.DataLoader(test_data, batch_size=10):
    out = model(batch.to_dict(), compute_force=True)
    energies.append(out["energy"].detach().numpy())
    forces.append(out["forces"].detach().numpy())
E = np.array([a.info["REF_energy"] for a in test_atoms])
F = np.concatenate([a.arrays["REF_forces"] for a in test_atoms])


class MACEOnTheFly(Calculator):
    """The in-memory model as an ASE calculator (what mace.calculators does per call)."""
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        config = config_from_atoms_list([self.atoms], KeySpecification())[0]
        data = AtomicData.from_config(config, z_table=table, cutoff=5.0)
        batch = next(iter(torch_geometric.DataLoader([data], batch_size=1)))
        out = model(batch.to_dict(), compute_force=True)
        self.results = {"energy": float(out["energy"].detach()[0]),
                        "forces": out["forces"].detach().numpy()}


md_atoms = read(f"{work}/md_ethanol.xyz")
md_atoms.calc = MACEOnTheFly()
dyn = VelocityVerlet(md_atoms, 0.5 * units.fs)
dyn.run(5)
t = time.perf_counter()
dyn.run(200)
md = 200 * len(md_atoms) / (time.perf_counter() - t)
print(json.dumps({
    "energy_mae": 1000 * float(np.mean(np.abs(np.concatenate(energies) - E))),
    "forces_mae": 1000 * float(np.mean(np.abs(np.concatenate(forces) - F))),
    "epochs": epochs, "train_seconds": clock, "structures_per_s": seen / clock,
    "md_atom_steps_per_s": md}))
