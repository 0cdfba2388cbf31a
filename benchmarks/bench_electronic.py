"""Orbital energies and band structures: direct eigenvalue models beside learned
Kohn-Sham Hamiltonians (ethanol), and band energies of held-out silicon cells.

    python benchmarks/bench_electronic.py [--sizes 100 200 400 700] [--n-sparse 400]
                                          [--skip-silicon] [--skip-ethanol]
    python benchmarks/bench_electronic.py --gap-only
    python benchmarks/bench_electronic.py --silicon-curve [13 26 52]
    python benchmarks/bench_electronic.py --network-sizes [400] [--network-time 1800]

Ethanol: the 800 shipped frames with Kohn-Sham matrices (PBE/def2-SVP), 100 held out
(seed 0), the rest for training; every route sees the same frames. Routes:

* per-orbital training mean (the baseline of the issue) and the training-mean
  Hamiltonian diagonalised with each frame's exact overlap (QH9's baseline);
* direct: sparse GPR (SOAP, zeta 2) of the lowest 14 orbital energies (13 occupied and
  the LUMO) as one spectrum target, and of the gap on its own;
* Hamiltonian: block-wise SA-GPR of the 72 x 72 matrix (atom and pair lambda-SOAP), in
  the atomic-orbital basis and Löwdin-orthogonalised, diagonalised with the exact overlap;
* (``--gap-only``) the gap from every shipped frame's orbital energies (1,600 frames, not
  only the 800 with matrices): direct, and on the HOMO of a Hamiltonian model, whose
  occupied levels are its best (``targets.gap(baseline="homo")``: a sparse GPR of the
  gap plus that HOMO, i.e. of the LUMO).

Metrics on the held-out frames: MAE of the 13 occupied levels, HOMO, LUMO and gap (meV),
of the Hamiltonian's elements (µHa) where one is predicted, fit time and prediction time
per structure (one process, the threads given). Published anchors (not run here: no
GPU, not installable): QHNet, ~25,000 MD17 ethanol frames: Hamiltonian 21 µHa, occupied
levels 81 µHa (2.2 meV); SchNOrb: Hamiltonian 187 µHa.

Silicon (2-atom cells, LDA/GTH-SZV): 13 cells carry band paths; each of them is held out
in turn (13 folds) with its mesh, the model trained on the other 64 cells' meshes and the
other 12 paths. Band energies on the mesh and along the path, aligned at each cell's
valence-band maximum, and the gap. Routes: the training mean; a sparse GPR of the mesh
bands on SOAP; ``band_gpr``'s direct route (a GP over (cell, k-point) pairs); its
Hamiltonian route (a GP of the Löwdin-orthogonalised Kohn-Sham matrices on the mesh's
lattice vectors, diagonalised; off the mesh the exact core Hamiltonian plus the
interpolated rest, and a pair GP of what that misses along the training paths), with and
without that pair GP.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
HARTREE = 27.211386245988      # eV
N_OCC = 13
METRIC_STRUCTURES = 100
LOWDIN_SIZE = 400          # the Löwdin-basis model is fitted at this size only (time)


def ethanol_split(n_test: int = 100, seed: int = 0):
    from atomlearn.datasets import load_ethanol_hamiltonians

    frames = load_ethanol_hamiltonians(":")
    order = np.random.default_rng(seed).permutation(len(frames))
    return [frames[i] for i in order[n_test:]], [frames[i] for i in order[:n_test]]


def level_errors(levels: np.ndarray, reference: np.ndarray) -> dict:
    """meV errors of occupied levels, HOMO, LUMO and gap from (n, >= 14) levels (eV)."""
    gap, ref_gap = (levels[:, N_OCC] - levels[:, N_OCC - 1],
                    reference[:, N_OCC] - reference[:, N_OCC - 1])
    return {"occupied": 1e3 * np.mean(np.abs(levels[:, :N_OCC] - reference[:, :N_OCC])),
            "homo": 1e3 * np.mean(np.abs(levels[:, N_OCC - 1] - reference[:, N_OCC - 1])),
            "lumo": 1e3 * np.mean(np.abs(levels[:, N_OCC] - reference[:, N_OCC])),
            "gap": 1e3 * np.mean(np.abs(gap - ref_gap))}


def operator_model(n_sparse: int, orthogonal: bool, metric_weight: float):
    """The block-wise SA-GPR of the matrix (the engine of ``sa_gpr`` with a
    ``hamiltonian`` target), driven step by step so one fit gives both the channel-wise
    and the Löwdin-metric solutions."""
    from atomlearn.descriptors.pair_soap import PairLambdaSoap
    from atomlearn.models.sa_gpr.operator import OperatorGPR

    descriptor = PairLambdaSoap(cutoff=4.0, n_max=4, l_max=4, atom_width=0.3,
                                pair_cutoff=5.0, pair_n_max=4, pair_l_max=4)
    gpr = {"zeta": 2, "n_sparse": n_sparse, "sigma": 1e-3, "delta": 1.0,
           "hyperparameters": "fixed", "chunk_size": 2000, "random_state": 0}
    return OperatorGPR("def2-svp", descriptor, gpr, orthogonal=orthogonal,
                       n_candidates=200, metric_weight=metric_weight,
                       metric_structures=METRIC_STRUCTURES)


def kabsch(positions: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The proper rotation R that takes centred ``positions`` closest to ``reference``
    (r -> R r)."""
    P = positions - positions.mean(axis=0)
    Q = reference - reference.mean(axis=0)
    U, _, Vt = np.linalg.svd(P.T @ Q)
    d = np.sign(np.linalg.det(U @ Vt))
    return (U @ np.diag([1.0, 1.0, d]) @ Vt).T


