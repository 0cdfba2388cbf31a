"""tblite's GFN-xTB as a labeller (fast: milliseconds for small molecules)."""

from __future__ import annotations

import ase
import numpy as np

from .base import CalculatorLabeler


class TBLiteLabeler(CalculatorLabeler):
    """Energies, forces (and stress of periodic cells) from tblite.

    A fresh calculator serves every structure: tblite's ASE calculator otherwise starts
    each SCF from the previous structure's charges, and its results (to ~1e-4 eV/Å) would
    depend on the order in which structures were labelled.

    Parameters
    ----------
    method : {"GFN2-xTB", "GFN1-xTB", "IPEA1-xTB"}
    accuracy : float
        tblite's numerical accuracy (lower is tighter).
    """

    def __init__(self, method: str = "GFN2-xTB", accuracy: float = 1.0) -> None:
        self.parameters = {"method": method, "accuracy": accuracy, "verbosity": 0}
        # built per structure (and so the labeller pickles to worker processes)
        super().__init__(None, method=f"tblite:{method}/accuracy{accuracy:g}")
        self.elements = frozenset(range(1, 87))

    def _calculator(self):
        from tblite.ase import TBLite

        return TBLite(**self.parameters)

    def compute(self, atoms: ase.Atoms) -> dict[str, np.ndarray]:
        self.calculator = self._calculator()
        return super().compute(atoms)


__all__ = ["TBLiteLabeler"]
