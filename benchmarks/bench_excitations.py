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
  orbital pairs (from the same ground-state calculation's orbitals);
* Delta (KS), learned order, strengths on KS pairs (networks): the same baselines, but the
  network's state k starts from the k-th lowest Kohn-Sham pair (its energy difference and
  strength) and keeps it wherever the network's correction moves the state; states are
  sorted by predicted energy for the loss and the output (crossing-safe).

Measured: MAE of S1..S5 and of all ten energies, oscillator-strength MAE, the cosine
overlap of each held-out frame's broadened spectrum with its TDA one (width 0.25 eV), on
all held-out frames and on those where two of the six lowest states lie within 0.1 eV (a
crossing: which state is which is ill-defined there), and for the ensemble spectrum of the
held-out frames the peak-position error (each reference peak below the lowest 10th state,
where the spectrum is complete, to the nearest predicted peak) and the integrated-intensity
error, and the strength MAE on the crossing frames; for the best GPR route, also each
half of its prediction beside the TDA other (which of energies and strengths limits the
spectra). Then learning curves of every
route of both families (all-ten MAE and overlap against the number of training frames),
the ensemble UV-vis spectrum of the held-out frames by that model with
``atomlearn spectrum --kind uv-vis``, and the two crossing frames where the network's
learned order gains and loses most against its per-state twin (stick spectra of both and
of TDA), all to ``docs/images/excitations/``. One thread.
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
PAIRS = "Delta (KS), strengths on KS pairs"
PAIRS_LEARNED = "Delta (KS), learned order, strengths on KS pairs"
#: (naive, crossing-safe) network routes whose crossing frames are drawn
CROSSING_PAIR = ("per state, MPNN", "learned order, MPNN")


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
    out.append((PAIRS, make(pair_targets("sorted"))))
    if family == "MPNN":
        out.append((PAIRS_LEARNED, make(pair_targets("learned"))))
    return [(f"{name}, {family}", model) for name, model in out]


def pair_targets(order: str):
    """Energies Delta-learned from the Kohn-Sham differences, strengths from the KS pairs'
    strengths, in ``order``."""
    from atomlearn.targets import excitation_energies, oscillator_strengths

    return [excitation_energies(N_STATES, baseline="orbital_differences", order=order),
            oscillator_strengths(N_STATES, baseline="orbital_pairs", order=order)]


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
    row = {"route": name, "seconds": seconds, "overlap": float(np.mean(cos)), "cos": cos,
           "overlap_min": float(np.min(cos)), "overlap_crossing": float(np.mean(cos[crossing])),
           "peak_mev": 1000 * peak_error(grid, ens, ref, complete),
           "intensity_pct": 100 * (np.trapezoid(ens, grid) / np.trapezoid(ref, grid) - 1)}
    if e is not None:
        err = np.abs(e - true_e)
        row.update({f"S{k + 1}": 1000 * err[:, k].mean() for k in range(5)})
        row["all_mev"] = 1000 * err.mean()
        row["crossing_mev"] = 1000 * err[crossing].mean()
        row["f_mae"] = float(np.abs(f - true_f).mean())
        row["f_crossing"] = float(np.abs(f - true_f)[crossing].mean())
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
    drawn = {}
    for family in ("GPR", "MPNN"):
        for name, model in routes(family, network_seconds):
            t = time.perf_counter()
            model.fit(train)
            spectra, e, f = spectra_of(model.predict(test), options)
            rows.append(scores(name, time.perf_counter() - t, spectra, e, f, *judge))
            print(f"{name}: {rows[-1]['overlap']:.3f}", file=sys.stderr, flush=True)
            if name in CROSSING_PAIR:
                drawn[name] = (e, f, rows[-1]["cos"])
            if name == FIGURE_ROUTE:
                figure(model, test)
                # which half limits the spectra: each predicted half beside the TDA other
                for label, (ee, ff) in (("TDA energies + its strengths", (true_e, f)),
                                        ("its energies + TDA strengths", (e, true_f))):
                    rows.append(scores(f"{name}: {label}", 0.0,
                                       X.broadened(ee, ff, options), ee, ff, *judge))

    crossing_figure(test, drawn, judge, options)

    curves = {}
    for n in curve_sizes:
        for family in ("GPR", "MPNN"):
            for name, model in routes(family, network_seconds):
                row = next((r for r in rows if r["route"] == name), None)
                if n != n_train:             # the main table's models at n_train
                    model.fit(pool[:n])
                    row = scores(name, 0.0, *spectra_of(model.predict(test), options),
                                 *judge)
                curves.setdefault(name, []).append((n, row.get("all_mev"), row["overlap"]))
                print(f"curve {n} {name}: {row['overlap']:.3f}", file=sys.stderr, flush=True)
    return rows, curves, int(crossing.sum())