def aligned_mean_hamiltonian(train, test) -> np.ndarray:
    """QH9's mean-Hamiltonian baseline made fair to rotating MD frames: every training
    matrix rotated into the first frame's orientation (Kabsch, then D^T H D with PySCF's
    Wigner matrices), averaged, and rotated back into each test frame's orientation."""
    from atomlearn.targets.operators import AtomicOrbitals
    from atomlearn.testing import orbital_rotation

    numbers = train[0].numbers
    orbitals = AtomicOrbitals.from_pyscf("def2-svp", numbers)
    reference = train[0].positions

    def rotation(atoms):
        return orbital_rotation(orbitals, numbers, kabsch(atoms.positions, reference))

    mean = np.mean([rotation(a).T @ a.info["hamiltonian"] @ rotation(a) for a in train],
                   axis=0)
    return np.stack([rotation(a) @ mean @ rotation(a).T for a in test])


def direct_options(n_sparse: int) -> dict:
    """Options of every direct sparse GPR (SOAP, zeta 2, validation hyperparameters)."""
    return dict(descriptor={"cutoff": 5.0, "cutoff_width": 0.5, "n_max": 8, "l_max": 6,
                            "atom_width": 0.5},
                kernel={"type": "soap", "zeta": 2}, n_sparse=n_sparse,
                hyperparameters="validation")


def direct_models(n_sparse: int):
    from atomlearn.models import SparseGPRModel
    from atomlearn.targets import TargetSpec

    options = direct_options(n_sparse)
    levels = TargetSpec("low_levels", "spectrum", unit="eV", shape=(N_OCC + 1,),
                        extensive=False)
    gap = TargetSpec("gap", "scalar", unit="eV", extensive=False)
    return SparseGPRModel(levels, **options), SparseGPRModel(gap, **options)


