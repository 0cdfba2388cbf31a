"""Descriptors of atomic environments."""

from ._base import Features
from .lambda_soap import EquivariantFeatures, LambdaSoap
from .soap import SoapExpansion, SoapPowerSpectrum

__all__ = ["EquivariantFeatures", "Features", "LambdaSoap", "SoapExpansion", "SoapPowerSpectrum"]
