"""The ``atomlearn`` command: ``fit``, ``predict``, ``learning-curve``, ``info``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .. import threads
from ..errors import AtomlearnError, ConfigError
from . import (
    bands,
    density,
    dos,
    fit,
    info,
    label,
    learn,
    learning_curve,
    md,
    predict,
    spectrum,
)

COMMANDS = {"fit": fit, "predict": predict, "learning-curve": learning_curve, "info": info,
            "md": md, "spectrum": spectrum, "dos": dos, "bands": bands, "learn": learn,
            "label": label, "density": density}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atomlearn",
        description="Machine learning for atomistic simulations.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="threads for BLAS, PyTorch and featomic (default: the idle "
                             "cores this process may use, or $ATOMLEARN_THREADS)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        doc = (module.__doc__ or "").strip().splitlines()[0]
        p = sub.add_parser(name, help=doc, description=doc,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback on errors")
        p.add_argument("--threads", type=int, default=argparse.SUPPRESS, metavar="N",
                       help="threads for BLAS, PyTorch and featomic (default: the idle "
                            "cores this process may use, or $ATOMLEARN_THREADS)")
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr,
                        force=True)
    try:
        if args.threads is not None and args.threads < 1:
            raise ConfigError(f"--threads must be a positive integer; got {args.threads}.")
        threads.configure(args.threads)
        return int(args.run(args) or 0)
    except (AtomlearnError, FileNotFoundError) as err:
        if args.debug:
            raise
        print(f"atomlearn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        import numpy as np

        if args.debug or not isinstance(err, np.linalg.LinAlgError):
            raise
        print(f"atomlearn {args.command}: error: {err}", file=sys.stderr)
        return 2


def entry() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