def ethanol_rows(sizes, n_sparse: int, hamiltonian_sizes=None) -> list[dict]:
    from atomlearn.targets.operators import orbital_energies

    train_all, test = ethanol_split()
    H_test = np.stack([a.info["hamiltonian"] for a in test])
    reference = np.stack([a.info["orbital_energies"] for a in test])
    for a in train_all + test:
        a.info["low_levels"] = a.info["orbital_energies"][: N_OCC + 1]
    rows = []
    for n in sizes:
        train = train_all[:n]
        H_train = np.stack([a.info["hamiltonian"] for a in train])
        levels_train = np.stack([a.info["orbital_energies"] for a in train])
        mean_levels = np.tile(levels_train.mean(axis=0), (len(test), 1))
        rows.append({"route": "per-orbital mean", "n": n, **level_errors(
            mean_levels, reference)})
        mean_H = np.repeat(H_train.mean(axis=0)[None], len(test), axis=0)
        rows.append({"route": "mean Hamiltonian", "n": n,
                     "h_mae": 1e6 * np.mean(np.abs(mean_H - H_test)) / HARTREE,
                     **level_errors(orbital_energies(mean_H, test, "def2-svp"), reference)})
        aligned = aligned_mean_hamiltonian(train, test)
        rows.append({"route": "mean Hamiltonian, aligned frames", "n": n,
                     "h_mae": 1e6 * np.mean(np.abs(aligned - H_test)) / HARTREE,
                     **level_errors(orbital_energies(aligned, test, "def2-svp"), reference)})
        t = time.perf_counter()
        levels_model, gap_model = direct_models(min(n_sparse, 200))
        levels_model.fit(train)
        gap_model.fit(train)
        fit = time.perf_counter() - t
        t = time.perf_counter()
        levels = levels_model.predict(test)["low_levels"]
        gap = gap_model.predict(test)["gap"]
        per = (time.perf_counter() - t) / len(test)
        errors = level_errors(levels, reference)
        errors["gap"] = 1e3 * np.mean(np.abs(gap - (reference[:, N_OCC]
                                                    - reference[:, N_OCC - 1])))
        rows.append({"route": "direct sparse GPR", "n": n, "fit": fit, "predict": per,
                     **errors})
        print(_format(rows[-4:]), flush=True)
        if hamiltonian_sizes is None or n in hamiltonian_sizes:
            rows += hamiltonian_rows(train, test, n, n_sparse, H_test, reference,
                                     lowdin=n == LOWDIN_SIZE)
    return rows


def hamiltonian_rows(train, test, n: int, n_sparse: int, H_test, reference,
                     lowdin: bool = True) -> list[dict]:
    """Channel-wise SA-GPR of the matrix, the same after the joint Löwdin-metric
    re-solve, and (``lowdin``) the model of the Löwdin-orthogonalised matrix."""
    from atomlearn.models.sa_gpr.metric import refine_in_metric
    from atomlearn.targets.operators import orbital_energies

    H_train = np.stack([a.info["hamiltonian"] for a in train])
    rows = []

    def row(route, op, fit):
        t = time.perf_counter()
        H = op.predict(test)
        levels = orbital_energies(H, test, "def2-svp")
        per = (time.perf_counter() - t) / len(test)
        rows.append({"route": route, "n": n, "fit": fit, "predict": per,
                     "h_mae": 1e6 * np.mean(np.abs(H - H_test)) / HARTREE,
                     **level_errors(levels, reference)})
        print(_format([rows[-1]]), flush=True)

    t = time.perf_counter()
    op = operator_model(n_sparse, False, 1.0)
    op.fit_channels(train, H_train)
    fit = time.perf_counter() - t
    row("Hamiltonian SA-GPR, channel-wise", op, fit)
    t = time.perf_counter()
    chosen = np.sort(np.random.default_rng(1).permutation(n)[:METRIC_STRUCTURES])
    report = refine_in_metric(op, [train[i] for i in chosen], H_train[chosen], weight=1.0)
    row("Hamiltonian SA-GPR, Löwdin metric", op, fit + time.perf_counter() - t)
    rows[-1]["report"] = report
    if lowdin:
        t = time.perf_counter()
        op = operator_model(n_sparse, True, 0.0).fit(train, H_train)
        row("Hamiltonian SA-GPR of S^-1/2 H S^-1/2", op, time.perf_counter() - t)
    return rows


