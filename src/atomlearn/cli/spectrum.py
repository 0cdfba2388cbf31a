"""Spectra of a trajectory, to PNG and CSV: IR and Raman from its dipoles and
polarizabilities (``--kind vibrational``), or the UV-vis absorption spectrum that an
excitation model predicts for its frames (``--kind uv-vis MODEL TRAJ``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..metrics import spectrum_plot, vibrational_spectra
from ..metrics.spectra import QUANTUM_CORRECTIONS, WINDOWS
from ..structures import read_structures
from . import uv_vis


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="[MODEL] TRAJECTORY",
                        help="vibrational: extended XYZ with dipoles and/or polarizabilities "
                             "per frame (from 'md --with' or 'predict'); uv-vis: a model of "
                             "excitations and the frames to average over")
    parser.add_argument("--kind", choices=("vibrational", "uv-vis"), default="vibrational")
    parser.add_argument("-o", "--output", required=True,
                        help="PNG to write; a CSV with the same stem is written beside it")
    parser.add_argument("--timestep", type=float, default=None,
                        help="fs between frames (default: from the frames' time_fs)")
    parser.add_argument("--dipole-key", default=None,
                        help="info key of the dipole (default: pred_dipole, then dipole)")
    parser.add_argument("--polarizability-key", default=None,
                        help="info key of the polarizability (default: pred_polarizability, "
                             "then polarizability)")
    parser.add_argument("--correlation-length", type=float, default=None,
                        help="longest correlation lag in fs (default: a third of the run)")
    parser.add_argument("--window", choices=WINDOWS, default="hann",
                        help="taper of the correlation function")
    parser.add_argument("--quantum-correction", choices=QUANTUM_CORRECTIONS, default="none",
                        help="factor on the classical line shape")
    parser.add_argument("--temperature", type=float, default=300.0,
                        help="K, for the quantum correction")
    parser.add_argument("--max-wavenumber", type=float, default=4000.0,
                        help="upper end of the plot in cm⁻¹")
    uv_vis.add_arguments(parser)


def _lookup(atoms, key):
    """``key`` from info, or from calculator results (ASE's extxyz reader moves standard
    properties such as ``dipole`` there)."""
    if key in atoms.info:
        return atoms.info[key]
    if atoms.calc is not None:
        return atoms.calc.results.get(key)
    return None


def _series(frames, path, key, name, shape):
    keys = [key] if key else [f"pred_{name}", name, f"REF_{name}"]
    for k in keys:
        found = [_lookup(a, k) for a in frames]
        if all(v is not None for v in found):
            values = np.array([np.reshape(v, shape) for v in found], float)
            if not np.all(np.isfinite(values)):
                bad = int(np.flatnonzero(~np.isfinite(values.reshape(len(values), -1))
                                         .all(axis=1))[0])
                raise DataError(f"{path}, frame {bad}: '{k}' is not finite.")
            return values
        if key:
            missing = next(i for i, v in enumerate(found) if v is None)
            raise DataError(f"{path}, frame {missing} has no '{k}'. Pass the key that holds "
                            f"the {name} with --{name}-key.")
    return None


def run(args) -> int:
    if args.kind == "uv-vis":
        return uv_vis.run(args)
    if len(args.inputs) != 1:
        raise ConfigError(f"A vibrational spectrum reads one trajectory; got {args.inputs}. "
                          "For a UV-vis spectrum pass '--kind uv-vis MODEL TRAJECTORY'.")
    args.trajectory = args.inputs[0]
    frames = read_structures(args.trajectory)
    mu = _series(frames, args.trajectory, args.dipole_key, "dipole", (3,))
    alpha = _series(frames, args.trajectory, args.polarizability_key, "polarizability", (3, 3))
    if mu is None and alpha is None:
        raise DataError(
            f"{args.trajectory} has neither dipoles nor polarizabilities in every frame (looked "
            "for pred_dipole, dipole, REF_dipole and the same for polarizability). Predict "
            "them with 'atomlearn predict MODEL TRAJ' or run 'atomlearn md ... --with MODEL'.")
    timestep = args.timestep
    if timestep is None:
        times = [a.info.get("time_fs") for a in frames]
        if any(t is None for t in times):
            raise DataError(f"{args.trajectory} has no 'time_fs' per frame; pass --timestep.")
        steps = np.diff(np.asarray(times, float))
        if not np.allclose(steps, steps[0], rtol=1e-6) or steps[0] <= 0:
            raise DataError(f"{args.trajectory}: frames are not equally spaced in time_fs.")
        timestep = float(steps[0])
    spectrum = vibrational_spectra(timestep, dipoles=mu, polarizabilities=alpha,
                                   correlation_length=args.correlation_length,
                                   window=args.window, quantum=args.quantum_correction,
                                   temperature=args.temperature)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = list(spectrum.intensity)
    table = np.column_stack([spectrum.wavenumber] + [spectrum.intensity[n] for n in names])
    csv = out.with_suffix(".csv")
    np.savetxt(csv, table, delimiter=",", header="wavenumber_cm-1," + ",".join(names),
               comments="")
    png = spectrum_plot(spectrum, out, max_wavenumber=args.max_wavenumber,
                        title=f"{Path(args.trajectory).name}: {len(frames)} frames, "
                              f"{timestep:g} fs apart")
    print(f"Wrote {png} and {csv} ({', '.join(names)})")
    return 0
