"""PySCF at the level of theory of the shipped ethanol data: restricted Kohn-Sham PBE in
def2-SVP, Coulomb by density fitting in def2-universal-jkfit, XC grid level 1, SCF to
1e-9 Ha, analytic forces with the grid-weight response (the exact derivative of the
energy). Reproduces the shipped frames' energies to 1e-9 eV and forces to 1e-4 eV/Å."""

from __future__ import annotations

import ase
import numpy as np
from ase import units

from ..structures import keys as K
from ..targets.operators import pair_strengths
from .base import Labeler, LabelError


class PySCFLabeler(Labeler):
    """RKS energies and forces from PySCF (closed-shell molecules), with the orbital
    energies (eV, info ``orbital_energies``) and the oscillator strengths of the lowest
    occupied-to-virtual orbital pairs (info ``orbital_pair_strengths``): the baselines of
    Delta-learned excitations (:mod:`atomlearn.targets.levels`), from the same SCF.

    Parameters
    ----------
    xc, basis, auxbasis : str
        Functional, orbital basis and density-fitting basis (PySCF names).
    grid_level : int
        PySCF ``grids.level`` of the XC integration.
    conv_tol : float
        SCF energy convergence (Ha).
    max_cycle : int
        SCF iterations before the structure is reported as not converged.
    """

    def __init__(self, xc: str = "PBE", basis: str = "def2-svp",
                 auxbasis: str = "def2-universal-jkfit", grid_level: int = 1,
                 conv_tol: float = 1e-9, max_cycle: int = 100) -> None:
        self.xc, self.basis, self.auxbasis = xc, basis, auxbasis
        self.grid_level, self.conv_tol, self.max_cycle = grid_level, conv_tol, max_cycle
        self.method = (f"pyscf:RKS-{xc}/{basis}/DF-{auxbasis}/grid{grid_level}/"
                       f"tol{conv_tol:g}")
        self.elements = frozenset(range(1, 87))

    def compute(self, atoms: ase.Atoms) -> dict[str, np.ndarray]:
        from .. import threads

        with threads.single_thread():        # PySCF's OpenMP pool does the work
            return self._compute(atoms)

    def _compute(self, atoms: ase.Atoms) -> dict[str, np.ndarray]:
        from ..electron_density import kohn_sham

        if atoms.pbc.any():
            raise LabelError(f"{self.method} labels molecules; this structure is periodic.")
        mf = kohn_sham(atoms, xc=self.xc, basis=self.basis, auxbasis=self.auxbasis,
                       grid_level=self.grid_level, conv_tol=self.conv_tol,
                       max_cycle=self.max_cycle)
        if mf.mol.spin:
            raise LabelError(f"{self.method} is restricted (closed shell); the structure "
                             "has an odd number of electrons (set info 'charge').")
        energy = mf.kernel()
        if not mf.converged:
            raise LabelError(f"{self.method}: SCF did not converge in {self.max_cycle} "
                             "cycles.")
        gradient = mf.nuc_grad_method()
        gradient.grid_response = True
        forces = -gradient.kernel() * units.Hartree / units.Bohr
        n_occ = int(mf.mo_occ.sum()) // 2
        return {"energy": float(energy) * units.Hartree, "forces": np.asarray(forces),
                K.ORBITAL_ENERGIES: mf.mo_energy * units.Hartree,
                K.ORBITAL_PAIR_STRENGTHS: pair_strengths(mf.mol, mf.mo_energy, mf.mo_coeff,
                                                         n_occ)}


__all__ = ["PySCFLabeler"]