def gap_rows(n_hamiltonian: int, n_sparse: int, n_gap: int) -> list[dict]:
    """The gap with the orbital energies of all shipped frames: direct sparse GPR of the
    gap on ``n_gap`` frames (and on the Hamiltonian frames' training part), and the gap
    on the HOMO of a channel-wise Hamiltonian SA-GPR of ``n_hamiltonian`` frames (a
    sparse GPR of gap + that HOMO, i.e. of the LUMO, on the same ``n_gap`` frames with the
    Hamiltonian model's levels, ``targets.gap(baseline="homo")``)."""
    from atomlearn.datasets import load_ethanol
    from atomlearn.models import SparseGPRModel
    from atomlearn.targets import gap
    from atomlearn.targets.operators import orbital_energies

    train_hamiltonians, test = ethanol_split()
    held_out = {a.info["md_frame"] for a in test}
    pool = [a for a in load_ethanol(":") if a.info["md_frame"] not in held_out]
    pool = [pool[i] for i in np.random.default_rng(1).permutation(len(pool))[:n_gap]]
    reference = np.stack([a.info["orbital_energies"] for a in test])
    options = direct_options(n_sparse)
    rows = []

    def direct(frames, label):
        t = time.perf_counter()
        model = SparseGPRModel(gap(), **options).fit(frames)
        fit = time.perf_counter() - t
        t = time.perf_counter()
        predicted = model.predict(test)["gap"]
        rows.append({"route": label, "n": len(frames), "fit": fit,
                     "predict": (time.perf_counter() - t) / len(test),
                     "gap": 1e3 * np.mean(np.abs(predicted - reference[:, N_OCC]
                                                 + reference[:, N_OCC - 1]))})
        print(_format(rows[-1:]), flush=True)

    direct(train_hamiltonians, "direct sparse GPR of the gap")
    direct(pool, "direct sparse GPR of the gap")
    train = train_hamiltonians[:n_hamiltonian]
    t = time.perf_counter()
    op = operator_model(400, False, 1.0)
    op.fit_channels(train, np.stack([a.info["hamiltonian"] for a in train]))
    fit = time.perf_counter() - t
    t = time.perf_counter()
    for frames in (pool, test):
        for start in range(0, len(frames), 100):
            part = frames[start:start + 100]
            for atoms, levels in zip(part, orbital_energies(op.predict(part), part,
                                                            "def2-svp"), strict=True):
                atoms.info["pred_orbital_energies"] = levels
    levels_time = time.perf_counter() - t
    t = time.perf_counter()
    model = SparseGPRModel(gap("homo", levels="pred_orbital_energies"), **options).fit(pool)
    fit += levels_time * len(pool) / (len(pool) + len(test)) + time.perf_counter() - t
    t = time.perf_counter()
    predicted_gap = model.predict(test)["gap"]
    levels = np.stack([a.info["pred_orbital_energies"] for a in test])
    levels[:, N_OCC] = levels[:, N_OCC - 1] + predicted_gap
    per = (time.perf_counter() - t) / len(test) + levels_time / (len(pool) + len(test))
    rows.append({"route": f"Hamiltonian ({n_hamiltonian}) HOMO + gap", "n": len(pool),
                 "fit": fit, "predict": per, **level_errors(levels, reference)})
    print(_format(rows[-1:]), flush=True)
    return rows


