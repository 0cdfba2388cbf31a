"""Hyperparameters of ``sparse_gpr`` (the single source of their defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SoapOptions:
    """SOAP power spectrum (featomic) of every atomic environment.

    Attributes
    ----------
    cutoff : float
        Radial cutoff in Å.
    cutoff_width : float
        Width of the shifted-cosine smoothing at the cutoff, in Å.
    n_max, l_max : int
        Radial and angular basis size (GAP's ``n_max`` and ``l_max``).
    atom_width : float
        Width of the Gaussian atomic density in Å (GAP's ``atom_sigma``).
    angular_decay : float
        Channel l scaled by :math:`(2l+1)^{-d}`; 0 is featomic's power spectrum. The
        default 1 was chosen on validation frames by ``benchmarks/bench_gap.py`` (ethanol
        forces 62 meV/Å against 74 with featomic's power spectrum as is).
    """

    cutoff: float = 5.0
    cutoff_width: float = 0.5
    n_max: int = 8
    l_max: int = 6
    atom_width: float = 0.5
    angular_decay: float = 1.0


@dataclass
class KernelOptions:
    """Environment kernel on unit-normalised SOAP.

    Attributes
    ----------
    type : {"soap", "rbf"}
        ``soap``: :math:`\\delta^2(\\hat x\\cdot\\hat x')^\\zeta` (``NormalizedDotProduct``);
        ``rbf``: :math:`\\delta^2\\exp(-|\\hat x-\\hat x'|^2/2l^2)`.
    zeta : int
        Power of the SOAP kernel.
    length_scale : float
        Length scale of the RBF kernel (unit-descriptor units).
    delta : float
        Prior scale :math:`\\delta` of an atomic contribution, in the target's unit per
        atom (GAP's ``delta``); a start value when hyperparameters are searched.
    """

    type: str = "soap"
    zeta: int = 4
    length_scale: float = 1.0
    delta: float = 1.0


@dataclass
class SparseGPRHypers:
    """Sparse GPR of per-structure (or per-atom) invariant targets, GAP style.

    Attributes
    ----------
    descriptor : SoapOptions
    kernel : KernelOptions
    n_sparse : int or dict
        Sparse environments of every element (GAP's ``n_sparse`` per species), or a count
        per element symbol; capped at the environments the training set has.
    selection : {"cur", "fps", "random"}
        Leverage-sampled CUR (GAP's ``cur_points``), farthest-point sampling, or random.
    sigma : float
        Noise :math:`\\sigma` of the target values, in the target's unit per atom for an
        extensive target (the noise of a structure is :math:`\\sigma\\sqrt{n_{atoms}}`), in
        its unit otherwise (GAP's ``default_sigma`` energy).
    sigma_forces : float
        Noise of a force component, eV/Å.
    sigma_stress : float
        Noise of a stress component, eV/Å^3 (kept fixed by the searches).
    hyperparameters : {"fixed", "likelihood", "validation"}
        How delta, sigma and sigma_forces are chosen, starting from the given values: kept
        (GAP's way); by the sparse (DTC) log marginal likelihood; or by the errors on
        ``validation_fraction`` of the training structures (kept when either side would
        have fewer than 5). Each trial costs O(M^3). On 400 ethanol frames with 500
        sparse points per element, validation gives 4.3 meV / 26 meV/Å, likelihood
        4.2 / 26 (slower), fixed at GAP's usual values 6.8 / 38.
    validation_fraction : float
        Share of the training structures predicted by a fit without them to calibrate
        the predictive std (and to choose hyperparameters with ``validation``); the
        final fit adds them back at the cost of one O(M^3) solve. 0 turns it off; it is
        skipped when either side would keep fewer than 5 structures.
    jitter : float
        Relative jitter on the diagonal of :math:`K_{MM}` (times :math:`\\delta^2`).
    baseline : "fit", "none" or dict
        Per-element composition baseline: least squares, none, or given per element.
    require_forces : bool
        Refuse training frames without forces instead of fitting their energies only.
    memory_limit : float, optional
        Refuse fits estimated to need more than this many GB (default: what is free).
    chunk_size : int
        Structures per chunk of kernel rows (bounds the memory).
    task_rows : int, optional
        On an executor: rows (values, force components, stress) per task, in whole
        chunks; default twice the sparse points, so merging two tasks' triangles costs a
        sixth of a task. Fewer make more tasks for many workers (deeper trees). The
        result depends on it, never on the worker count.
    random_state : int
        Seed of the sparse-point selection and the held-out split.
    """

    descriptor: SoapOptions = field(default_factory=SoapOptions)
    kernel: KernelOptions = field(default_factory=KernelOptions)
    n_sparse: Any = 500
    selection: str = "cur"
    sigma: float = 1e-3
    sigma_forces: float = 0.03
    sigma_stress: float = 0.01
    hyperparameters: str = "validation"
    validation_fraction: float = 0.2
    jitter: float = 1e-8
    baseline: Any = "fit"
    require_forces: bool = False
    memory_limit: float | None = None
    chunk_size: int = 20
    task_rows: int | None = None
    random_state: int = 0


HYPERS = {"sparse_gpr": SparseGPRHypers}
LAYOUTS = {"sparse_gpr": frozenset({("scalar", False), ("spectrum", False),
                                    ("scalar", True), ("spectrum", True)})}
