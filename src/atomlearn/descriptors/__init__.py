"""Descriptors of atomic environments."""

from ._base import DescriptorGradient, Features
from .lambda_soap import EquivariantFeatures, LambdaSoap
from .soap import SoapExpansion, SoapPowerSpectrum

__all__ = ["DescriptorGradient", "EquivariantFeatures", "Features", "LambdaSoap",
           "SoapExpansion", "SoapPowerSpectrum"]
