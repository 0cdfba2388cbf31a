"""Excitations of ethanol: per-state regression, the spectrum on a grid and Delta-learning.

    python benchmarks/bench_excitations.py [--n-train 250] [--network-seconds 90]
    python benchmarks/bench_excitations.py --crossing-seeds 0 1 2 3

The shipped 350 TDA frames (10 singlet excitations each), the same 100 held out for every
route (seeded order). Routes, each by sparse GPR on SOAP (200 CUR points per element,
validation hyperparameters) and by a PaiNN message-passing network (early stopping on a
held-out tenth, at most ``--network-seconds`` of training):

* mean: the training-mean energies and strengths per state;
* per state: excitation energies and oscillator strengths regressed state by state (sorted
  by energy: breaks where states cross);
* spectrum: the absorption spectrum on a grid learned directly (Gaussian lines of 0.25 eV;
  crossing-safe: the spectrum does not care which state is which);
* learned order (networks): energies and strengths of states in an order the network
  keeps for itself, sorted by predicted energy for the loss and the output (crossing-safe:
  the loss does not depend on the labels' order);
* Delta (KS): energies learned as corrections to the lowest occupied-to-virtual
  differences of the frame's Kohn-Sham orbital energies (a ground-state calculation,
  about half the cost of the TDA one); strengths per state;
* Delta (learned KS): the same with orbital energies predicted by a sparse GPR fitted to
  the orbital energies of the 1500 frames not held out (no calculation at all);
* Delta (KS), strengths on KS pairs: energies as Delta (KS), and the strengths learned as
  corrections to a per-state line in the oscillator strengths of the lowest Kohn-Sham
  orbital pairs (from the same ground-state calculation's orbitals).

Measured: MAE of S1..S5 and of all ten energies, oscillator-strength MAE, the cosine
overlap of each held-out frame's broadened spectrum with its TDA one (width 0.25 eV), on
all held-out frames and on those where two of the six lowest states lie within 0.1 eV (a
crossing: which state is which is ill-defined there), and for the ensemble spectrum of the
held-out frames the peak-position error (each reference peak below the lowest 10th state,
where the spectrum is complete, to the nearest predicted peak) and the integrated-intensity
error; for the best GPR route, also each half of its prediction beside the TDA other
(which of energies and strengths limits the spectra). Then learning curves of every GPR
route (all-ten MAE and overlap against the number of training frames) and the ensemble
UV-vis spectrum of the held-out frames by that model with
``atomlearn spectrum --kind uv-vis``, both to ``docs/images/excitations/``. One thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

N_STATES, WIDTH, CROSSING = 10, 0.25, 0.1
HERE = Path(__file__).resolve().parent
FIGURE_ROUTE = "Delta (KS), strengths on KS pairs, GPR"
FIGURES = HERE.parent / "docs" / "images" / "excitations"
FIGURE = FIGURES / "ethanol_uvvis.png"


def figure(model, test) -> None:
    """The README's picture: ``atomlearn spectrum --kind uv-vis`` with the model on the
    held-out frames (their TDA ensemble spectrum drawn beside it)."""
    import tempfile

    from ase.io import write

    from atomlearn.cli.main import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model.alm")
        write(Path(tmp) / "held_out.xyz", test)
        FIGURE.parent.mkdir(parents=True, exist_ok=True)
        cli(["spectrum", "--kind", "uv-vis", str(Path(tmp) / "model.alm"),
             str(Path(tmp) / "held_out.xyz"), "-o", str(FIGURE), "--width", str(WIDTH)])


def split():
    from atomlearn.datasets import load_ethanol_excitations

    frames = load_ethanol_excitations()
    order = np.random.default_rng(0).permutation(len(frames))
    return [frames[i] for i in order[100:]], [frames[i] for i in order[:100]]


def gpr(targets):
    from atomlearn.models import SparseGPRModel

    return SparseGPRModel(targets, n_sparse=200, hyperparameters="validation")


def network(targets, seconds: float, seed: int = 0):
    from atomlearn.models import MessagePassingModel

    return MessagePassingModel(targets, cutoff=5.0, n_features=32, n_interactions=2,
                               epochs=100_000, max_time=seconds, batch_size=8,
                               learning_rate=2e-3, patience=100, random_state=seed)


def learned_levels(train, test) -> None:
    """Put orbital energies predicted by a GPR fitted to the other 1500 frames into each
    frame's info as ``pred_orbital_energies`` (the 30 lowest levels)."""
    from atomlearn.datasets import load_ethanol
    from atomlearn.targets import orbital_energies

    held = {a.info["md_frame"] for a in test}
    others = [a for a in load_ethanol() if a.info["md_frame"] not in held]
    spec = orbital_energies(30)
    for atoms in others:
        atoms.info[spec.name] = atoms.info[spec.name][:30]
    model = gpr([spec]).fit(others)
    for frames in (train, test):
        for atoms, levels in zip(frames, model.predict(frames)[spec.name], strict=True):
            atoms.info["pred_orbital_energies"] = levels


