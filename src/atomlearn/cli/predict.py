"""Predict structures with a fitted model; write pred_<name> and pred_<name>_std."""

from __future__ import annotations

import logging

import numpy as np

from .. import threads
from ..electronic import dos_spec, structure_observables
from ..errors import ConfigError, DataError
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
    parser.add_argument("--kpoints", metavar="K.txt",
                        help="band models: fractional k-points (n_k rows of 3 numbers) at "
                             "which pred_band_energies is written (default: the model's own)")


def run(args) -> int:
    model = load_model(args.model)
    structures = read_structures(args.structures)
    log.info("predicting %d structures with %s", len(structures), threads.describe())
    std = None
    with_std = not args.no_std and model.provides_uncertainty
    if args.kpoints is not None:
        pred, std = _at_kpoints(model, structures, args.kpoints, with_std)
    elif not with_std:
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
    # labels sit at the structures' own k-points, not at --kpoints
    reference = {} if args.kpoints is not None else _reference(model, structures)
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


def _at_kpoints(model, structures, path: str, with_std: bool):
    """Band energies at the k-points of file ``path``."""
    if not hasattr(model, "predict_bands"):
        raise ConfigError(f"--kpoints needs a band model (band_gpr); this is a "
                          f"{model.registry_name} model.")
    try:
        kpoints = np.loadtxt(path, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: not a table of numbers ({err}); write n_k rows of three "
                        "fractional coordinates.") from err
    if kpoints.shape[1] != 3:
        raise DataError(f"{path} has {kpoints.shape[1]} columns; write n_k rows of three "
                        "fractional coordinates (k1 k2 k3).")
    name = model.target_specs[0].name
    out = model.predict_bands(structures, kpoints, return_std=with_std)
    return ({name: out[0]}, {name: out[1]}) if with_std else ({name: out}, None)


def _reference(model, structures) -> dict:
    """The structures' labels of the model's targets (forces and stress where present),
    and of what follows from them (levels, band edges, ...) where the structures carry
    those; nothing for what they do not carry."""
    keys = model.keys or KeySpec()
    try:
        labels = Dataset.read(structures, model.target_specs, keys=keys,
                              missing_gradients="allow").labels
    except DataError:    # structures without reference labels are predicted all the same
        labels = {}
    own = {s.name for s in model.target_specs}
    for name, spec in model.supported_targets.items():
        if name in own or spec.gradients or name in labels:
            continue
        try:
            labels.update(Dataset.read(structures, [spec], keys=keys).labels)
        except DataError:
            continue
    return labels
