"""Descriptors of atomic environments."""

from ._base import Features
from .soap import SoapPowerSpectrum

__all__ = ["Features", "SoapPowerSpectrum"]