def routes(family, network_seconds: float):
    """(label, targets, the model for them) of each route, for ``family`` 'GPR' or 'MPNN'."""
    from atomlearn.targets import absorption, excitation_energies, oscillator_strengths

    make = gpr if family == "GPR" else (lambda t: network(t, network_seconds))
    strengths = oscillator_strengths(N_STATES)
    out = [("per state", make([excitation_energies(N_STATES), strengths])),
           ("spectrum", make([absorption(width=WIDTH, n_states=N_STATES)])),
           ("Delta (KS)", make([excitation_energies(N_STATES, baseline="orbital_differences"),
                                strengths]))]
    if family == "GPR":
        out.append(("Delta (learned KS)", make([
            excitation_energies(N_STATES, baseline="orbital_differences",
                                levels="pred_orbital_energies"), strengths])))
    else:
        out.insert(2, ("learned order", make([
            excitation_energies(N_STATES, order="learned"),
            oscillator_strengths(N_STATES, order="learned")])))
    out.append(("Delta (KS), strengths on KS pairs", make([
        excitation_energies(N_STATES, baseline="orbital_differences"),
        oscillator_strengths(N_STATES, baseline="orbital_pairs")])))
    return [(f"{name}, {family}", model) for name, model in out]


def spectra_of(prediction, options):
    from atomlearn.targets import excitations as X

    if "absorption" in prediction:
        return prediction["absorption"], None, None
    e, f = prediction["excitation_energies"], np.clip(prediction["oscillator_strengths"], 0, None)
    return X.broadened(e, f, options), e, f


def scores(name, seconds, spectra, e, f, truth, true_e, true_f, crossing, grid) -> dict:
    cos = np.sum(spectra * truth, 1) / (np.linalg.norm(spectra, axis=1)
                                        * np.linalg.norm(truth, axis=1))
    ens, ref = spectra.mean(0), truth.mean(0)
    # above the lowest 10th state of any frame (less two widths) the spectrum is truncated
    complete = true_e[:, -1].min() - 2 * WIDTH
    row = {"route": name, "seconds": seconds, "overlap": float(np.mean(cos)),
           "overlap_min": float(np.min(cos)), "overlap_crossing": float(np.mean(cos[crossing])),
           "peak_mev": 1000 * peak_error(grid, ens, ref, complete),
           "intensity_pct": 100 * (np.trapezoid(ens, grid) / np.trapezoid(ref, grid) - 1)}
    if e is not None:
        err = np.abs(e - true_e)
        row.update({f"S{k + 1}": 1000 * err[:, k].mean() for k in range(5)})
        row["all_mev"] = 1000 * err.mean()
        row["crossing_mev"] = 1000 * err[crossing].mean()
        row["f_mae"] = float(np.abs(f - true_f).mean())
    return row