def plot_curves(rows: list[dict], path: Path) -> None:
    """Held-out MAE of the occupied levels and of the gap against training frames, for
    every route measured at more than one size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.9))
    routes = dict.fromkeys(r["route"] for r in rows)
    for k, route in enumerate(routes):
        points = sorted((r["n"], r["occupied"], r["gap"]) for r in rows
                        if r["route"] == route)
        if len(points) < 2 or "mean Hamiltonian" in route:
            continue
        n, occupied, gap = zip(*points, strict=True)
        for ax, values in zip(axes, (occupied, gap), strict=True):
            ax.loglog(n, values, "o-", color=f"C{k}", label=route)
    for ax, what in zip(axes, ("13 occupied levels", "HOMO-LUMO gap"), strict=True):
        ax.set(xlabel="training frames", ylabel=f"{what}: MAE (meV)")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle("Ethanol PBE/def2-SVP, 100 held-out frames", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


#: Occupied bands of the 2-atom silicon cells (8 valence electrons).
SI_OCCUPIED = 4


def _si_aligned(e: np.ndarray) -> np.ndarray:
    """Band energies ``(..., n_k, n_bands)`` relative to their valence-band maximum."""
    return e - e[..., :SI_OCCUPIED].max(axis=(-1, -2), keepdims=True)


def _si_gap(e: np.ndarray) -> np.ndarray:
    """The gap over the k-points of band energies ``(..., n_k, n_bands)``."""
    return (e[..., SI_OCCUPIED:].min(axis=(-1, -2))
            - e[..., :SI_OCCUPIED].max(axis=(-1, -2)))


def silicon_lines() -> list[str]:
    """Leave one path cell out (13 folds): band energies on the held-out cell's mesh and
    path, aligned at its valence-band maximum, and its gap on the mesh."""
    from atomlearn.datasets import load_silicon_bands
    from atomlearn.models import BandGPRModel, SparseGPRModel
    from atomlearn.targets import band_energies

    frames = load_silicon_bands(":")
    folds = [i for i, a in enumerate(frames) if "path_kpoints" in a.info]
    aligned, gap = _si_aligned, _si_gap
    names = ("training mean", "direct sparse GPR (mesh only)", "band_gpr, direct route",
             "band_gpr, Hamiltonian, no path GP", "band_gpr, Hamiltonian route")
    errors = {name: {"mesh": [], "path": [], "gap": [], "fit": [], "predict": [],
                     "path_predict": [], "z": []} for name in names}
    for held in folds:
        a = frames[held]
        train = [f for i, f in enumerate(frames) if i != held]
        mesh = np.reshape(a.info["band_energies"], (27, 8))
        path_k = np.reshape(a.info["path_kpoints"], (-1, 3))
        path = np.reshape(a.info["path_band_energies"], (len(path_k), 8))
        means = {"mesh": aligned(np.stack([np.reshape(f.info["band_energies"], (27, 8))
                                           for f in train])).mean(axis=0),
                 "path": aligned(np.stack([np.reshape(f.info["path_band_energies"], (-1, 8))
                                           for f in train if "path_kpoints" in f.info])
                                 ).mean(axis=0),
                 "gap": np.mean([gap(np.reshape(f.info["band_energies"], (27, 8)))
                                 for f in train])}
        got = {"training mean": (means["mesh"], means["path"], means["gap"], 0.0, 0.0, None,
                                 None)}
        t = time.perf_counter()
        direct = SparseGPRModel(band_energies(27, 8), descriptor={
            "cutoff": 5.0, "n_max": 8, "l_max": 6, "atom_width": 0.5},
            kernel={"type": "soap", "zeta": 2}, n_sparse=100,
            hyperparameters="validation").fit(train)
        fit = time.perf_counter() - t
        t = time.perf_counter()
        p_mesh = direct.predict([a])["band_energies"][0]
        got["direct sparse GPR (mesh only)"] = (aligned(p_mesh), None, gap(p_mesh), fit,
                                                time.perf_counter() - t, None, None)
        for name, route in (("band_gpr, direct route", "direct"),
                            ("band_gpr, Hamiltonian route", "hamiltonian")):
            t = time.perf_counter()
            model = BandGPRModel(band_energies(27, 8), route=route).fit(train)
            fit = time.perf_counter() - t
            t = time.perf_counter()
            p_mesh, s_mesh = (x[0] for x in model.predict_bands([a], return_std=True))
            per = time.perf_counter() - t
            t = time.perf_counter()
            p_path = model.predict_bands([a], path_k)[0]
            per_path = time.perf_counter() - t
            z = (p_mesh - mesh - np.mean(p_mesh - mesh)) / s_mesh     # aligned, as the MAE
            got[name] = (aligned(p_mesh), aligned(p_path), gap(p_mesh), fit, per, per_path,
                         z)
            if route == "hamiltonian":      # what the pair GP of the paths' residual adds
                pairs, model.pairs_ = model.pairs_, None
                p_raw = model.predict_bands([a], path_k)[0]
                model.pairs_ = pairs
                got["band_gpr, Hamiltonian, no path GP"] = (
                    aligned(p_mesh), aligned(p_raw), gap(p_mesh), fit, per, per_path, None)
        for name, (m, p, g, fit, per, per_path, z) in got.items():
            e = errors[name]
            e["mesh"].append(np.mean(np.abs(m - aligned(mesh))))
            if p is not None:
                e["path"].append(np.mean(np.abs(p - aligned(path))))
            e["gap"].append(abs(g - gap(mesh)))
            e["fit"].append(fit)
            e["predict"].append(per)
            e["path_predict"].append(per_path)
            if z is not None:
                e["z"].append(z.ravel())
        print(f"silicon fold {held}: " + ", ".join(
            f"{n} {1e3 * e['mesh'][-1]:.1f}/{1e3 * e['path'][-1] if e['path'] else 0:.1f}/"
            f"{1e3 * e['gap'][-1]:.1f}" for n, e in errors.items()), flush=True)
    head = (f"{'route':<36}{'mesh meV':>10}{'path meV':>10}{'gap meV':>9}{'fit s':>8}"
            f"{'s/cell':>9}{'path s':>8}{'in 1 std':>10}")
    lines = ["silicon_bands: 13 folds, each holds out one of the cells with a band path "
             "(mesh and path) and trains on the other 64 cells (12 paths); MAE aligned at "
             "the held-out cell's VBM; gap on the mesh; s/cell: mesh prediction with std, "
             "path s: the 20 path k-points; 'in 1 std': share of aligned mesh errors within "
             "the predicted std", head, "-" * len(head)]
    for name, e in errors.items():
        path = f"{1e3 * np.mean(e['path']):10.1f}" if e["path"] else f"{'-':>10}"
        within = (f"{np.mean(np.abs(np.concatenate(e['z'])) < 1):10.2f}" if e["z"]
                  else f"{'-':>10}")
        timed = [t for t in e["path_predict"] if t is not None]
        path_time = f"{np.median(timed):8.2f}" if timed else f"{'-':>8}"
        lines.append(f"{name:<36}{1e3 * np.mean(e['mesh']):10.1f}{path}"
                     f"{1e3 * np.mean(e['gap']):9.1f}{np.median(e['fit']):8.1f}"
                     f"{np.median(e['predict']):9.3f}{path_time}"
                     f"{within}")
    return lines


def plot_silicon_curve(rows: list[tuple], path: Path) -> None:
    """Mesh, path and gap MAE against training cells, one line per route."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    for k, route in enumerate(dict.fromkeys(r[0] for r in rows)):
        r = [row for row in rows if row[0] == route]
        for ax, col in zip(axes, (3, 4, 5), strict=True):
            ax.loglog([x[1] for x in r], [x[col] for x in r], "o-", color=f"C{k}",
                      label=f"band_gpr, {route} route")
    for ax, what in zip(axes, ("mesh bands", "path bands", "gap"), strict=True):
        ax.set(xlabel="training cells", ylabel=f"{what}: MAE (meV)")
        ax.set_xticks(sorted({r[1] for r in rows}))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Silicon LDA/GTH-SZV, 13 held-out cells (3 paths)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def silicon_curve(sizes, path: Path) -> list[str]:
    """Learning curves of both band_gpr routes on one split: 13 held-out cells (3 of them
    with paths), training subsets of the other 52 (10 with paths) drawn with seed 0."""
    from atomlearn.datasets import load_silicon_bands
    from atomlearn.models import BandGPRModel
    from atomlearn.targets import band_energies

    frames = load_silicon_bands(":")
    with_path = [i for i, a in enumerate(frames) if "path_kpoints" in a.info]
    rng = np.random.default_rng(0)
    others = [i for i in range(len(frames)) if i not in with_path]
    test = with_path[:3] + list(rng.choice(others, 10, replace=False))
    pool = rng.permutation([i for i in range(len(frames)) if i not in test])

    aligned, gap = _si_aligned, _si_gap
    mesh = np.stack([np.reshape(frames[i].info["band_energies"], (27, 8)) for i in test])
    rows = []
    for route in ("direct", "hamiltonian"):
        for n in sizes:
            train = [frames[i] for i in pool[:n]]
            t = time.perf_counter()
            model = BandGPRModel(band_energies(27, 8), route=route).fit(train)
            fit = time.perf_counter() - t
            pred = model.predict_bands([frames[i] for i in test])
            paths = [np.abs(aligned(model.predict_bands(
                [frames[i]], np.reshape(frames[i].info["path_kpoints"], (-1, 3)))[0])
                - aligned(np.reshape(frames[i].info["path_band_energies"], (-1, 8)))).mean()
                for i in test[:3]]
            rows.append((route, n, sum("path_kpoints" in a.info for a in train),
                         1e3 * np.abs(aligned(pred) - aligned(mesh)).mean(),
                         1e3 * np.mean(paths), 1e3 * np.abs(gap(pred) - gap(mesh)).mean(),
                         fit))
            print(rows[-1], flush=True)
    plot_silicon_curve(rows, path)
    head = (f"{'route':<14}{'cells':>6}{'paths':>6}{'mesh meV':>10}{'path meV':>10}"
            f"{'gap meV':>9}{'fit s':>8}")
    return (["silicon learning curves: 13 held-out cells (3 with paths), training subsets "
             "of the other 52 (seed 0); MAE aligned at each cell's VBM", head,
             "-" * len(head)]
            + [f"{r[0]:<14}{r[1]:>6}{r[2]:>6}{r[3]:10.1f}{r[4]:10.1f}{r[5]:9.1f}{r[6]:8.1f}"
               for r in rows])