def crossing_figure(test, drawn: dict, judge, options) -> None:
    """Stick spectra (and their broadening) of TDA and of the two routes of
    ``CROSSING_PAIR`` on the crossing frames where the crossing-safe one gains most and
    loses most in overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from atomlearn.targets import excitations as X

    truth, true_e, true_f, crossing, grid = judge
    naive, safe = CROSSING_PAIR
    gain = np.where(crossing, drawn[safe][2] - drawn[naive][2], np.nan)
    frames = [int(np.nanargmax(gain)), int(np.nanargmin(gain))]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, k, what in zip(axes, frames, ("gains most", "loses most"), strict=True):
        for c, (label, e, f) in enumerate((("TDA", true_e[k], true_f[k]),
                                           (naive, *[v[k] for v in drawn[naive][:2]]),
                                           (safe, *[v[k] for v in drawn[safe][:2]]))):
            line = X.broadened(e[None], f[None], options)[0]
            ax.plot(grid, line, color=f"C{c}", label=label.replace(", MPNN", ", PaiNN"))
            ax.vlines(e, 0, f / (np.sqrt(2 * np.pi) * WIDTH), color=f"C{c}", alpha=0.6)
        ax.set(xlim=(true_e[k, 0] - 1, true_e[k, -1] + 0.5), xlabel="energy (eV)",
               title=f"held-out frame {test[k].info.get('md_frame', k)}: learned order "
                     f"{what} ({gain[k]:+.3f} overlap)")
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("absorption (1/eV), sticks: f x line peak")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(FIGURES / "crossing_frames.png", dpi=120)
    plt.close(fig)
    print(f"Wrote {FIGURES / 'crossing_frames.png'} (frames "
          f"{[int(test[k].info.get('md_frame', k)) for k in frames]})", file=sys.stderr)


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

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.6), sharex=True)
    # one colour per route, the same in both families
    kinds = list(dict.fromkeys(name.rsplit(", ", 1)[0] for name in curves))
    for row, family in zip(axes, ("GPR", "MPNN"), strict=True):
        left, right = row
        mine = [(name, p) for name, p in curves.items() if name.endswith(family)]
        for name, points in mine:
            n, mae, overlap = zip(*points, strict=True)
            style = {"color": f"C{kinds.index(name.rsplit(', ', 1)[0])}", "marker": "o",
                     "label": name.replace(", MPNN", ", PaiNN").replace(", GPR", "")}
            if mae[0] is not None:
                left.semilogx(n, mae, **style)
            right.semilogx(n, overlap, **style)
        for ax in row:
            ax.set_xticks(n, [str(v) for v in n])
            ax.minorticks_off()
            ax.grid(True, which="both", alpha=0.3)
        title = "sparse GPR" if family == "GPR" else "PaiNN"
        left.set(ylabel=f"{title}: all-10 energy MAE (meV)")
        right.set(ylabel=f"{title}: per-frame spectral overlap")
        right.legend(fontsize=7)
    for ax in axes[1]:
        ax.set_xlabel("training frames")
    fig.suptitle("Ethanol TDA excitations, 100 held-out frames", fontsize=10)
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
                                oscillator_strengths(N_STATES, order="learned")],
              PAIRS: pair_targets("sorted"), PAIRS_LEARNED: pair_targets("learned")}
    results: dict[str, list] = {name: [] for name in routes}
    for seed in seeds:
        for name, targets in routes.items():
            model = network(targets, seconds, seed).fit(train)
            row = scores(name, 0.0, *spectra_of(model.predict(test), options), *judge)
            results[name].append((row["overlap_crossing"], row["crossing_mev"],
                                  row["f_crossing"], row["overlap"], row["all_mev"],
                                  row["f_mae"]))
            print(f"seed {seed} {name}: crossing overlap {row['overlap_crossing']:.3f}, "
                  f"crossing MAE {row['crossing_mev']:.0f} meV, crossing f MAE "
                  f"{row['f_crossing']:.4f}, overlap {row['overlap']:.3f}, MAE "
                  f"{row['all_mev']:.0f} meV, f MAE {row['f_mae']:.4f}", flush=True)
    print(f"PaiNN ({seconds:.0f} s each), {n_train} training frames, seeds {seeds}; "
          f"{int(crossing.sum())} crossing frames of 100 held out; mean ± std over seeds")
    print("| route | overlap, crossing frames | MAE meV, crossing frames | f MAE, crossing "
          "frames | overlap, all | MAE meV, all | f MAE, all |")
    print("|---|" + "---:|" * 6)
    formats = ("{:.3f} ± {:.3f}", "{:.0f} ± {:.0f}", "{:.4f} ± {:.4f}") * 2
    for name, rows in results.items():
        v = np.array(rows)
        print(f"| {name}, PaiNN | " + " | ".join(
            f.format(m, d) for f, m, d in zip(formats, v.mean(0), v.std(0, ddof=1),
                                               strict=True)) + " |")
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
          "f MAE, crossing frames | spectral overlap (mean / min) | overlap, crossing "
          "frames | ensemble peak error meV | integrated intensity % | fit s |")
    print("|---|" + "---:|" * 14)
    for r in rows:
        cells = [f"{r[k]:.0f}" if k in r else "—"
                 for k in ("S1", "S2", "S3", "S4", "S5", "all_mev", "crossing_mev")]
        cells += [f"{r[k]:.4f}" if k in r else "—" for k in ("f_mae", "f_crossing")]
        cells += [f"{r['overlap']:.3f} / {r['overlap_min']:.3f}",
                  f"{r['overlap_crossing']:.3f}", f"{r['peak_mev']:.0f}",
                  f"{r['intensity_pct']:+.1f}", f"{r['seconds']:.0f}"]
        print(f"| {r['route']} | " + " | ".join(cells) + " |")
    print("\nlearning curves: training frames -> all-10 MAE meV / overlap")
    for name, points in curves.items():
        print(f"{name}: " + ", ".join(
            f"{n}: {'—' if m is None else f'{m:.0f}'} / {o:.3f}" for n, m, o in points))
    plot_curves(curves, FIGURES / "learning_curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
