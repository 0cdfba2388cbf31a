"""Decisions without a human: on-the-fly learning during molecular dynamics, with a
reference code labelling the structures the model is unsure of (:class:`OnTheFly`)."""

from .loop import OnTheFly, decide
from .options import LearnOptions

__all__ = ["LearnOptions", "OnTheFly", "decide"]
