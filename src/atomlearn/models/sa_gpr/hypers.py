"""Hyperparameters of ``sa_gpr`` (the single source of their defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LambdaSoapOptions:
    """lambda-SOAP (featomic's Clebsch-Gordan product), normalised as in SA-GPR.

    Attributes
    ----------
    cutoff, cutoff_width : float
        Radial cutoff and its smoothing width, Å.
    n_max, l_max : int
        Radial and angular basis size.
    atom_width : float
        Width of the Gaussian atomic density, Å.
    """

    cutoff: float = 5.0
    cutoff_width: float = 0.5
    n_max: int = 6
    l_max: int = 4
    atom_width: float = 0.5


@dataclass
class SymmetryAdaptedKernelOptions:
    """The lambda kernel.

    Attributes
    ----------
    zeta : int
        Power of the invariant factor :math:`(x^0\\cdot x'^0)^{\\zeta-1}`.
    delta : float
        Prior scale, in the target's unit (a start value with ``likelihood``).
    """

    zeta: int = 2
    delta: float = 1.0


@dataclass
class BlockOptions:
    """Options of every target learned channel by channel of an atom-centred basis
    (:mod:`atomlearn.models.sa_gpr.operator`).

    Attributes
    ----------
    n_candidates : int
        Training structures whose blocks (or atoms) are the candidates of the sparse
        points.
    chunk_structures : int
        Structures per chunk of features while fitting and predicting.
    metric_weight : float
        Re-solve the channels' weights jointly with this weight on the error in the
        target's metric (operators: the Löwdin basis, which decides eigenvalues;
        densities: the Coulomb metric of the density fit) of ``metric_structures``
        training structures; 0: each channel's Euclidean loss only (see
        :mod:`atomlearn.models.sa_gpr.metric`).
    metric_structures : int
        Training structures in that term (their kernel rows are held in memory).
    metric_iterations : int
        Iterations of the re-solve (L-BFGS; conjugate gradients for the Coulomb metric).
    """

    n_candidates: int = 100
    chunk_structures: int = 25
    metric_weight: float = 1.0
    metric_structures: int = 100
    metric_iterations: int = 200


@dataclass
class OperatorOptions(BlockOptions):
    """Options of operator targets (a Kohn-Sham matrix), learned block by block; also
    those of :class:`BlockOptions`. The Löwdin-metric re-solve is what brings the
    virtual levels (LUMO, gap) close.

    Attributes
    ----------
    pair_cutoff : float
        Largest distance (Å) of an atom pair whose block is learned; farther blocks are
        zero.
    pair_n_max, pair_l_max : int
        Radial and angular basis of the bond-vector expansion of pair features.
    orthogonal : bool
        Learn the Löwdin-orthogonalised matrix :math:`S^{-1/2}HS^{-1/2}` instead of H
        (errors then move eigenvalues by at most their size; see
        :mod:`atomlearn.models.sa_gpr.operator`).
    """

    pair_cutoff: float = 5.0
    pair_n_max: int = 4
    pair_l_max: int = 4
    orthogonal: bool = False


@dataclass
class DensityOptions(BlockOptions):
    """Options of density-coefficient targets, learned per (element, lambda) channel;
    also those of :class:`BlockOptions`, here with the Coulomb-metric loss on (it lowers
    the density error several times over the Euclidean loss; every training structure up
    to 1000 is in the metric term, as a fixed subset lets the Euclidean part take over as
    the training set grows). Normalisation to the
    electron count is an option of the target (``normalize``).
    """

    n_candidates: int = 200
    chunk_structures: int = 50
    metric_weight: float = 100.0
    metric_structures: int = 1000
    metric_iterations: int = 200


@dataclass
class SymmetryAdaptedGPRHypers:
    """Symmetry-adapted sparse GPR of vectors, symmetric rank-2 tensors and operators in
    an atom-centred basis.

    Attributes
    ----------
    descriptor : LambdaSoapOptions
    kernel : SymmetryAdaptedKernelOptions
        For operators ``delta`` is relative to each block channel's rms.
    n_sparse : int or dict
        Sparse environments of each lambda-GPR per element, one count for every element
        or a count per element symbol (capped at the environments there are).
    sigma : float
        Noise per spherical component, in the target's unit (a start value with
        ``likelihood``); for operators relative to each block channel's rms.
    hyperparameters : {"fixed", "likelihood"}
        ``likelihood``: sigma and delta of every lambda by maximum (sparse) marginal
        likelihood.
    symmetry_adapted : bool
        False gives the naive baseline: each Cartesian component learned on its own with
        the invariant (lambda = 0) kernel. Its predictions rotate wrongly; it exists to
        measure what symmetry adaptation buys.
    validation_fraction : float
        Share of the training structures held out once to calibrate the std (at least 5
        on each side, else no calibration); 0 turns it off. The DTC variance keeps the
        whole Nyström residual of the prior, which overstates the error when the sparse
        set is small.
    baseline : "fit" or "none"
        Per-element isotropic baseline of rank-2 tensors (vectors have none).
    jitter : float
        Relative jitter on the diagonal of :math:`K_{MM}`.
    chunk_size : int
        Structures per chunk of kernel rows.
    random_state : int
    operator : OperatorOptions
    density : DensityOptions
    """

    descriptor: LambdaSoapOptions = field(default_factory=LambdaSoapOptions)
    kernel: SymmetryAdaptedKernelOptions = field(default_factory=SymmetryAdaptedKernelOptions)
    n_sparse: Any = 100
    sigma: float = 1e-2
    hyperparameters: str = "likelihood"
    symmetry_adapted: bool = True
    validation_fraction: float = 0.1
    baseline: Any = "fit"
    jitter: float = 1e-10
    chunk_size: int = 200
    random_state: int = 0
    operator: OperatorOptions = field(default_factory=OperatorOptions)
    density: DensityOptions = field(default_factory=DensityOptions)


HYPERS = {"sa_gpr": SymmetryAdaptedGPRHypers}
LAYOUTS = {"sa_gpr": frozenset({("vector", False), ("rank2_symmetric", False),
                                 ("operator", False), ("density_coefficients", False)})}
