"""Library functions behind the command line: build, fit, evaluate, learning curves.

Everything the CLI does is importable from here, so it can be tested in-process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import ase
import numpy as np

from . import datasets
from .config import Options
from .descriptors import LambdaSoap, SoapPowerSpectrum
from .errors import ConfigError, check_choice
from .gp import SELECTIONS
from .metrics import calibration_report, error_report, learning_curve
from .models import SparseGPRModel, SymmetryAdaptedGPRModel, model_class, model_types
from .models.gpr import HYPERPARAMETERS, KERNELS
from .structures import KeySpec, convert, has_label, read_structures, split_indices
from .targets import TargetSpec, energy, read_gradient_labels, target_from_options

log = logging.getLogger(__name__)


def read_data(source: str, index: str = ":") -> list[ase.Atoms]:
    """Structures from a file path or a shipped dataset name (``ethanol``, ``silicon``)."""
    loaders = {"ethanol": datasets.load_ethanol, "silicon": datasets.load_silicon,
               "silicon_bands": datasets.load_silicon_bands}
    if source in loaders and not Path(source).exists():
        return loaders[source](index)
    return read_structures(source, index=index)


def target_specs(options: Options) -> list[TargetSpec]:
    """Target specs named in the options."""
    if not options.targets:
        raise ConfigError("'targets' is empty; name at least one target, e.g. 'energy'.")
    return [target_from_options(name, opts) for name, opts in options.targets.items()]


def build_model(options: Options, *, checkpoint: str | Path | None = None,
                resume: bool = False):
    """A fresh, unfitted model from the options (through the model registry).

    ``checkpoint`` and ``resume`` apply to trained networks: their training state is saved
    to ``checkpoint`` and, with ``resume``, continued from it.
    """
    m = options.model
    check_choice(m.type, model_types(), "model type")
    specs = target_specs(options)
    if m.type == "sparse_gpr":
        if len(specs) != 1:
            raise ConfigError(
                f"Model type 'sparse_gpr' learns one target; got {[s.name for s in specs]}.")
        check_choice(m.descriptor.type, ("soap",), "descriptor type")
        check_choice(m.kernel.type, KERNELS, "kernel type")
        check_choice(m.selection, SELECTIONS, "sparse-point selection")
        check_choice(m.hyperparameters, HYPERPARAMETERS, "hyperparameters")
        d = m.descriptor
        return SparseGPRModel(
            target=specs[0],
            descriptor=SoapPowerSpectrum(cutoff=d.cutoff, cutoff_width=d.cutoff_width,
                                         n_max=d.n_max, l_max=d.l_max,
                                         atom_width=d.atom_width,
                                         angular_decay=d.angular_decay),
            kernel=m.kernel.type, zeta=m.kernel.zeta, length_scale=m.kernel.length_scale,
            delta=m.kernel.delta, n_sparse=m.n_sparse, selection=m.selection,
            sigma=m.sigma, sigma_forces=m.sigma_forces, sigma_stress=m.sigma_stress,
            hyperparameters=m.hyperparameters,
            validation_fraction=m.validation_fraction,
            jitter=m.jitter, reference=m.reference, require_forces=m.require_forces,
            memory_limit=m.memory_limit, keys=KeySpec(overrides=dict(options.data.keys)),
            chunk_size=m.chunk_size, random_state=m.random_state)
    if m.type == "sa_gpr":
        if len(specs) != 1:
            raise ConfigError(
                f"Model type 'sa_gpr' learns one target; got {[s.name for s in specs]}. Fit "
                "one model per target.")
        check_choice(m.descriptor.type, ("soap",), "descriptor type")
        check_choice(m.hyperparameters, ("fixed", "likelihood"), "hyperparameters")
        d = m.descriptor
        if d.angular_decay:
            raise ConfigError(
                "'model.descriptor.angular_decay' applies to the SOAP power spectrum of "
                "'sparse_gpr' models; lambda-SOAP keeps featomic's normalisation. Remove it.")
        return SymmetryAdaptedGPRModel(
            target=specs[0],
            descriptor=LambdaSoap(cutoff=d.cutoff, cutoff_width=d.cutoff_width, n_max=d.n_max,
                                  l_max=d.l_max, atom_width=d.atom_width),
            zeta=m.kernel.zeta, n_sparse=m.n_sparse, sigma=m.sigma, amplitude=m.amplitude,
            hyperparameters=m.hyperparameters, symmetry_adapted=m.symmetry_adapted,
            random_state=m.random_state, keys=KeySpec(overrides=dict(options.data.keys)))
    if m.type in ("bpnn", "mpnn"):
        check_choice(m.dtype, ("float64", "float32"), "dtype")
        check_choice(m.optimizer, ("adam", "sgd"), "optimizer")
        check_choice(m.activation, ("tanh", "silu", "softplus"), "activation")
        common = dict(
            target=specs[0] if len(specs) == 1 else specs, cutoff=m.descriptor.cutoff,
            n_hidden=m.n_hidden, tensor_weight=m.tensor_weight,
            activation=m.activation, epochs=m.epochs, batch_size=m.batch_size,
            learning_rate=m.learning_rate, optimizer=m.optimizer,
            energy_weight=m.energy_weight, force_weight=m.force_weight,
            validation_fraction=m.validation_fraction, patience=m.patience,
            lr_patience=m.lr_patience, lr_factor=m.lr_factor, max_time=m.max_time,
            n_models=m.n_models, dtype=m.dtype, device=m.device,
            random_state=m.random_state, checkpoint=checkpoint,
            checkpoint_every=m.checkpoint_every, resume=resume,
            keys=KeySpec(overrides=dict(options.data.keys)))
        if m.type == "bpnn":
            return model_class("bpnn")(**common)
        return model_class("mpnn")(n_features=m.n_features, n_interactions=m.n_interactions,
                                   n_rbf=m.n_rbf, **common)
    raise ConfigError(f"Model type {m.type!r} cannot be built from options yet.")


def read_targets(specs, structures, options: Options) -> dict[str, np.ndarray]:
    """Reference labels of ``structures`` in internal units (converted from data.units).

    An energy target with forces (stress) also yields ``"forces"`` (n_atoms_total, 3)
    (``"stress"`` (n_structures, 3, 3)) when every structure has them; the model decides
    what to do with frames that lack them.
    """
    keys = KeySpec(overrides=dict(options.data.keys))
    units = options.data.units
    out = {s.name: s.read(structures, keys, unit=units.get(s.name)) for s in specs}
    for s in specs:
        for name, unit in (("forces", "eV/Å"), ("stress", "eV/Å^3")):
            if name in s.gradients and all(has_label(a, name, keys) for a in structures):
                value = read_gradient_labels(energy(forces=name == "forces",
                                                    stress=name == "stress"),
                                             structures, keys)[name]
                out[name] = convert(value, units[name], unit) if name in units else value
    return out


@dataclass
class Evaluation:
    """Predictions on a set of structures and their errors."""

    reference: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]
    std: dict[str, np.ndarray] | None
    errors: dict[str, dict[str, float]] = field(default_factory=dict)


def evaluate(model, structures, reference: dict[str, np.ndarray]) -> Evaluation:
    """Predict ``structures``, compare with ``reference`` and check the uncertainties.

    For targets with a predictive standard deviation, ``errors[name]["calibration"]``
    holds :func:`atomlearn.metrics.calibration_report` of the errors against the total
    standard deviation (latent plus the fit's observation noise).
    """
    names = list(reference)
    has_std = True
    try:
        pred, std = model.predict(structures, targets=names, return_std=True)
    except NotImplementedError:
        pred, std, has_std = model.predict(structures, targets=names), None, False
    n_atoms = np.array([len(a) for a in structures])
    errors = {}
    for name, ref in reference.items():
        errors[name] = error_report(pred[name], ref,
                                    n_atoms=n_atoms if name == "energy" else None)
        if has_std and name in std:
            noise = model.noise_std(name, structures) if hasattr(model, "noise_std") else 0.0
            errors[name]["calibration"] = calibration_report(
                pred[name], ref, np.sqrt(std[name] ** 2 + noise**2))
    return Evaluation(reference, pred, std if has_std else None, errors)


def split_data(options: Options, structures: list[ase.Atoms]):
    """Train / test structures following ``options.data``."""
    d = options.data
    if d.test is not None:
        test = read_data(d.test)
        split = split_indices(len(structures), test_fraction=0.0,
                              validation_fraction=d.validation_fraction,
                              n_train=d.n_train, seed=d.seed)
        return [structures[i] for i in split.train], test
    split = split_indices(len(structures), test_fraction=d.test_fraction,
                          validation_fraction=d.validation_fraction, n_train=d.n_train,
                          seed=d.seed)
    return [structures[i] for i in split.train], [structures[i] for i in split.test]


@dataclass
class FitResult:
    model: object
    n_train: int
    test: Evaluation | None


def fit_from_config(options: Options, train_override: str | None = None, *,
                    checkpoint: str | Path | None = None, resume: bool = False) -> FitResult:
    """Read data, fit the configured model, evaluate it on the held-out set."""
    # validates the options before any data is read
    model = build_model(options, checkpoint=checkpoint, resume=resume)
    specs = target_specs(options)
    structures = read_data(train_override or options.data.train, options.data.index)
    train, test = split_data(options, structures)
    log.info("fitting %s on %d structures", options.model.type, len(train))
    model.fit(train, read_targets(specs, train, options))
    evaluation = evaluate(model, test, read_targets(specs, test, options)) if test else None
    return FitResult(model, len(train), evaluation)


def learning_curve_from_config(options: Options, train_sizes, repeats: int = 1,
                               train_override: str | None = None):
    """Learning curve of the configured model on the fixed held-out set of the options."""
    structures = read_data(train_override or options.data.train, options.data.index)
    options.data.n_train = None
    pool, test = split_data(options, structures)
    if not test:
        raise ConfigError("A learning curve needs a test set: set 'data.test_fraction' > 0 "
                          "or 'data.test'.")
    specs = target_specs(options)
    test_targets = read_targets(specs, test, options)
    units = {s.name: s.unit for s in specs}
    units.update({name: unit for name, unit in (("forces", "eV/Å"), ("stress", "eV/Å^3"))
                  if name in test_targets})

    def fit_predict(idx):
        train = [pool[i] for i in idx]
        train_targets = read_targets(specs, train, options)
        model = build_model(options)
        n_env = sum(len(a) for a in train)
        if isinstance(getattr(model, "n_sparse", None), int) and model.n_sparse > n_env:
            # small training sets use every environment as a sparse point (exact GP)
            log.debug("n_train=%d: n_sparse capped at %d environments", len(idx), n_env)
            model.n_sparse = n_env
        model.fit(train, train_targets)
        names = list(test_targets)
        p_train = model.predict(train, targets=names)
        p_test = model.predict(test, targets=names)
        return ({k: (p_train[k], train_targets[k]) for k in names},
                {k: (p_test[k], test_targets[k]) for k in names})

    # one line per fit would drown the progress bar: keep the models' log for warnings
    models_log = logging.getLogger("atomlearn.models")
    level = models_log.level
    models_log.setLevel(max(level, logging.WARNING))
    try:
        return learning_curve(fit_predict, len(pool), train_sizes=train_sizes,
                              repeats=repeats, seed=options.data.seed, units=units)
    finally:
        models_log.setLevel(level)
