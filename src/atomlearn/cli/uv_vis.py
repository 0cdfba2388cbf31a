"""The UV-vis absorption spectrum of an ensemble (``atomlearn spectrum --kind uv-vis MODEL
TRAJ``): a model's excitations for every frame, broadened and averaged (the nuclear
ensemble approach), over the reference ensemble when the frames carry TDA labels."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import threads
from ..errors import ConfigError
from ..metrics import dos_plot, matched_peaks
from ..models import load_model
from ..structures import read_structures
from ..targets import excitations as X

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    group = parser.add_argument_group("uv-vis")
    group.add_argument("--width", type=float, default=None,
                       help="eV: Gaussian std or Lorentzian half width of each line "
                            "(default: the model's absorption target, else 0.25)")
    group.add_argument("--line", choices=X.LINES, default=None, help="line shape")
    group.add_argument("--e-range", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                       help="eV: the spectrum's energy range (default: the model's, else "
                            "4-14)")


def _options(model, args) -> X.AbsorptionOptions:
    """The grid and line: the model's absorption target's, overridden by the options."""
    spec = next((s for s in model.target_specs
                 if s.metadata.get("builder") == "absorption"), None)
    base = X.absorption_options(spec) if spec is not None else X.AbsorptionOptions()
    if args.e_range:
        base.e_min, base.e_max = args.e_range
    base.width = args.width if args.width is not None else base.width
    base.line = args.line or base.line
    base.spacing = min(base.spacing, base.width / 2)
    base.check()
    return base


def spectra(model, frames, options: X.AbsorptionOptions
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Each frame's predicted absorption spectrum on the options' grid, and the predicted
    excitation energies (None for a model of the spectrum): the model's ``absorption``
    target when it learns one on that grid, else its excitation energies and oscillator
    strengths (negative predicted strengths taken as zero) broadened."""
    names = {s.name for s in model.target_specs}
    if {"excitation_energies", "oscillator_strengths"} <= names:
        pred = model.predict(frames, targets=["excitation_energies", "oscillator_strengths"])
        return X.broadened(pred["excitation_energies"],
                           np.clip(pred["oscillator_strengths"], 0.0, None), options
                           ), pred["excitation_energies"]
    spec = next((s for s in model.target_specs
                 if s.metadata.get("builder") == "absorption"), None)
    if spec is None:
        raise ConfigError(
            f"The model predicts {sorted(names)}: a UV-vis spectrum needs "
            "'excitation_energies' and 'oscillator_strengths', or an 'absorption' target.")
    own = X.absorption_options(spec)
    if not np.array_equal(own.grid, options.grid) or (own.width, own.line) != (
            options.width, options.line):
        raise ConfigError("The model learns the absorption spectrum on its own grid and "
                          f"line ({own.e_min}-{own.e_max} eV, {own.line} {own.width} eV); "
                          "leave --width, --line and --e-range out.")
    return model.predict(frames, targets=[spec.name])[spec.name], None


def run(args) -> int:
    if len(args.inputs) != 2:
        raise ConfigError(f"A UV-vis spectrum needs a model and frames: 'atomlearn spectrum "
                          f"--kind uv-vis MODEL TRAJECTORY'; got {args.inputs}.")
    model_path, trajectory = args.inputs
    model = load_model(model_path)
    frames = read_structures(trajectory)
    options = _options(model, args)
    log.info("predicting the excitations of %d frames with %s", len(frames),
             threads.describe())
    each, energies = spectra(model, frames, options)
    if energies is not None and not np.any((energies >= options.e_min)
                                           & (energies <= options.e_max)):
        raise ConfigError(
            f"The spectrum's range {options.e_min:g}-{options.e_max:g} eV misses every "
            f"predicted excitation (from {energies.min():.2f} to {energies.max():.2f} eV); "
            "widen --e-range to cover them.")
    grid, mean = options.grid, each.mean(axis=0)
    spread = each.std(axis=0) if len(frames) > 1 else None
    reference = None
    labelled = all("excitation_energies" in a.info and "oscillator_strengths" in a.info
                   for a in frames)
    if labelled:
        # the states the model predicts, so that both spectra sum the same lines
        n = next((s.shape[0] for s in model.target_specs
                  if s.name == "excitation_energies"), options.n_states)
        ref_energies = X.read_states(frames, "excitation_energies", n)
        reference = X.broadened(ref_energies, X.read_states(frames, "oscillator_strengths", n),
                                options).mean(axis=0)
        energies = ref_energies if energies is None else energies
    # above the highest state of any frame (less two widths) lines are missing
    complete = (float(energies[:, -1].min() - 2 * options.width)
                if energies is not None else None)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    dos_plot(grid, mean, out, spread=spread, reference=reference, unit="1/eV",
             ylabel="absorption (oscillator strength / eV)", xlabel="excitation energy (eV)",
             incomplete_above=complete,
             title=f"UV-vis of {Path(trajectory).name} ({len(frames)} frames, "
                   f"{options.line} {options.width:g} eV)")
    columns = [grid, mean, spread if spread is not None else np.zeros_like(mean)]
    header = "energy_eV,absorption,spread"
    if reference is not None:
        columns.append(reference)
        header += ",reference"
    np.savetxt(out.with_suffix(".csv"), np.column_stack(columns), delimiter=",",
               header=header, comments="")
    what = "one frame" if len(frames) == 1 else f"average of {len(frames)} frames"
    print(f"Wrote {out} and {out.with_suffix('.csv')} ({what}).")
    area = np.trapezoid(mean, grid)
    if complete is not None:
        print(f"  complete below {complete:.2f} eV (the lowest frame's highest state less "
              "two widths); lines above are missing")
    if reference is None:
        peaks, _ = matched_peaks(grid, mean, mean, below=complete)
        print(f"  peaks {', '.join(f'{e:.2f}' for e in peaks)} eV, integrated intensity "
              f"{area:.4g}")
        return 0
    ref_peaks, nearest = matched_peaks(grid, mean, reference, below=complete)
    pairs = ", ".join(f"{r:.2f} -> {p:.2f}" for r, p in zip(ref_peaks, nearest, strict=True))
    ref_area = np.trapezoid(reference, grid)
    print(f"  reference peaks -> predicted: {pairs} eV (mean shift "
          f"{1000 * np.nanmean(np.abs(nearest - ref_peaks)):.0f} meV)")
    print(f"  integrated intensity {area:.4g} (reference: {ref_area:.4g}; "
          f"{100 * (area / ref_area - 1):+.1f}%)")
    return 0
