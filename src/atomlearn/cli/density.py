"""Write the electron density a model predicts for a structure as a Gaussian cube file
(and the error density and a picture of a slice); with ``--scf``, start PySCF's SCF from
it beside PySCF's minao guess."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError
from ..models import load_model


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file of a density_coefficients target "
                                      "(written by 'atomlearn fit')")
    parser.add_argument("structures", help="extended XYZ file or shipped dataset name "
                                           "(e.g. ethanol_density)")
    parser.add_argument("--index", default="0", help="the frame to use (ASE index)")
    parser.add_argument("--cube", required=True,
                        help="cube file to write; with reference coefficients in the frame "
                             "the error density is written beside it as <stem>_error.cube")
    parser.add_argument("--points", type=int, default=60,
                        help="grid points along each axis of the cube")
    parser.add_argument("--png", default=None,
                        help="also draw the density (and its error) on the molecule's "
                             "best-fitting plane")
    parser.add_argument("--scf", action="store_true",
                        help="run PySCF's Kohn-Sham SCF (PBE/def2-SVP with density fitting, "
                             "the shipped ethanol data's level) from the predicted density "
                             "and from PySCF's minao guess; print cycles, times, energies "
                             "and the predicted density's one-shot HOMO and LUMO")


def run(args) -> int:
    from .. import electron_density as ed
    from ..targets import density as dens
    from ..workflows import read_data

    if args.points < 2:
        raise ConfigError(f"--points must be at least 2; got {args.points}.")
    model = load_model(args.model)
    specs = [s for s in model.target_specs if s.kind == "density_coefficients"]
    if not specs:
        raise ConfigError(f"{args.model} predicts {[s.name for s in model.target_specs]}; "
                          "densities come from a model of a 'density_coefficients' target.")
    spec = specs[0]
    basis = spec.metadata["basis"]
    frames = read_data(args.structures, args.index)
    if len(frames) != 1:
        raise ConfigError(f"--index {args.index!r} selects {len(frames)} frames of "
                          f"{args.structures}; give one frame.")
    atoms = frames[0]
    out = model.predict([atoms], targets=[spec.name, "density_electrons", "dipole"])
    coefficients = out[spec.name][0]
    cube = ed.write_cube(args.cube, atoms, coefficients, basis, points=args.points)
    print(f"Wrote {cube}: {out['density_electrons'][0]:.4f} electrons, dipole "
          f"{np.array2string(out['dipole'][0], precision=4)} e·Å (with the nuclei)")
    reference = _reference(atoms, spec, args.structures)
    error = None
    if reference is not None:
        error = coefficients - reference
        path = cube.with_name(f"{cube.stem}_error.cube")
        ed.write_cube(path, atoms, error, basis, points=args.points,
                      comment="atomlearn density error: predicted - reference")
        ref_dipole = dens.dipoles(reference[None], [atoms], basis)[0]
        J = dens.coulomb_metric(atoms, basis)
        rel = np.sqrt((error @ J @ error) / (reference @ J @ reference))
        print(f"Wrote {path}: error in the Coulomb metric {100 * rel:.3f} % of the "
              f"density; reference dipole {np.array2string(ref_dipole, precision=4)} e·Å")
    if args.png:
        _slice_picture(atoms, coefficients, error, basis, args.png)
        print(f"Wrote {args.png}")
    if args.scf:
        _scf(atoms, coefficients, basis)
    return 0


def _scf(atoms, coefficients, basis: str) -> None:
    """PySCF from the predicted density and from minao, side by side."""
    import time

    from ase.units import Hartree

    from .. import electron_density as ed

    runs = {}
    for name, start in (("the predicted density", coefficients), ("PySCF's minao", "minao")):
        t = time.perf_counter()
        mf, density_start = ed.converged_scf(atoms, start, basis)
        runs[name] = (mf, density_start)
        state = "converged" if mf.converged else "NOT converged"
        print(f"SCF from {name}: {state} in {mf.cycles} cycles, "
              f"{time.perf_counter() - t:.2f} s, E = {mf.e_tot:.9f} Ha")
    start = runs["the predicted density"][1]
    levels = runs["PySCF's minao"][0].mo_energy * Hartree
    n = start.n_occupied
    print(f"one-shot levels of the predicted density: HOMO {start.homo:.3f} eV "
          f"(converged {levels[n - 1]:.3f}), LUMO {start.lumo:.3f} eV "
          f"(converged {levels[n]:.3f})")


def _reference(atoms, spec, source: str) -> np.ndarray | None:
    if spec.name not in atoms.info and f"REF_{spec.name}" not in atoms.info:
        return None
    values = spec.read([atoms])[0]
    if values.shape != spec.shape:
        raise DataError(f"{source}: reference {spec.name!r} has shape {values.shape}; the "
                        f"model's basis has {spec.shape}.")
    return values


def _slice_picture(atoms, coefficients, error, basis: str, path: str) -> None:
    """The density on the plane through the atoms' centre spanned by their two largest
    principal axes."""
    from ..electron_density import density_on_grid
    from ..metrics.plots import density_slice_plot
    from ..targets.density import BOHR

    centre = atoms.positions.mean(axis=0)
    axes = np.linalg.svd(atoms.positions - centre)[2][:2]
    extent = np.abs((atoms.positions - centre) @ axes.T).max() + 2.0
    u = np.linspace(-extent, extent, 160)
    grid = centre + u[None, :, None] * axes[0] + u[:, None, None] * axes[1]
    coords = grid.reshape(-1, 3) / BOHR
    density = density_on_grid(atoms, coefficients, coords, basis).reshape(len(u), len(u))
    diff = None if error is None else density_on_grid(
        atoms, error, coords, basis).reshape(len(u), len(u))
    density_slice_plot(u, u, density, path, atoms_uv=(atoms.positions - centre) @ axes.T,
                       symbols=atoms.get_chemical_symbols(), error=diff,
                       title=f"{atoms.get_chemical_formula()}: predicted density")
