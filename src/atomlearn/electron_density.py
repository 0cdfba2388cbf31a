"""From predicted density coefficients to what people use a density for, with PySCF.

The density of a structure is :math:`\\rho(r) = \\sum_P c_P \\chi_P(r)` in the auxiliary
basis (:mod:`atomlearn.targets.density`). This module evaluates it on grids (cube files,
errors against the Kohn-Sham density) and turns it into a start for PySCF's SCF: the
Kohn-Sham matrix of the density (Hartree potential from the coefficients through the
three-centre integrals, exchange-correlation potential from rho(r) and its gradient on
the SCF's grid), diagonalised once; its occupied orbitals are the starting density
matrix, its eigenvalues one-shot orbital energies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ase
import numpy as np

from . import threads
from .targets.density import DEFAULT_BASIS, auxiliary_molecule

#: Grid points per block of density evaluations (memory: points x functions x 4); a
#: multiple of PySCF's screening block of 56 points.
BLOCK = 56 * 64


def density_on_grid(atoms: ase.Atoms, coefficients: np.ndarray, coords: np.ndarray,
                    basis: str = DEFAULT_BASIS, deriv: int = 0) -> np.ndarray:
    """The density (electrons/bohr^3) at ``coords`` (bohr), ``(n_points,)``; with
    ``deriv=1`` also its gradient, ``(4, n_points)``."""
    aux = auxiliary_molecule(atoms, basis)
    coords = np.asarray(coords, float)
    out = np.empty((4, len(coords)) if deriv else len(coords))
    for start in range(0, len(coords), BLOCK):
        part = slice(start, start + BLOCK)
        out[..., part] = _density_values(aux, coefficients, coords[part], deriv)
    return out


def _density_values(aux, coefficients: np.ndarray, coords: np.ndarray, deriv: int
                    ) -> np.ndarray:
    """The density of ``coefficients`` in PySCF's molecule ``aux`` at ``coords``, skipping
    the functions PySCF's screening finds negligible there."""
    from pyscf.dft import numint

    mask = numint.make_mask(aux, coords)
    return numint.eval_ao(aux, coords, deriv=deriv, non0tab=mask) @ coefficients


def kohn_sham(atoms: ase.Atoms, *, xc: str = "PBE", basis: str = "def2-svp",
              auxbasis: str = DEFAULT_BASIS, grid_level: int = 1, conv_tol: float = 1e-9,
              max_cycle: int = 100):
    """PySCF's restricted Kohn-Sham object at the level of theory of the shipped ethanol
    data (density fitting in ``auxbasis``, XC grid ``grid_level``)."""
    from pyscf import dft

    from .targets.operators import molecule

    mf = dft.RKS(molecule(atoms, basis)).density_fit(auxbasis=auxbasis)
    mf.xc, mf.grids.level = xc, grid_level
    mf.conv_tol, mf.max_cycle = conv_tol, max_cycle
    return mf


@dataclass
class DensityStart:
    """A density's Kohn-Sham matrix diagonalised once.

    Attributes
    ----------
    dm : ndarray [n_ao, n_ao]
        Density matrix of its occupied orbitals (the SCF's start).
    orbital_energies : ndarray [n_ao]
        Its eigenvalues, eV.
    n_occupied : int
    """

    dm: np.ndarray
    orbital_energies: np.ndarray
    n_occupied: int

    @property
    def homo(self) -> float:
        return float(self.orbital_energies[self.n_occupied - 1])

    @property
    def lumo(self) -> float:
        return float(self.orbital_energies[self.n_occupied])


def start_from_density(mf, atoms: ase.Atoms, coefficients: np.ndarray,
                       basis: str = DEFAULT_BASIS, grid_level: int | None = None
                       ) -> DensityStart:
    """Diagonalise the Kohn-Sham matrix of the density ``coefficients`` once (``mf``:
    :func:`kohn_sham` of ``atoms``).

    The exchange-correlation part is integrated on ``mf``'s grid (built here if it is
    not; the SCF reuses it), or with ``grid_level`` on a PySCF grid of that level: a
    start is a guess, and on ethanol level 0 (a quarter of the points of level 1) made a
    whole SCF from a predicted density 0.1 s faster (0.85 vs 0.96 s over 20 frames) for
    0.4 cycles more.
    """
    from ase.units import Hartree
    from pyscf import df, dft, lib
    from scipy.linalg import eigh

    from .targets.operators import electron_count

    ni, xc = mf._numint, mf.xc
    xctype = ni._xc_type(xc)
    if xctype not in ("LDA", "GGA"):
        raise ValueError(f"A start from a density supports LDA and GGA functionals; "
                         f"{xc!r} is {xctype}.")
    deriv = 1 if xctype == "GGA" else 0
    with threads.single_thread():        # PySCF's OpenMP pool does the work
        mol = mf.mol
        aux = auxiliary_molecule(atoms, basis)
        coefficients = np.asarray(coefficients, float)
        # (ij|P) c_P over the pairs i >= j only (half the integrals)
        j_matrix = lib.unpack_tril(df.incore.aux_e2(mol, aux, "int3c2e", aosym="s2ij")
                                   @ coefficients)
        v_xc = np.zeros_like(j_matrix)
        grids = mf.grids
        if grid_level is not None:
            grids = dft.gen_grid.Grids(mol)
            grids.level = grid_level
        for ao, _, weights, coords in ni.block_loop(mol, grids, mol.nao, deriv,
                                                    blksize=BLOCK):
            rho = _density_values(aux, coefficients, coords, deriv)
            w = ni.eval_xc_eff(xc, rho, deriv=1, xctype=xctype)[1] * weights
            if deriv:
                w[0] *= 0.5          # the symmetrisation below doubles it
                block = ao[0].T @ np.einsum("xpi,xp->pi", ao, w)
                v_xc += block + block.T
            else:
                v_xc += ao.T @ (ao * w.reshape(-1)[:, None])
        fock = mf.get_hcore() + j_matrix + v_xc
        energies, orbitals = eigh(fock, mf.get_ovlp(), driver="gv")
        n_occ = electron_count(atoms) // 2
        occupied = orbitals[:, :n_occ]
    return DensityStart(2 * occupied @ occupied.T, energies * Hartree, n_occ)


