"""Densities of states: both families and the four energy references, against the mean DOS.

    python benchmarks/bench_dos.py [--budget 60] [--families sparse_gpr bpnn mpnn]
                                   [--systems silicon silicon_bands ethanol] [--smearing 0.3]

Silicon: the shipped 82 GFN1-xTB 64-atom cells (576 Gamma-point levels each), 62 to train
and the same 20 held out for every model (seeded order); DOS per atom on a 20 eV window
(-14..6 eV from the reference; the absolute grid is that window around the mean training
Fermi level), spacing 0.05 eV, Gaussian smearing 0.3 eV (``--smearing``). Silicon
bands (GP only): the 65 strained 2-atom PySCF LDA cells, DOS from 8 bands on 27 k-points,
50 to train, 15 held out, -15.5..1 eV (the grid stops below the highest computed bands).
Ethanol: the molecular DOS of the valence levels (-30..5 eV on the absolute scale; the
three core levels counted out), 400 frames to train, 200 held out.

For every model:

* DOS RMSE after the optimal shift: each held-out structure's reference DOS moved (within
  1 eV of where the model places it) to the shift that best matches the prediction, as a
  DOS is compared when its zero is not fixed; RMSE over all grid points as % of the
  reference DOS's RMS;
* Fermi level at 300 K (absolute: the predicted reference plus the chemical potential of
  the predicted DOS for the cell's electrons), band energy (measured from the Fermi level,
  meV/atom) and C_el(300 K) (%), each against the same computation on the cell's own
  eigenvalues with the same smearing;
* 2-sigma coverage of the DOS std (latent plus calibrated noise; the GP) against the
  labels of the target's own reference (what the std is calibrated on);
* fit time (s), one thread per run, two runs at a time.

Baseline: the training-mean DOS per atom (Fermi-level reference), placed at the mean
training Fermi level.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

REFERENCES = ("absolute", "fermi", "vbm", "learned")
SPACING = 0.05
#: system: (loader, held-out, training structures, grid window in eV from the reference,
#: whether the window is absolute for a molecule)
SYSTEMS = {
    "silicon": ("load_silicon", 20, 62, (-14.0, 6.0)),
    # 8 computed bands: the grid stops below the highest (see dos_target)
    "silicon_bands": ("load_silicon_bands", 15, 50, (-15.5, 1.0)),
    "ethanol": ("load_ethanol", 200, 400, (-30.0, 5.0)),
}


def split(system: str):
    from atomlearn import datasets

    loader, n_test, n_train, _ = SYSTEMS[system]
    frames = getattr(datasets, loader)()
    order = np.random.default_rng(0).permutation(len(frames))
    return ([frames[i] for i in order[n_test:n_test + n_train]],
            [frames[i] for i in order[:n_test]])


def dos_target(system: str, reference: str, train, smearing: float):
    """The grid window sits at the same place for every reference: around the mean
    training Fermi level (silicon) or on the vacuum scale (ethanol's absolute levels)."""
    from atomlearn.targets import density_of_states as D
    from atomlearn.targets import dos

    lo, hi = SYSTEMS[system][3]
    fermi = float(np.mean(D.read_references(
        dos(reference="fermi", smearing=smearing, spacing=SPACING), train)))
    if system == "ethanol":          # a molecule's window is on the absolute scale
        lo, hi = lo - fermi, hi - fermi
    if reference == "absolute":
        lo, hi = lo + fermi, hi + fermi
    elif reference == "vbm":         # the top of the valence band lies below the Fermi level
        vbm = float(np.mean(D.read_references(
            dos(reference="vbm", smearing=smearing, spacing=SPACING), train)))
        lo, hi = lo + fermi - vbm, hi + fermi - vbm
    # below every training structure's highest computed level (less 3 sigma, and 0.5 eV
    # for the learned shifts): a GP needs every label
    start = "fermi" if reference == "learned" else reference
    spec = dos(reference=start, smearing=smearing, spacing=SPACING)
    top = min(D.read_levels(a, i).highest - ref for i, (a, ref) in enumerate(
        zip(train, D.read_references(spec, train), strict=True))) - 3 * smearing - 0.5
    return dos(e_min=round(float(lo), 1), e_max=round(float(min(hi, top)), 1), spacing=SPACING,
               smearing=smearing, reference=reference, normalization="atom")


def make_model(family: str, spec, system: str, budget: float):
    if family == "sparse_gpr":
        from atomlearn.models import SparseGPRModel

        n_sparse = {"silicon": 300, "silicon_bands": 100, "ethanol": 200}[system]
        return SparseGPRModel(spec, descriptor={"cutoff": 5.0, "cutoff_width": 0.5,
                                                "n_max": 8, "l_max": 6, "atom_width": 0.5},
                              kernel={"type": "soap", "zeta": 2}, n_sparse=n_sparse,
                              hyperparameters="validation")
    from atomlearn.models import BehlerParrinelloModel, MessagePassingModel

    common = {"epochs": 100_000, "max_time": budget, "patience": 60, "learning_rate": 2e-3,
              "batch_size": 4 if system == "silicon" else 10}
    if family == "mpnn":
        return MessagePassingModel(spec, n_features=32, n_interactions=2, **common)
    return BehlerParrinelloModel(spec, **common)


def run(family: str, system: str, reference: str, smearing: float, budget: float) -> dict:
    import torch

    from atomlearn import threads
    from atomlearn.targets import density_of_states as D

    threads.configure(1)       # two runs at a time on two cores: one thread each
    torch.set_num_threads(1)
    train, test = split(system)
    if family == "mean":
        fermi = dos_target(system, "fermi", train, smearing)
        mean = np.nanmean(D.read_dos(fermi, train), axis=0)
        return {"seconds": 0.0, "grid": D.dos_options(fermi).grid, "std": None,
                "dos": np.tile(mean, (len(test), 1)),
                "reference": np.full(len(test), np.mean(D.read_references(fermi, train)))}
    spec = dos_target(system, reference, train, smearing)
    t = time.perf_counter()
    model = make_model(family, spec, system, budget)
    model.fit(train)
    seconds = time.perf_counter() - t
    with_std = model.provides_uncertainty
    out = model.predict(test, return_std=with_std)
    mean, std = out if with_std else (out, None)
    total_std = None
    if with_std:           # the spread of labels: latent std and calibrated noise
        noise = np.asarray(model.noise_std(spec.name, test), float).reshape(len(test), -1)
        total_std = np.hypot(std[spec.name], noise)
    return {"seconds": seconds, "grid": D.dos_options(spec).grid, "dos": mean[spec.name],
            "std": total_std,
            "reference": mean.get(f"{spec.name}_reference", np.zeros(len(test))),
            "alignment": getattr(model, "alignment_", [])}


def truth(test, smearing: float) -> np.ndarray:
    """Fermi level (eV), band energy (eV/atom) and C_el (eV/K/atom) of structures from
    their own eigenvalues, smeared as the labels are, on a fine grid."""
    from atomlearn.metrics.electronic import observables
    from atomlearn.targets import density_of_states as D

    rows = []
    for i, atoms in enumerate(test):
        levels = D.read_levels(atoms, i)
        lo = float(levels.energies.min()) - 2.0
        options = D.DOSOptions(e_min=lo, e_max=lo + 40.0, spacing=SPACING / 5,
                               smearing=smearing, reference="absolute")
        g = D.smeared(levels, options.grid, 0.0, options, len(atoms))
        obs = observables(options.grid, np.nan_to_num(g), levels.n_electrons)
        rows.append([obs.fermi_level, obs.band_energy / len(atoms),
                     obs.heat_capacity / len(atoms)])
    return np.array(rows)


def evaluate(system: str, reference: str, smearing: float, result: dict) -> dict:
    from atomlearn.metrics.electronic import observables
    from atomlearn.targets import density_of_states as D

    train, test = split(system)
    spec = dos_target(system, "fermi" if reference == "mean" else reference, train,
                      smearing)
    pred = result["dos"]
    best = D.aligned_shifts(spec, test, pred, np.asarray(result["reference"], float),
                            keep_mean=False)
    labels = D.read_dos(spec, test, best)
    known = np.isfinite(labels)
    err = (pred - labels)[known]
    row = {"rmse_pct": 100 * np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(labels[known]**2)),
           "seconds": result["seconds"]}
    if result["std"] is not None:       # against the labels the std was calibrated on
        own = spec.read(test)
        ok = np.isfinite(own)
        row["coverage"] = 100 * np.mean(np.abs(pred - own)[ok] <= 2 * result["std"][ok])
    if system == "ethanol":             # a molecule: the spectrum is the observable
        return row
    grid = result["grid"]
    predicted = []
    for i, atoms in enumerate(test):
        n = len(atoms)
        try:
            obs = observables(grid, pred[i] * n, float(atoms.info["n_electrons"]),
                              reference=float(result["reference"][i]))
        except ValueError:      # the grid ends below this cell's Fermi level
            predicted.append([np.nan] * 3)
            continue
        predicted.append([obs.fermi_level, obs.band_energy / n, obs.heat_capacity / n])
    predicted, true = np.array(predicted), truth(test, smearing)
    row["no_fermi"] = int(np.isnan(predicted[:, 0]).sum())
    if row["no_fermi"] < len(test):
        row["fermi_mev"] = 1000 * np.nanmean(np.abs(predicted[:, 0] - true[:, 0]))
        row["band_mev"] = 1000 * np.nanmean(np.abs(predicted[:, 1] - true[:, 1]))
        row["cel_pct"] = 100 * np.nanmean(np.abs(predicted[:, 2] / true[:, 2] - 1))
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["sparse_gpr", "bpnn", "mpnn"])
    p.add_argument("--references", nargs="+", default=list(REFERENCES))
    p.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    p.add_argument("--smearing", type=float, default=0.3, help="eV")
    p.add_argument("--budget", type=float, default=60.0,
                   help="seconds of network training per fit (the learned reference trains "
                        "alignment_folds x (alignment_iterations - 1) + 1 times)")
    args = p.parse_args(argv)
    jobs = []
    for system in args.systems:
        jobs.append(("mean", system, "mean"))
        for family in args.families:
            if system == "ethanol":      # a molecule: the vacuum zero, and the learned one
                if family != "bpnn":
                    jobs += [(family, system, r) for r in ("absolute", "learned")
                             if r in args.references]
            elif system == "silicon" or family == "sparse_gpr":
                jobs += [(family, system, r) for r in args.references]
    with ProcessPoolExecutor(2) as pool:
        futures = {job: pool.submit(run, *job, args.smearing, args.budget) for job in jobs}
        rows = []
        for (family, system, reference), future in futures.items():
            row = evaluate(system, reference, args.smearing, future.result())
            rows.append((system, family, reference, row))
            print(f"done {system} {family} {reference}: "
                  + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
    base = {s: r["rmse_pct"] for s, f, _, r in rows if f == "mean"}
    print(f"\nsmearing {args.smearing} eV, grid spacing {SPACING} eV; network budget "
          f"{args.budget:.0f} s per fit")
    print("| system | model | reference | DOS RMSE % (after shift) | x better than mean "
          "DOS | Fermi MAE meV | band energy MAE meV/atom | C_el(300 K) error % | "
          "2σ coverage % | fit s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for system, family, reference, r in rows:
        cells = [f"{r['rmse_pct']:.2f}", f"{base[system] / r['rmse_pct']:.1f}"]
        cells += [f"{r[k]:.1f}" if k in r else "—" for k in ("fermi_mev", "band_mev",
                                                               "cel_pct", "coverage")]
        cells.append(f"{r['seconds']:.0f}")
        print(f"| {system} | {family} | {reference} | " + " | ".join(cells) + " |")
    for system, family, reference, r in rows:
        if r.get("no_fermi"):
            print(f"{system} {family} {reference}: the grid holds too few electrons for a "
                  f"Fermi level in {r['no_fermi']} held-out cells (left out of its means)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
