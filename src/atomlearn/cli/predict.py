"""Predict structures with a fitted model; write pred_<name> and pred_<name>_std."""

from __future__ import annotations

import logging

import numpy as np

from .. import threads
from ..electronic import dos_spec, structure_observables
from ..errors import DataError
from ..metrics import error_report
from ..models import load_model
from ..structures import KeySpec, read_structures, write_predictions
from ..targets import Dataset

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file written by 'atomlearn fit'")
    parser.add_argument("structures", help="structures to predict (extended XYZ)")
    parser.add_argument("-o", "--output", required=True, help="extended XYZ to write")
    parser.add_argument("--no-std", action="store_true",
                        help="skip the predictive standard deviations")


def run(args) -> int:
    model = load_model(args.model)
    structures = read_structures(args.structures)
    log.info("predicting %d structures with %s", len(structures), threads.describe())
    std = None
    if args.no_std or not model.provides_uncertainty:
        pred = model.predict(structures)
    else:
        pred, std = model.predict(structures, return_std=True)
    specs = model.supported_targets
    if dos_spec(model) is not None:     # the DOS's observables, with their uncertainties
        try:
            values, stds = structure_observables(model, structures, pred, std)
        except DataError as err:
            log.warning("The DOS observables (Fermi level, band energy, ...) are not written:"
                        " %s", err)
        else:
            pred = {**pred, **values}
            std = {**std, **stds} if std is not None else None
    write_predictions(args.output, structures, pred, std,
                      per_atom={n: s.per_atom for n, s in specs.items()})
    print(f"Wrote predictions of {sorted(pred)} for {len(structures)} structures to "
          f"{args.output}")
    reference = _reference(model, structures)
    for name, ref in reference.items():
        if name not in pred:
            continue
        ok = np.isfinite(ref).reshape(len(ref), -1).all(axis=1)
        if ok.any():
            err = error_report(pred[name][ok], ref[ok])
            unit = specs[name].unit
            print(f"  {name} vs reference: MAE {err['mae']:.4g} {unit}, "
                  f"RMSE {err['rmse']:.4g} {unit}")
    return 0


def _reference(model, structures) -> dict:
    """The structures' labels of the model's targets (forces and stress where present),
    or nothing when they have none."""
    try:
        return Dataset.read(structures, model.target_specs, keys=model.keys or KeySpec(),
                            missing_gradients="allow").labels
    except DataError:    # structures without reference labels are predicted all the same
        return {}
