"""atomlearn: machine learning for atomistic simulations.

The package is organised as the data flow::

    structures -> neighbors -> descriptors -> kernels / gp / nn -> targets -> metrics
        -> calculators / cli

Structures and their reference labels come in through :mod:`atomlearn.structures`,
descriptors of atomic environments are computed in :mod:`atomlearn.descriptors`,
the array-level regressors live in :mod:`atomlearn.kernels` and :mod:`atomlearn.gp`,
and the structure-level models that the command line and the ASE calculator use are in
:mod:`atomlearn.models`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import AtomlearnError, ConfigError, DataError, ModelFileError, NotFittedError

__all__ = [
    "__version__",
    "AtomlearnError",
    "ConfigError",
    "DataError",
    "ModelFileError",
    "NotFittedError",
]
