"""Show what a model file holds: family, format, targets, hyperparameters, fit, arrays."""

from __future__ import annotations

import json

import numpy as np

from ..errors import ModelFileError
from ..models import load_model
from ..serialization import read_model_file


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file")
    parser.add_argument("--json", action="store_true", help="print the metadata as JSON")
    parser.add_argument("--arrays", action="store_true",
                        help="list every stored array with its shape")


def run(args) -> int:
    load_model(args.model)            # a file that does not load is refused, not shown
    meta, arrays = read_model_file(args.model)
    try:
        return _show(args, meta, arrays)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ModelFileError(f"The metadata of '{args.model}' cannot be shown ({type(err).__name__}"
                             f": {err}); it was edited or is corrupted.") from err


def _show(args, meta: dict, arrays: dict) -> int:
    if args.json:
        print(json.dumps({**meta, "arrays": {k: list(v.shape) for k, v in arrays.items()}}
                         if args.arrays else meta, indent=2))
        return 0
    print(f"model:           {meta['class']}")
    print(f"format version:  {meta['format_version']} (atomlearn {meta['atomlearn_version']})")
    for t in meta.get("targets", []):
        layout = t["kind"] + (" per atom" if t["per_atom"] else "")
        shape = f" {tuple(t['shape'])}" if t["shape"] else ""
        grads = f", with {'+'.join(t['gradients'])}" if t["gradients"] else ""
        print(f"target:          {t['name']} ({layout}{shape}, {t['unit'] or '-'}"
              f"{', intensive' if not t.get('extensive', True) else ''}{grads})")
        if t.get("metadata", {}).get("builder") == "dos":
            d = t["metadata"]["dos"]
            print(f"  energy grid:   {d['e_min']} to {d['e_max']} eV by {d['spacing']} eV, "
                  f"smearing {d['smearing']} eV, reference {d['reference']}, per "
                  f"{d['normalization']}, spin {d['spin']}")
    if meta.get("electrons"):
        e = meta["electrons"]
        print(f"electrons:       valence per element {e['valence']}, "
              f"{e['states_below']} levels below the grid")
    print("hyperparameters: " + _flat(meta["params"]))
    if meta.get("fitted"):
        shown = {k: v for k, v in meta["fitted"].items() if not isinstance(v, dict)}
        if shown:
            print("fitted:          " + _flat(shown))
    train = meta.get("provenance", {}).get("train")
    if train:
        print(f"training data:   {train['source']} ({train['n_train']} of {train['n_read']} "
              f"structures, seed {train['seed']}; sha256 {train['sha256'][:16]}...)")
    elif meta.get("n_train"):
        print(f"training set:    {meta['n_train']} structures")
    for name, e in meta.get("provenance", {}).get("test_errors", {}).items():
        unit = next((t["unit"] for t in meta.get("targets", []) if t["name"] == name), "")
        print(f"held-out errors: {name}: MAE {e['mae']:.4g} {unit}, RMSE {e['rmse']:.4g} "
              f"{unit}")
    for name, c in meta.get("calibration", {}).items():
        cover = (f"; {100 * c['within_1sigma']:.0f}% of held-out errors within 1σ"
                 if "within_1sigma" in c else "")
        print(f"calibration:     {name}: std x {c['scale']:.3g}{cover}")
    size = sum(v.nbytes for v in arrays.values())
    print(f"arrays:          {len(arrays)} ({size / 2**20:.2f} MB)")
    if args.arrays:
        for k, v in arrays.items():
            print(f"  {k} {list(v.shape)} {v.dtype}")
    return 0


def _flat(params: dict, prefix: str = "") -> str:
    out = []
    for k, v in params.items():
        if isinstance(v, dict) and v and all(isinstance(x, (int, float, str, bool, type(None),
                                                            list)) for x in v.values()) \
                and k in ("descriptor", "kernel"):
            out.append(_flat(v, f"{prefix}{k}."))
        else:
            v = float(f"{v:.4g}") if isinstance(v, float) and not isinstance(v, bool) \
                and np.isfinite(v) else v
            out.append(f"{prefix}{k}={v}")
    return ", ".join(out)
