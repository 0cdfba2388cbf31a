"""Draw the band structure a model predicts for a crystal along a high-symmetry path,
with the reference bands when the structure carries them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..metrics import band_structure_plot
from ..models import load_model
from ..structures import read_structures

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("model", help="band model file written by 'atomlearn fit' "
                                      "(model type band_gpr)")
    parser.add_argument("structure", help="the crystal (extended XYZ; the first frame)")
    parser.add_argument("--path", default="LGXWKG",
                        help="high-symmetry points in order (G is Gamma)")
    parser.add_argument("--lattice", default="fcc",
                        help="Bravais lattice whose special points (ASE's, fractional in the "
                             "cell's reciprocal basis) the path visits; strained cells keep "
                             "the fractional points of their unstrained lattice")
    parser.add_argument("--npoints", type=int, default=120, help="k-points along the path")
    parser.add_argument("-o", "--output", required=True,
                        help="PNG to write; a CSV with the same stem is written beside it")


def path_kpoints(atoms, path: str, lattice: str, npoints: int):
    """Fractional k-points along ``path``, their path coordinate (1/Å) and the special
    points' positions, segments sampled in proportion to their length."""
    from ase.dft.kpoints import sc_special_points

    if lattice not in sc_special_points:
        raise ConfigError(f"Unknown --lattice {lattice!r}; ASE knows "
                          f"{sorted(sc_special_points)}.")
    special = sc_special_points[lattice]
    unknown = [p for p in path if p not in special]
    if len(path) < 2 or unknown:
        raise ConfigError(f"--path {path!r} must name at least two of the {lattice} "
                          f"points {sorted(special)}; unknown: {unknown}.")
    corners = np.array([special[p] for p in path], float)
    recip = atoms.cell.reciprocal()          # rows b_i / (2 pi), 1/Å
    lengths = np.linalg.norm(np.diff(corners, axis=0) @ recip, axis=1)
    counts = np.maximum(2, np.round(npoints * lengths / lengths.sum()).astype(int))
    kpts, x, ticks, start = [], [], [0.0], 0.0
    for (a, b), n, length in zip(zip(corners[:-1], corners[1:], strict=True), counts,
                                 lengths, strict=True):
        t = np.linspace(0.0, 1.0, n, endpoint=False)
        kpts.append(a + t[:, None] * (b - a))
        x.append(start + t * length)
        start += length
        ticks.append(start)
    kpts.append(corners[-1:])
    x.append([start])
    return np.vstack(kpts), np.concatenate(x), np.array(ticks)


def run(args) -> int:
    model = load_model(args.model)
    if not hasattr(model, "predict_bands"):
        raise ConfigError(f"{args.model} is a {model.registry_name} model; band structures "
                          "come from a 'band_gpr' model (band energies at any k-point).")
    atoms = read_structures(args.structure, index="0")[0]
    kpts, x, ticks = path_kpoints(atoms, args.path, args.lattice, args.npoints)
    bands, std = model.predict_bands([atoms], kpts, return_std=True)
    bands, std = bands[0], std[0]
    n_occ = int(atoms.info.get("n_occ", bands.shape[1] // 2))
    vbm = bands[:, :n_occ].max()
    reference = None
    if "path_kpoints" in atoms.info and "path_band_energies" in atoms.info:
        ref_k = np.reshape(atoms.info["path_kpoints"], (-1, 3))
        ref_e = np.reshape(atoms.info["path_band_energies"], (len(ref_k), -1))
        if ref_e.shape[1] != bands.shape[1]:
            raise DataError(f"{args.structure}: its path_band_energies have "
                            f"{ref_e.shape[1]} bands, the model {bands.shape[1]}.")
        # positions along the path: the reference points visit the same corners in order
        steps = np.linalg.norm(np.diff(ref_k, axis=0) @ atoms.cell.reciprocal(), axis=1)
        reference = (np.concatenate([[0.0], np.cumsum(steps)]),
                     ref_e - ref_e[:, :n_occ].max())
        mae = np.abs(model.predict_bands([atoms], ref_k)[0] - vbm - reference[1]).mean()
        print(f"  path bands vs reference (aligned at the VBM): MAE {1e3 * mae:.1f} meV")
    labels = ["Γ" if p == "G" else p for p in args.path]
    out = Path(args.output)
    band_structure_plot(x, bands - vbm, out, ticks=ticks, labels=labels, std=std,
                        reference=reference,
                        title=f"{Path(args.structure).name}: {args.path} ({args.lattice})")
    header = "x_per_A,k1,k2,k3," + ",".join(f"band{b}" for b in range(bands.shape[1]))
    np.savetxt(out.with_suffix(".csv"), np.column_stack([x, kpts, bands]), delimiter=",",
               header=header, comments="")
    print(f"Wrote {out} and {out.with_suffix('.csv')} (energies in the CSV are absolute, "
          f"eV; the plot is aligned at the predicted VBM).")
    return 0
