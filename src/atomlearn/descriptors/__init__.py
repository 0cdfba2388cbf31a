"""Descriptors of atomic environments."""

from ._base import Features
from .soap import SoapExpansion, SoapPowerSpectrum

__all__ = ["Features", "SoapExpansion", "SoapPowerSpectrum"]
