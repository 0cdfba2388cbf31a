"""Plot the density of states a model predicts for structures (one, or the average over
an ensemble such as an MD trajectory) against the reference when the file has one."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import threads
from ..electronic import OBSERVABLES, dos_spec, structure_observables
from ..errors import ConfigError
from ..metrics import dos_plot
from ..models import load_model
from ..structures import read_structures
from ..targets import density_of_states as dos
from .predict import _reference

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("model", help="DOS model file written by 'atomlearn fit'")
    parser.add_argument("structures", help="structures (extended XYZ): one, or an ensemble "
                                           "whose average DOS is drawn")
    parser.add_argument("-o", "--output", required=True,
                        help="PNG to write; a CSV with the same stem is written beside it")
    parser.add_argument("--temperature", type=float, default=300.0,
                        help="K, for the Fermi level and heat capacity")


def run(args) -> int:
    model = load_model(args.model)
    spec = dos_spec(model)
    if spec is None:
        raise ConfigError(f"{args.model} predicts {sorted(model.supported_targets)}, not a "
                          "density of states; fit one with 'targets: {dos: {...}}'.")
    structures = read_structures(args.structures)
    log.info("predicting the DOS of %d structures with %s", len(structures),
             threads.describe())
    pred, std = model.predict(structures, return_std=True)
    values, stds = structure_observables(model, structures, pred, std,
                                         temperature=args.temperature)
    options = dos.dos_options(spec)
    grid = options.grid
    mean = pred[spec.name].mean(axis=0)
    # the model's std of the ensemble mean if frames were independent is smaller; the
    # band shows the average frame's uncertainty, which is what each prediction carries
    model_std = np.sqrt(np.mean(std[spec.name] ** 2, axis=0))
    spread = pred[spec.name].std(axis=0) if len(structures) > 1 else None
    ref = _reference(model, structures).get(spec.name)
    ref_mean = np.nanmean(ref, axis=0) if ref is not None else None
    out = Path(args.output)
    what = "one structure" if len(structures) == 1 else f"average of {len(structures)} frames"
    # the Fermi level on the grid's scale: absolute less the predicted reference level
    level = values["fermi_level"] - pred.get(f"{spec.name}_reference", 0.0)
    dos_plot(grid, mean, out, std=model_std, spread=spread, reference=ref_mean,
             fermi_level=float(np.nanmean(level)),
             unit=spec.unit,
             xlabel=f"E - E_ref (eV; reference: {options.reference})",
             title=f"DOS of {Path(args.structures).name} ({what})")
    table = np.column_stack([grid, mean, model_std] + ([ref_mean] if ref is not None else []))
    header = "energy_eV,dos,dos_std" + (",reference" if ref is not None else "")
    np.savetxt(out.with_suffix(".csv"), table, delimiter=",", header=header, comments="")
    print(f"Wrote {out} and {out.with_suffix('.csv')} ({what}).")
    for name, unit in OBSERVABLES.items():
        v, s = values[name], stds.get(name, np.zeros_like(values[name]))
        print(f"  {name}: {np.nanmean(v):.5g} ± {np.sqrt(np.nanmean(s**2)):.2g} {unit}"
              + (f" (spread over frames {np.nanstd(v):.2g})" if len(v) > 1 else ""))
    return 0
