"""Show what a model file holds: class, format, targets, descriptor, parameters."""

from __future__ import annotations

import json

from ..serialization import read_model_file


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file")
    parser.add_argument("--json", action="store_true", help="print the metadata as JSON")


def run(args) -> int:
    meta, arrays = read_model_file(args.model)
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    print(f"model:          {meta['class']}")
    print(f"format version: {meta['format_version']} (atomlearn {meta['atomlearn_version']})")
    for t in meta.get("targets", []):
        print(f"target:         {t['name']} ({t['kind']}, {t['unit'] or '-'}"
              f"{', gradients ' + ','.join(t['gradients']) if t['gradients'] else ''})")
    if "descriptor" in meta:
        print("descriptor:     " + ", ".join(f"{k}={v}" for k, v in meta["descriptor"].items()))
    print("parameters:     " + ", ".join(f"{k}={v}" for k, v in meta["params"].items()))
    print("arrays:         " + ", ".join(f"{k}{list(v.shape)}" for k, v in arrays.items()))
    return 0