def held_out_judge(test):
    """The plain energy and strength targets, the broadening options, and what
    :func:`scores` compares with: the held-out frames' TDA spectra, energies, strengths,
    which of them have a crossing, and the energy grid."""
    from atomlearn.targets import absorption, excitation_energies, oscillator_strengths
    from atomlearn.targets import excitations as X

    energies, strengths = excitation_energies(N_STATES), oscillator_strengths(N_STATES)
    options = X.absorption_options(absorption(width=WIDTH, n_states=N_STATES))
    true_e, true_f = energies.read(test), strengths.read(test)
    truth = X.broadened(true_e, true_f, options)
    crossing = np.diff(true_e[:, :6], axis=1).min(1) < CROSSING
    return energies, strengths, options, (truth, true_e, true_f, crossing, options.grid)


def run(n_train: int, network_seconds: float, curve_sizes) -> tuple[list[dict], dict, int]:
    from atomlearn import threads
    from atomlearn.targets import excitations as X

    threads.configure(1)
    pool, test = split()
    train = pool[:n_train]
    learned_levels(pool, test)
    energies, strengths, options, judge = held_out_judge(test)
    true_e, true_f, crossing = judge[1], judge[2], judge[3]

    mean = {"excitation_energies": np.tile(energies.read(train).mean(0), (len(test), 1)),
            "oscillator_strengths": np.tile(strengths.read(train).mean(0), (len(test), 1))}
    rows = [scores("mean", 0.0, *spectra_of(mean, options), *judge)]
    for family in ("GPR", "MPNN"):
        for name, model in routes(family, network_seconds):
            t = time.perf_counter()
            model.fit(train)
            prediction = model.predict(test)
            rows.append(scores(name, time.perf_counter() - t,
                               *spectra_of(prediction, options), *judge))
            print(f"{name}: {rows[-1]['overlap']:.3f}", file=sys.stderr, flush=True)
            if name == FIGURE_ROUTE:
                figure(model, test)
                # which half limits the spectra: each predicted half beside the TDA other
                e, f = spectra_of(prediction, options)[1:]
                for label, (ee, ff) in (("TDA energies + its strengths", (true_e, f)),
                                        ("its energies + TDA strengths", (e, true_f))):
                    rows.append(scores(f"{name}: {label}", 0.0,
                                       X.broadened(ee, ff, options), ee, ff, *judge))

    curves = {}
    for n in curve_sizes:
        for name, model in routes("GPR", network_seconds):
            model.fit(pool[:n])
            row = scores(name, 0.0, *spectra_of(model.predict(test), options), *judge)
            curves.setdefault(name, []).append((n, row.get("all_mev"), row["overlap"]))
    return rows, curves, int(crossing.sum())


def peak_error(grid, predicted, reference, complete: float) -> float:
    """Mean distance (eV) from each peak of the reference ensemble spectrum below
    ``complete`` to the nearest predicted peak."""
    from atomlearn.metrics import matched_peaks

    ref, nearest = matched_peaks(grid, predicted, reference, below=complete)
    return float(np.mean(np.abs(nearest - ref)))


