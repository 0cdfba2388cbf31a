"""Electron densities by SA-GPR of their density-fitting coefficients (SALTED's design).

One sparse symmetry-adapted GP per (element, lambda) on atom-centred lambda-SOAP, with
every radial channel (shell) of that lambda as an output sharing kernel and noise: the
block-wise fit of :class:`~atomlearn.models.sa_gpr.operator.OperatorGPR` on the channels
of :class:`~atomlearn.targets.density.DensityLayout`. The loss is the Euclidean error
of the coefficients, or, with ``metric_weight``, the fit re-solved jointly with the error
in each structure's Coulomb metric (the metric of the density fit itself, which couples
atoms; :class:`~atomlearn.models.sa_gpr.metric.CoulombMetric`). The predictive std of
every coefficient is its channel GP's (the target's normalisation is applied by the
model, :func:`atomlearn.targets.density.outputs`).
"""

from __future__ import annotations

from collections.abc import Sequence

import ase
import numpy as np

from ...targets.density import DensityLayout
from ...targets.operators import AtomicOrbitals
from .operator import OperatorGPR


class DensityGPR(OperatorGPR):
    """Block-wise SA-GPR of density coefficients.

    Parameters
    ----------
    basis : str
        PySCF's name of the auxiliary basis.
    descriptor : PairLambdaSoap
        Only its atom-centred features are used.
    gpr : dict
        Options of every channel's GP; ``sigma`` and ``delta`` relative to its rms.
    **options
        ``n_candidates``, ``chunk_structures`` and the ``metric_*`` options of
        :class:`~atomlearn.models.sa_gpr.operator.OperatorGPR`; the metric is the
        Coulomb metric.
    """

    what = "density"
    keeps_variance = True

    @staticmethod
    def _new_layout(orbitals: AtomicOrbitals) -> DensityLayout:
        return DensityLayout(orbitals)

    def metric(self, structures):
        from .metric import CoulombMetric

        return CoulombMetric(structures, self.basis)

    def noise_std(self, structures: Sequence[ase.Atoms]) -> np.ndarray:
        """The noise std each coefficient's channel assumed, ``(n, n_coefficients)``."""
        out = []
        for a in structures:
            numbers = a.numbers
            parts = {key: np.full((int(np.sum(numbers == key[1])), 2 * key[2] + 1,
                                   m.solution_.weights.shape[1]), m.sigma_)
                     for key, m in self.models_.items() if key[1] in numbers}
            out.append(self.layout_.assemble(parts, numbers, 1)[0])
        return np.array(out)


__all__ = ["DensityGPR"]
