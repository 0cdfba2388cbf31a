"""tblite's GFN-xTB as a labeller (fast: milliseconds for small molecules)."""

from __future__ import annotations

from .base import CalculatorLabeler


class TBLiteLabeler(CalculatorLabeler):
    """Energies, forces (and stress of periodic cells) from tblite.

    Parameters
    ----------
    method : {"GFN2-xTB", "GFN1-xTB", "IPEA1-xTB"}
    accuracy : float
        tblite's numerical accuracy (lower is tighter).
    """

    def __init__(self, method: str = "GFN2-xTB", accuracy: float = 1.0) -> None:
        from tblite.ase import TBLite

        super().__init__(TBLite(method=method, accuracy=accuracy, verbosity=0),
                         method=f"tblite:{method}/accuracy{accuracy:g}")
        self.elements = frozenset(range(1, 87))


__all__ = ["TBLiteLabeler"]
