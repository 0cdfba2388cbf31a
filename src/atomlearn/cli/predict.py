"""Predict structures with a fitted model; write pred_<name> and pred_<name>_std."""

from __future__ import annotations

from ..metrics import error_report
from ..models import load_model
from ..structures import KeySpec, has_label, read_structures, write_predictions
from ..targets import energy, read_gradient_labels


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file written by 'atomlearn fit'")
    parser.add_argument("structures", help="structures to predict (extended XYZ)")
    parser.add_argument("-o", "--output", required=True, help="extended XYZ to write")
    parser.add_argument("--no-std", action="store_true",
                        help="skip the predictive standard deviations")


def run(args) -> int:
    model = load_model(args.model)
    structures = read_structures(args.structures)
    std = None
    if args.no_std:
        pred = model.predict(structures)
    else:
        try:
            pred, std = model.predict(structures, return_std=True)
        except NotImplementedError:
            pred = model.predict(structures)
    specs = model.supported_targets
    write_predictions(args.output, structures, pred, std,
                      per_atom={n: s.per_atom for n, s in specs.items()})
    print(f"Wrote predictions of {sorted(pred)} for {len(structures)} structures to "
          f"{args.output}")
    keys = KeySpec()
    for name, spec in specs.items():
        if name in pred and all(has_label(a, name, keys) for a in structures):
            err = error_report(pred[name], _reference(name, spec, structures, keys))
            print(f"  {name} vs reference: MAE {err['mae']:.4g} {spec.unit}, "
                  f"RMSE {err['rmse']:.4g} {spec.unit}")
    return 0


def _reference(name, spec, structures, keys):
    if name in ("forces", "stress"):       # forces per atom; stress also as Voigt 6-vectors
        grads = energy(forces=name == "forces", stress=name == "stress")
        return read_gradient_labels(grads, structures, keys)[name]
    return spec.read(structures, keys)
