"""Electron densities of ethanol: SA-GPR of density-fitting coefficients (Euclidean and
Coulomb-metric loss) and the message-passing network route, against the DFT density and
as starting guesses for PySCF's SCF beside PySCF's own guesses.

    python benchmarks/bench_density.py [--sizes 50 100 200 400 800] [--n-scf 20]
                                       [--network-sizes 200 800] [--network-time 600]
                                       [--skip-scf]
    python benchmarks/bench_density.py --scf-only [--n-scf 20]

Routes: SA-GPR per (element, lambda) channel with the Euclidean loss of the coefficients
and re-solved in the Coulomb metric; the PaiNN network with the equivariant density head
(Coulomb-metric loss, and the Euclidean loss at the smallest network size), trained for at
most ``--network-time`` seconds. The Coulomb-loss models of the largest sizes are saved in
``benchmarks/out/``; ``--scf-only`` reruns the PySCF section with them.

Data: the 1,600 shipped frames (PBE/def2-SVP density fitted in def2-universal-jkfit),
100 held out (seed 0), training sets drawn from the rest. On the held-out frames:

* error of the predicted coefficients in the Coulomb metric, relative to the density
  (:math:`\\sqrt{\\sum \\delta c^TJ\\delta c / \\sum c^TJc}`, %), the electrons before
  normalisation, the dipole of the predicted density (e Å) against the DFT dipole and
  against a direct SA-GPR dipole model trained on the same frames;
* on ``--n-scf`` of them, with the converged PySCF density D: the integrated absolute
  error :math:`100\\int|\\rho - \\rho_D|/N` (% of electrons) of the predicted density and
  of the reference fit (the floor); SCF cycles and wall time from PySCF's ``minao``,
  ``atom`` and ``huckel`` guesses, from the reference coefficients and from the predicted
  density (model prediction and the Kohn-Sham start included in its time), all to the
  labels' settings (conv_tol 1e-9); the one-shot HOMO, LUMO and gap of the predicted
  density's Kohn-Sham matrix against the converged ones (meV).

Published anchors (not run: SALTED is not installable here): SALTED tutorials reach about
0.5 % density error; predicted SCF guesses save 27 % (ChargE3Net), 33 % (SCFbench) and
51 % (ELECTRA) of the iterations against standard guesses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
N_TEST = 100


def split(seed: int = 0):
    from atomlearn.datasets import load_ethanol_densities

    frames = load_ethanol_densities(":")
    order = np.random.default_rng(seed).permutation(len(frames))
    return [frames[i] for i in order[N_TEST:]], [frames[i] for i in order[:N_TEST]]


def coefficients(frames) -> np.ndarray:
    return np.stack([a.info["density_coefficients"] for a in frames])


def coulomb_error(C, frames) -> float:
    """Relative error (%) in the Coulomb metric."""
    from atomlearn.targets.density import coulomb_metric

    err = ref = 0.0
    for c, a in zip(C, frames, strict=True):
        J, y = coulomb_metric(a), a.info["density_coefficients"]
        err += (c - y) @ J @ (c - y)
        ref += y @ J @ y
    return 100 * float(np.sqrt(err / ref))


def sa_gpr(loss: str, n_sparse: int):
    from atomlearn.models import SymmetryAdaptedGPRModel
    from atomlearn.targets import density_coefficients

    weight = 100.0 if loss == "coulomb" else 0.0
    return SymmetryAdaptedGPRModel(
        density_coefficients(335), n_sparse=n_sparse, sigma=1e-2, hyperparameters="fixed",
        descriptor={"cutoff": 4.0, "n_max": 6, "l_max": 4, "atom_width": 0.5},
        density={"metric_weight": weight, "metric_structures": 1000,
                 "metric_iterations": 200})


def network(loss: str, max_time: float):
    from atomlearn.models import model_class
    from atomlearn.targets import density_coefficients

    return model_class("mpnn")(
        density_coefficients(335), density_loss=loss, cutoff=4.0, n_features=32,
        n_interactions=3, n_hidden=[64], epochs=100000, max_time=max_time, batch_size=10,
        learning_rate=2e-3, patience=200)


def dipole_model(n_sparse: int):
    from atomlearn.models import SymmetryAdaptedGPRModel

    return SymmetryAdaptedGPRModel(n_sparse=n_sparse, hyperparameters="likelihood",
                                   descriptor={"cutoff": 4.0, "n_max": 6, "l_max": 4})


def evaluate(model, test) -> dict:
    from atomlearn.targets import density as dens

    t = time.perf_counter()
    out = model.predict(test, targets=["density_coefficients", "dipole"])
    predict_time = (time.perf_counter() - t) / len(test)
    C = out["density_coefficients"]
    spec = model.target_specs[0]
    if hasattr(model, "blocks_"):
        raw = model.blocks_.predict(test)                   # before normalising
    else:
        raw = model._predict(test, [spec.name], False)[0][spec.name]
    electrons = dens.electrons(raw, test)
    reference = np.stack([a.get_dipole_moment() for a in test])
    return {"coulomb_pct": coulomb_error(C, test),
            "rmse": float(np.sqrt(np.mean((C - coefficients(test)) ** 2))),
            "electron_error": float(np.mean(np.abs(electrons - 26.0))),
            "dipole_mae": float(np.mean(np.abs(out["dipole"] - reference))),
            "predict_s": predict_time}


def scf_section(models: dict, test, log) -> dict:
    """Grid errors, SCF guesses and one-shot levels on ``test`` (``models``: name ->
    density model whose predictions start the SCF).

    Every SCF's clock holds the molecule, the grid, the guess and the cycles
    (:func:`atomlearn.electron_density.converged_scf`; a density's start integrates its
    XC on PySCF's level-0 grid, its one-shot levels come from a start on the SCF's grid).
    A predicted start adds the model's prediction, timed two ways: predicting all
    ``test`` frames in one call (per frame; as when starting the SCFs of a trajectory)
    and one frame alone.
    """
    from ase.units import Hartree

    from atomlearn import electron_density as ed

    predicted, per_frame, one_frame = {}, {}, {}
    for name, model in models.items():
        model.predict(test[:1])                     # warm the descriptor's calculators
        t = time.perf_counter()
        predicted[name] = model.predict(test)["density_coefficients"]
        per_frame[name] = (time.perf_counter() - t) / len(test)
        t = time.perf_counter()
        model.predict(test[:1])
        one_frame[name] = time.perf_counter() - t
    rows = []
    for k, a in enumerate(test):
        row = {}
        for guess in ("minao", "atom", "huckel"):
            t = time.perf_counter()
            mf, _ = ed.converged_scf(a, guess)
            row[guess] = (mf.cycles, time.perf_counter() - t, mf.e_tot)
            if guess == "minao":
                dm, levels = mf.make_rdm1(), mf.mo_energy * Hartree
        for name in ("reference", *models):
            c = (a.info["density_coefficients"] if name == "reference" else
                 predicted[name][k])
            t = time.perf_counter()
            mf, _ = ed.converged_scf(a, c)
            row[name] = (mf.cycles, time.perf_counter() - t + per_frame.get(name, 0.0),
                         mf.e_tot)
            start = ed.start_from_density(ed.kohn_sham(a), a, c)     # on the SCF's grid
            row[f"iae/{name}"] = ed.integrated_error(a, c, dm)
            row[f"fit/{name}"] = ed.integrated_error(a, c, reference=a.info[
                "density_coefficients"])
            row[f"homo/{name}"] = start.homo - levels[12]
            row[f"lumo/{name}"] = start.lumo - levels[13]
            row[f"gap/{name}"] = (start.lumo - start.homo) - (levels[13] - levels[12])
        row["energy_spread"] = max(abs(v[2] - row["minao"][2]) for v in row.values()
                                   if isinstance(v, tuple))
        rows.append(row)
        log(f"  scf frame {k}: cycles " + ", ".join(
            f"{g} {row[g][0]}" for g in ("minao", "atom", "huckel", "reference", *models))
            + "; IAE " + ", ".join(f"{g} {row[f'iae/{g}']:.2f} %"
                                   for g in ("reference", *models))
            + f"; |dE| max {row['energy_spread']:.1e} Ha")
    out = {}
    for guess in ("minao", "atom", "huckel", "reference", *models):
        out[guess] = {"cycles": float(np.mean([r[guess][0] for r in rows])),
                      "seconds": float(np.mean([r[guess][1] for r in rows]))}
    for guess in ("reference", *models):
        out[guess]["iae"] = float(np.mean([r[f"iae/{guess}"] for r in rows]))
        out[guess]["fit"] = float(np.mean([r[f"fit/{guess}"] for r in rows]))
        for name in ("homo", "lumo", "gap"):
            out[guess][name] = 1e3 * float(np.mean(np.abs([r[f"{name}/{guess}"]
                                                           for r in rows])))
    for name in models:
        out[name]["predict_batched"] = per_frame[name]
        out[name]["predict_one"] = one_frame[name]
    out["energy_spread"] = float(max(r["energy_spread"] for r in rows))
    return out


def plot_curves(curve: dict, path: Path) -> None:
    """Coulomb-metric error and dipole error of the predicted densities against the
    training-set size, one line per route and loss."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.8), dpi=120, layout="constrained")
    axes = fig.subplots(1, 2)
    for name, points in curve.items():
        n = [p["n"] for p in points]
        style = "-o" if name.endswith("coulomb") else "--s"
        axes[0].loglog(n, [p["coulomb_pct"] for p in points], style, label=name)
        axes[1].loglog(n, [p["dipole_mae"] for p in points], style, label=name)
    axes[0].set_ylabel("density error, Coulomb metric (%)")
    axes[1].set_ylabel("dipole MAE of the density (e·Å)")
    for ax in axes:
        ax.set_xlabel("training frames")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle("ethanol densities (def2-universal-jkfit), 100 held-out frames")
    fig.savefig(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    parser.add_argument("--n-sparse", type=int, default=100)
    parser.add_argument("--n-scf", type=int, default=20)
    parser.add_argument("--skip-scf", action="store_true")
    parser.add_argument("--network-sizes", type=int, nargs="*", default=[200, 800])
    parser.add_argument("--network-time", type=float, default=600.0)
    parser.add_argument("-o", "--output", default=str(ROOT / "results_density.txt"))
    parser.add_argument("--scf-only", action="store_true",
                        help="only the PySCF section, with the Coulomb-loss models a full "
                             "run saved in out/ (writes results_density_scf.txt)")
    parser.add_argument("--plot-only", action="store_true",
                        help="only redraw out/density_curve.png from out/density_curve.json")
    args = parser.parse_args(argv)
    curve_json = ROOT / "out" / "density_curve.json"
    if args.plot_only:
        plot_curves(json.loads(curve_json.read_text()), ROOT / "out" / "density_curve.png")
        return 0
    from atomlearn import threads

    n_threads = threads.configure(None)
    lines: list[str] = []
    if args.scf_only and args.output == parser.get_default("output"):
        args.output = str(ROOT / "results_density_scf.txt")
    out_path = Path(args.output)

    def log(line: str) -> None:
        print(line, flush=True)
        lines.append(line)
        out_path.write_text("\n".join(lines) + "\n")

    train_pool, test = split()
    log(f"# bench_density: {len(train_pool)} training frames, {len(test)} held out; "
        f"SA-GPR n_sparse {args.n_sparse} per element and channel; threads {n_threads}")
    if not args.scf_only:
        log("route     loss      n_train  Coulomb %  coef RMSE  |N-26| raw  dipole MAE  "
            "direct dipole MAE  fit s  predict s/frame")
    curve: dict = {}
    order = np.random.default_rng(1).permutation(len(train_pool))
    reference = np.stack([a.get_dipole_moment() for a in test])
    best: dict = {}
    direct_mae: dict = {}

    def run(route: str, loss: str, n: int, model) -> None:
        t = time.perf_counter()
        model.fit([train_pool[i] for i in order[:n]])
        fit_s = time.perf_counter() - t
        r = evaluate(model, test)
        curve.setdefault(f"{route}/{loss}", []).append({"n": n, **r, "fit_s": fit_s})
        log(f"{route:9s} {loss:9s} {n:7d}  {r['coulomb_pct']:9.3f}  {r['rmse']:9.2e}  "
            f"{r['electron_error']:10.4f}  {r['dipole_mae']:10.4f}  "
            f"{direct_mae.get(n, float('nan')):17.4f}  {fit_s:5.0f}  {r['predict_s']:.3f}")
        if loss == "coulomb":
            best[route] = (n, model)
            model.save(ROOT / "out" / f"density_{route}.alm")
        curve_json.parent.mkdir(exist_ok=True)
        curve_json.write_text(json.dumps(curve, indent=1))
        plot_curves(curve, curve_json.with_suffix(".png"))

    if args.scf_only:
        from atomlearn.models import load_model

        for route in ("sa_gpr", "mpnn"):
            path = ROOT / "out" / f"density_{route}.alm"
            if path.exists():
                model = load_model(path)
                best[route] = (model.n_train_, model)
        args.sizes, args.network_sizes = [], []
    for n in args.sizes:
        direct = dipole_model(args.n_sparse).fit([train_pool[i] for i in order[:n]])
        direct_mae[n] = float(np.mean(np.abs(direct.predict(test)["dipole"] - reference)))
        for loss in ("euclidean", "coulomb"):
            run("sa_gpr", loss, n, sa_gpr(loss, args.n_sparse))
    for k, n in enumerate(args.network_sizes):
        for loss in (("euclidean", "coulomb") if k == 0 else ("coulomb",)):
            run("mpnn", loss, n, network(loss, args.network_time))
    if not args.skip_scf and best:
        models = {f"{route} ({n})": model for route, (n, model) in best.items()}
        log(f"\n# PySCF on {args.n_scf} held-out frames; guesses from the Coulomb-loss "
            f"models {sorted(models)}")
        scf = scf_section(models, test[: args.n_scf], log)
        log("guess              SCF cycles  cycles saved vs minao  wall s  saved vs minao  "
            "(one-frame prediction: wall s, saved)  IAE %: vs DFT  vs fit  "
            "one-shot HOMO/LUMO/gap MAE meV")
        base = scf["minao"]
        for guess in ("minao", "atom", "huckel", "reference", *models):
            g = scf[guess]
            alone = g["seconds"] - g.get("predict_batched", 0.0) + g.get("predict_one", 0.0)
            extra = (f"  {g['iae']:11.3f}  {g['fit']:7.3f}  {g['homo']:.1f} / "
                     f"{g['lumo']:.1f} / {g['gap']:.1f}" if "iae" in g else "")
            log(f"{guess:17s}  {g['cycles']:10.2f}  "
                f"{100 * (1 - g['cycles'] / base['cycles']):19.1f} %  {g['seconds']:6.2f}  "
                f"{100 * (1 - g['seconds'] / base['seconds']):12.1f} %  "
                + (f"{alone:27.2f}, {100 * (1 - alone / base['seconds']):5.1f} %"
                   if "predict_one" in g else " " * 35) + extra)
        for name in models:
            log(f"{name}: prediction {1e3 * scf[name]['predict_batched']:.0f} ms per frame "
                f"({len(test[: args.n_scf])} in one call), "
                f"{1e3 * scf[name]['predict_one']:.0f} ms for one frame alone")
        log("(reference: the shipped fitted coefficients; its IAE vs DFT is the fitting "
            "floor; IAE = 100 * integral |rho - rho_ref| / 26 on PySCF's level-3 grid)")
        log(f"largest converged-energy difference between guesses: "
            f"{scf['energy_spread']:.1e} Ha")
    return 0


if __name__ == "__main__":
    sys.exit(main())