def network_rows(sizes, max_time: float) -> list[dict]:
    """The Hamiltonian from a PaiNN network with the equivariant operator head (mpnn),
    on the same split, diagonalised with the exact overlap."""
    from atomlearn.models import MessagePassingModel
    from atomlearn.targets import hamiltonian

    train_all, test = ethanol_split()
    H_test = np.stack([a.info["hamiltonian"] for a in test])
    reference = np.stack([a.info["orbital_energies"] for a in test])
    rows = []
    for n in sizes:
        t = time.perf_counter()
        model = MessagePassingModel(hamiltonian(72), **NETWORK, max_time=max_time).fit(
            train_all[:n])
        fit = time.perf_counter() - t
        t = time.perf_counter()
        out = model.predict(test, targets=["hamiltonian", "orbital_energies"])
        per = (time.perf_counter() - t) / len(test)
        rows.append({"route": "Hamiltonian network (mpnn)", "n": n, "fit": fit,
                     "predict": per,
                     "h_mae": 1e6 * np.mean(np.abs(out["hamiltonian"] - H_test)) / HARTREE,
                     **level_errors(out["orbital_energies"], reference)})
        history = model.history_
        print(_format(rows[-1:]), f"({len(history.train_loss)} epochs, best "
              f"{history.best_epoch})", flush=True)
    return rows