def converged_scf(atoms: ase.Atoms, start: str | np.ndarray = "minao",
                  basis: str = DEFAULT_BASIS, start_grid_level: int | None = 0,
                  **options) -> tuple[object, DensityStart | None]:
    """Run PySCF's Kohn-Sham SCF of ``atoms`` to convergence (:func:`kohn_sham` with
    ``options``) from ``start``: the name of one of PySCF's guesses (``"minao"``,
    ``"atom"``, ``"huckel"``, ...) or density coefficients in ``basis``
    (:func:`start_from_density`, its XC on a grid of ``start_grid_level``; None: the
    SCF's grid).

    Returns
    -------
    mf : pyscf.dft.rks.RKS
        Converged (``mf.converged``, ``mf.cycles``, ``mf.e_tot`` in hartree).
    density_start : DensityStart or None
        The start from the coefficients; None from a named guess.
    """
    from .errors import DataError

    mf = kohn_sham(atoms, **options)
    if mf.mol.spin:
        raise DataError(f"{atoms.get_chemical_formula()} with charge {mf.mol.charge} has an "
                        "odd number of electrons; the restricted Kohn-Sham SCF needs a closed "
                        "shell: set the frame's info 'charge'.")
    density_start, dm0 = None, None
    if isinstance(start, str):
        mf.init_guess = start
    else:
        density_start = start_from_density(mf, atoms, start, basis, start_grid_level)
        dm0 = density_start.dm
    with threads.single_thread():        # PySCF's OpenMP pool does the work
        mf.kernel(dm0=dm0)
    return mf, density_start


def write_cube(path: str | Path, atoms: ase.Atoms, coefficients: np.ndarray,
               basis: str = DEFAULT_BASIS, *, points: int = 60, margin: float = 3.0,
               comment: str = "") -> Path:
    """Write the density of ``coefficients`` on a ``points``^3 box around ``atoms``
    (``margin`` bohr beyond them) as a Gaussian cube file (electrons/bohr^3), readable by
    VMD and ``ase.io.read``."""
    from pyscf.tools import cubegen

    from .files import atomic_path

    cube = cubegen.Cube(auxiliary_molecule(atoms, basis), points, points, points,
                        margin=margin)
    values = density_on_grid(atoms, coefficients, cube.get_coords(), basis)
    path = Path(path)
    with atomic_path(path) as tmp:
        cube.write(values.reshape(points, points, points), str(tmp),
                   comment=comment or "atomlearn density (electrons/bohr^3)")
    return path


def integrated_error(atoms: ase.Atoms, coefficients: np.ndarray,
                     dm: np.ndarray | None = None, basis: str = DEFAULT_BASIS,
                     ao_basis: str = "def2-svp", grid_level: int = 3, *,
                     reference: np.ndarray | None = None) -> float:
    """Integrated absolute error of the density of ``coefficients`` against the density
    of the density matrix ``dm`` (``ao_basis``), or of the ``reference`` coefficients,
    in percent of the electrons: :math:`100 \\int|\\rho - \\rho_{ref}| / N`, on PySCF's
    molecular grid of ``grid_level``."""
    from pyscf import dft
    from pyscf.dft import numint

    from .targets.operators import electron_count, molecule

    mol = molecule(atoms, ao_basis)
    grids = dft.gen_grid.Grids(mol)
    grids.level = grid_level
    grids.build()
    coords = grids.coords
    rho = density_on_grid(atoms, coefficients, coords, basis)
    if reference is None:
        rho_ref = np.concatenate([
            numint.eval_rho(mol, numint.eval_ao(mol, coords[start:start + BLOCK]), dm)
            for start in range(0, len(coords), BLOCK)])
    else:
        rho_ref = density_on_grid(atoms, reference, coords, basis)
    return 100.0 * float(np.abs(rho - rho_ref) @ grids.weights) / electron_count(atoms)


__all__ = ["DensityStart", "converged_scf", "density_on_grid", "integrated_error", "kohn_sham",
           "start_from_density", "write_cube"]
