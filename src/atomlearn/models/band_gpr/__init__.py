"""``band_gpr``: band energies of crystals at any k-point, a GP conditioned on k."""

from .model import BandGPRModel

__all__ = ["BandGPRModel"]