#: The network of the Hamiltonian route (examples/ethanol_hamiltonian_mpnn.yaml).
NETWORK = {"cutoff": 4.0, "n_features": 64, "n_interactions": 3, "n_hidden": [64],
           "epochs": 3000, "batch_size": 16, "learning_rate": 0.002, "patience": 100,
           "validation_fraction": 0.1}


def _format(rows) -> str:
    def cell(row, key, width, digits):
        return (f"{row[key]:>{width}.{digits}f}" if key in row else f"{'-':>{width}}")
    lines = []
    for r in rows:
        lines.append(f"{r['route']:<36}{r['n']:>6}{cell(r, 'occupied', 10, 1)}"
                     f"{cell(r, 'homo', 9, 1)}{cell(r, 'lumo', 9, 1)}"
                     f"{cell(r, 'gap', 9, 1)}{cell(r, 'h_mae', 10, 0)}"
                     f"{cell(r, 'fit', 9, 1)}{cell(r, 'predict', 10, 3)}")
    return "\n".join(lines)


HEADER = (f"{'route':<36}{'n':>6}{'occ meV':>10}{'HOMO':>9}{'LUMO':>9}{'gap':>9}"
          f"{'H µHa':>10}{'fit s':>9}{'s/struct':>10}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400, 700])
    parser.add_argument("--n-sparse", type=int, default=400)
    parser.add_argument("--hamiltonian-sizes", type=int, nargs="*", default=None,
                        help="sizes with the Hamiltonian routes (default: all)")
    parser.add_argument("--skip-ethanol", action="store_true")
    parser.add_argument("--skip-silicon", action="store_true")
    parser.add_argument("--gap-only", action="store_true",
                        help="only the gap with every shipped frame's orbital energies "
                             "(writes results_electronic_gap.txt)")
    parser.add_argument("--silicon-curve", type=int, nargs="*", default=None,
                        help="only the silicon learning curves at these training sizes "
                             "(writes results_electronic_silicon_curve.txt and .png)")
    parser.add_argument("--network-sizes", type=int, nargs="*", default=None,
                        help="only the Hamiltonian network at these training sizes "
                             "(writes results_electronic_network.txt)")
    parser.add_argument("--network-time", type=float, default=1800.0,
                        help="seconds of training per network")
    parser.add_argument("-o", "--output", default=str(ROOT / "results_electronic.txt"))
    args = parser.parse_args(argv)
    from atomlearn import threads

    threads.configure(None)
    lines = [f"bench_electronic.py, {threads.describe()}"]
    if args.gap_only:
        rows = gap_rows(LOWDIN_SIZE, 500, 1500)
        lines += ["", "ethanol gap: the same 100 held-out frames; direct sparse GPR (500 "
                  "sparse points per element) on the 700 training frames with Kohn-Sham "
                  "matrices and on 1500 of the 1600 frames with orbital energies; "
                  f"channel-wise Hamiltonian SA-GPR of {LOWDIN_SIZE} frames (400 sparse "
                  "blocks per channel) for the occupied levels, the gap on its HOMO "
                  "(sparse GPR of gap + HOMO on the 1500 frames with its levels), LUMO = "
                  "HOMO + gap; fit and prediction times include the Hamiltonian's",
                  HEADER, "-" * len(HEADER), _format(rows)]
        text = "\n".join(lines) + "\n"
        print(text)
        output = (ROOT / "results_electronic_gap.txt"
                  if args.output == parser.get_default("output") else Path(args.output))
        output.write_text(text)
        return 0
    if args.network_sizes is not None:
        output = (ROOT / "results_electronic_network.txt"
                  if args.output == parser.get_default("output") else Path(args.output))
        rows = network_rows(args.network_sizes or [400], args.network_time)
        lines += ["", "ethanol: the same 100 held-out frames; PaiNN with the equivariant "
                  f"operator head, {NETWORK}, at most {args.network_time:.0f} s of training",
                  HEADER, "-" * len(HEADER), _format(rows)]
        text = "\n".join(lines) + "\n"
        print(text)
        output.write_text(text)
        return 0
    if args.silicon_curve is not None:
        output = (ROOT / "results_electronic_silicon_curve.txt"
                  if args.output == parser.get_default("output") else Path(args.output))
        lines += ["", *silicon_curve(args.silicon_curve or [13, 26, 52],
                                     output.with_suffix(".png"))]
        text = "\n".join(lines) + "\n"
        print(text)
        output.write_text(text)
        return 0
    if not args.skip_ethanol:
        rows = ethanol_rows(args.sizes, args.n_sparse, args.hamiltonian_sizes)
        plot_curves(rows, Path(args.output).with_suffix(".png"))
        lines += ["", "ethanol: 100 held-out frames of the 800 with Kohn-Sham matrices "
                  f"(seed 0); Hamiltonian SA-GPR with {args.n_sparse} sparse blocks per "
                  "channel", HEADER, "-" * len(HEADER), _format(rows)]
    if not args.skip_silicon:
        lines += ["", *silicon_lines()]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
