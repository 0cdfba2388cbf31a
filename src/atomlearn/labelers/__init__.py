"""Reference codes as labellers: energies and forces of structures from any ASE
calculator, PySCF at the level of theory of the shipped ethanol data, or tblite's
GFN2-xTB, each label written to disk as soon as it exists (:class:`LabelStore`)."""

from .base import CalculatorLabeler, Labeler, LabelError, labeler_from_name
from .store import LabelStore, label_structures

__all__ = ["CalculatorLabeler", "LabelError", "LabelStore", "Labeler", "label_structures",
           "labeler_from_name"]
