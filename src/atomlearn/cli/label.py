"""Label structures with a reference code, in this process or on workers."""

from __future__ import annotations

from pathlib import Path

import ase.io

from .. import executors
from ..errors import ConfigError
from ..files import atomic_path
from ..labelers import LabelStore, label_structures, labeler_from_name
from ..workflows import read_data


def add_arguments(parser) -> None:
    parser.add_argument("structures", help="structures to label (extended XYZ, or a shipped "
                                           "dataset name)")
    parser.add_argument("--index", default=":", help="which structures (ASE index syntax)")
    parser.add_argument("--labeler", required=True,
                        help="pyscf (also writes each frame's orbital_energies and "
                             "orbital_pair_strengths), tblite or module:Class (a Labeler or "
                             "an ASE calculator)")
    parser.add_argument("-o", "--output", required=True,
                        help="labelled structures to write (extended XYZ)")
    parser.add_argument("--store", default=None,
                        help="label folder (default: <output>.labels/); a rerun reuses it")
    executors.add_arguments(parser, "the calculations")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds a calculation may take before it is recorded as failed")
    parser.add_argument("--retries", type=int, default=1,
                        help="resubmissions of a calculation whose worker failed")
    parser.add_argument("--retry-failed", action="store_true",
                        help="try structures whose failure is stored again")


def run(args) -> int:
    if args.timeout is not None and args.timeout <= 0:
        raise ConfigError(f"--timeout must be positive; got {args.timeout}.")
    if args.retries < 0:
        raise ConfigError(f"--retries must not be negative; got {args.retries}.")
    labeler = labeler_from_name(args.labeler)
    frames = read_data(args.structures, args.index)
    output = Path(args.output)
    store = LabelStore(args.store or output.with_name(output.name + ".labels"),
                       labeler.method)
    executor = executors.from_arguments(args)
    try:
        labelled = label_structures(frames, labeler, store, executor=executor,
                                    timeout=args.timeout, retries=args.retries,
                                    retry_failed=args.retry_failed)
    finally:
        executors.close(executor)
    done = [a for a in labelled if a is not None]
    with atomic_path(output) as tmp:
        ase.io.write(tmp, done, format="extxyz")
    print(f"Labelled {len(done)} of {len(frames)} structures with {labeler.method}: "
          f"{output} (labels kept in {store.directory}); "
          f"{len(frames) - len(done)} failed")
    return 0