def plot_curves(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.8))
    for k, (name, points) in enumerate(curves.items()):
        n, mae, overlap = zip(*points, strict=True)
        style = {"color": f"C{k}", "marker": "o", "label": name}
        if mae[0] is not None:
            left.semilogx(n, mae, **style)
        right.semilogx(n, overlap, **style)
    for ax in (left, right):
        ax.set_xticks(n, [str(v) for v in n])
        ax.minorticks_off()
    left.set(xlabel="training frames", ylabel="excitation energies, all 10: MAE (meV)")
    right.set(xlabel="training frames", ylabel="per-frame spectral overlap")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle("Ethanol TDA excitations, 100 held-out frames (sparse GPR)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def crossing_seeds(n_train: int, seconds: float, seeds: list[int]) -> int:
    """The two network routes, per state and learned order, trained from several seeds:
    each seed's overlap and energy MAE on the crossing frames and on all, then mean and
    spread (is the learned order's advantage at crossings larger than the spread of
    trainings?)."""
    from atomlearn import threads
    from atomlearn.targets import excitation_energies, oscillator_strengths

    threads.configure(1)
    pool, test = split()
    train = pool[:n_train]
    energies, strengths, options, judge = held_out_judge(test)
    crossing = judge[3]
    routes = {"per state": [energies, strengths],
              "learned order": [excitation_energies(N_STATES, order="learned"),
                                oscillator_strengths(N_STATES, order="learned")]}
    results: dict[str, list] = {name: [] for name in routes}
    for seed in seeds:
        for name, targets in routes.items():
            model = network(targets, seconds, seed).fit(train)
            row = scores(name, 0.0, *spectra_of(model.predict(test), options), *judge)
            results[name].append((row["overlap_crossing"], row["crossing_mev"],
                                  row["overlap"], row["all_mev"]))
            print(f"seed {seed} {name}: crossing overlap {row['overlap_crossing']:.3f}, "
                  f"crossing MAE {row['crossing_mev']:.0f} meV, overlap "
                  f"{row['overlap']:.3f}, MAE {row['all_mev']:.0f} meV", flush=True)
    print(f"PaiNN ({seconds:.0f} s each), {n_train} training frames, seeds {seeds}; "
          f"{int(crossing.sum())} crossing frames of 100 held out; mean ± std over seeds")
    print("| route | overlap, crossing frames | MAE meV, crossing frames | overlap, all | "
          "MAE meV, all |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in results.items():
        v = np.array(rows)
        print(f"| {name}, PaiNN | " + " | ".join(
            f"{m:.3f} ± {d:.3f}" if k in (0, 2) else f"{m:.0f} ± {d:.0f}"
            for k, (m, d) in enumerate(zip(v.mean(0), v.std(0, ddof=1), strict=True)))
            + " |")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=250)
    p.add_argument("--network-seconds", type=float, default=90.0)
    p.add_argument("--curve-sizes", type=int, nargs="+", default=[25, 50, 100, 250])
    p.add_argument("--crossing-seeds", type=int, nargs="+", default=None,
                   help="only the two network routes from these seeds, on the crossing "
                        "frames")
    args = p.parse_args(argv)
    if args.crossing_seeds:
        return crossing_seeds(args.n_train, args.network_seconds, args.crossing_seeds)
    rows, curves, n_crossing = run(args.n_train, args.network_seconds, args.curve_sizes)
    print(f"ethanol TDA, {args.n_train} training frames, 100 held out (crossing: two of "
          f"the six lowest states within {CROSSING} eV, "
          f"{n_crossing} frames); energies in meV")
    print("| route | S1 | S2 | S3 | S4 | S5 | all 10 | all 10, crossing frames | f MAE | "
          "spectral overlap (mean / min) | overlap, crossing frames | ensemble peak error "
          "meV | integrated intensity % | fit s |")
    print("|---|" + "---:|" * 13)
    for r in rows:
        cells = [f"{r[k]:.0f}" if k in r else "—"
                 for k in ("S1", "S2", "S3", "S4", "S5", "all_mev", "crossing_mev")]
        cells.append(f"{r['f_mae']:.4f}" if "f_mae" in r else "—")
        cells += [f"{r['overlap']:.3f} / {r['overlap_min']:.3f}",
                  f"{r['overlap_crossing']:.3f}", f"{r['peak_mev']:.0f}",
                  f"{r['intensity_pct']:+.1f}", f"{r['seconds']:.0f}"]
        print(f"| {r['route']} | " + " | ".join(cells) + " |")
    print("\nlearning curves (GPR): training frames -> all-10 MAE meV / overlap")
    for name, points in curves.items():
        print(f"{name}: " + ", ".join(
            f"{n}: {'—' if m is None else f'{m:.0f}'} / {o:.3f}" for n, m, o in points))
    plot_curves(curves, FIGURES / "learning_curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
