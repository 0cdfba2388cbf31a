"""Library functions behind the command line: build, fit, evaluate, learning curves.

Everything the CLI does is importable from here, so it can be tested in-process. None of
these functions changes the options it is given.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import ase
import numpy as np

from . import datasets, threads
from .config import Options
from .errors import ConfigError, DataError
from .metrics import calibration_report, error_report, learning_curve
from .models import StructureModel, model_class
from .structures import KeySpec, read_structures, split_indices
from .targets import Dataset, TargetSpec, target_from_options

log = logging.getLogger(__name__)


_LOADERS = {"ethanol": datasets.load_ethanol, "silicon": datasets.load_silicon,
            "silicon_bands": datasets.load_silicon_bands,
            "ethanol_tda": datasets.load_ethanol_excitations,
            "ethanol_fock": datasets.load_ethanol_hamiltonians,
            "ethanol_density": datasets.load_ethanol_densities}
#: Shipped sources that are a selection of another's file.
_FILES = {"ethanol_tda": "ethanol", "ethanol_fock": "ethanol", "ethanol_density": "ethanol"}


def read_data(source: str, index: str = ":") -> list[ase.Atoms]:
    """Structures from a file path or a shipped dataset name (``ethanol``, ``silicon``,
    ``silicon_bands``, ``ethanol_tda``: the ethanol frames with TDA excitations,
    ``ethanol_fock``: those with Kohn-Sham matrices, ``ethanol_density``: every frame
    with its density-fitting coefficients)."""
    if source in _LOADERS and not Path(source).exists():
        return _LOADERS[source](index)
    return read_structures(source, index=index)


def data_file(source: str) -> Path:
    """The file behind a data source (a path, or a shipped dataset's extended XYZ)."""
    if source in _LOADERS and not Path(source).exists():
        return datasets.data_path(_FILES.get(source, source))
    return Path(source)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content (hex)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def training_source(options: Options, train_override: str | None = None) -> str:
    """The training data of a run: ``--train``, else ``data.train``; refused when neither
    names it, or when the file no longer has the content the options recorded."""
    source = train_override or options.data.train
    if not source:
        raise ConfigError(
            "No training data: set 'data.train' to an extended XYZ file or a shipped dataset "
            f"({', '.join(sorted(_LOADERS))}) in the options, or pass --train FILE.")
    recorded = options.data.train_sha256
    if recorded and not train_override:
        path = data_file(source)
        if path.is_file() and file_sha256(path) != recorded:
            raise ConfigError(
                f"'data.train' file '{path}' has changed since these options were written "
                f"(sha256 {recorded[:12]}..., now {file_sha256(path)[:12]}...); refitting "
                "from them would not repeat the run. Remove 'data.train_sha256' to fit the "
                "file as it is now.")
    return source


def target_specs(options: Options) -> list[TargetSpec]:
    """Target specs named in the options."""
    if not options.targets:
        raise ConfigError("'targets' is empty; name at least one target, e.g. 'energy'.")
    return [target_from_options(name, opts) for name, opts in options.targets.items()]


def keys_of(options: Options) -> KeySpec:
    return KeySpec(overrides=dict(options.data.keys))


def build_model(options: Options, *, checkpoint: str | Path | None = None,
                resume: bool = False) -> StructureModel:
    """A fresh, unfitted model from the options (through the model registry); the targets
    are checked against what the family learns before any data is read.

    ``checkpoint`` and ``resume`` apply to trained networks: their training state is saved
    to ``checkpoint`` and, with ``resume``, continued from it.
    """
    cls = model_class(options.model.type)
    specs = target_specs(options)
    cls.check_targets(specs)
    extra = {"checkpoint": checkpoint, "resume": resume} if cls.checkpoints else {}
    model = cls(specs, keys=keys_of(options), **dataclasses.asdict(options.model.hypers),
                **extra)
    model.check_hypers()
    return model


def read_labels(model: StructureModel, structures, options: Options) -> Dataset:
    """Reference labels of ``structures`` for the model's targets, in internal units
    (converted from ``data.units``); forces and stress where the structures have them."""
    return Dataset.read(structures, model.target_specs, keys=keys_of(options),
                        units=options.data.units, missing_gradients="allow")


def derived_labels(model: StructureModel, structures, options: Options
                   ) -> dict[str, np.ndarray]:
    """Labels of what the model derives from its targets (a Hamiltonian's orbital
    energies, HOMO, LUMO and gap), for each such output every structure has."""
    own = {s.name for s in model.target_specs} | {"forces", "stress"}
    out = {}
    for name, spec in model.supported_targets.items():
        if name in own:
            continue
        try:
            out[name] = spec.read(structures, keys_of(options),
                                  unit=(options.data.units or {}).get(name))
        except DataError:
            continue
    return out


@dataclass
class Evaluation:
    """Predictions on a set of structures and their errors."""

    reference: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]
    std: dict[str, np.ndarray] | None
    errors: dict[str, dict[str, float]] = field(default_factory=dict)


def evaluate(model: StructureModel, structures, reference: dict[str, np.ndarray]
             ) -> Evaluation:
    """Predict ``structures``, compare with ``reference`` and check the uncertainties.

    For targets with a predictive standard deviation, ``errors[name]["calibration"]``
    holds :func:`atomlearn.metrics.calibration_report` of the errors against the total
    standard deviation (latent plus the fit's observation noise). Reference rows that are
    NaN (structures without forces) are left out.
    """
    names = [n for n in reference if n in model.supported_targets]
    with_std = model.provides_uncertainty
    out = model.predict(structures, targets=names, return_std=with_std)
    pred, std = out if with_std else (out, None)
    n_atoms = np.array([len(a) for a in structures])
    specs = model.supported_targets
    errors = {}
    for name in names:
        ref, p = reference[name], pred[name]
        ok = np.isfinite(ref).reshape(len(ref), -1).all(axis=1)
        extensive = specs[name].extensive and not specs[name].per_atom and name not in (
            "forces", "stress")
        errors[name] = error_report(p[ok], ref[ok], n_atoms=n_atoms[ok] if extensive
                                    and specs[name].kind == "scalar" else None)
        if std is not None and name in std:
            total = np.sqrt(std[name] ** 2 + model.noise_std(name, structures) ** 2)
            errors[name]["calibration"] = calibration_report(p[ok], ref[ok], total[ok])
    return Evaluation({n: reference[n] for n in names}, pred, std, errors)


def split_data(options: Options, structures: list[ase.Atoms]):
    """Train / test structures following ``options.data``."""
    d = options.data
    if d.test is not None:
        test = read_data(d.test)
        split = split_indices(len(structures), test_fraction=0.0, n_train=d.n_train,
                              seed=d.seed)
        return [structures[i] for i in split.train], test
    split = split_indices(len(structures), test_fraction=d.test_fraction, n_train=d.n_train,
                          seed=d.seed)
    return [structures[i] for i in split.train], [structures[i] for i in split.test]


@dataclass
class FitResult:
    model: StructureModel
    n_train: int
    test: Evaluation | None
    #: the options as run: ``data.train`` resolved (``--train`` included) with its hash
    options: Options | None = None


def fit_from_config(options: Options, train_override: str | None = None, *,
                    checkpoint: str | Path | None = None, resume: bool = False,
                    executor=None, distributed=None) -> FitResult:
    """Read data, fit the configured model, evaluate it on the held-out set; a sparse GP
    builds its kernel rows as tasks of ``executor`` when one is given, a network trains
    data-parallel on the ranks of ``distributed``
    (:class:`atomlearn.distributed.Distributed`; rank 0 alone evaluates)."""
    # validates the options, targets and data source before any data is read
    model = build_model(options, checkpoint=checkpoint, resume=resume)
    if distributed is not None:
        if not getattr(model, "checkpoints", False):
            raise ConfigError(
                f"Data-parallel launches (torchrun, srun) train networks; a "
                f"{options.model.type} model fits in one process. Run one process and "
                "spread its kernel rows with '--executor dask --workers N'.")
        if executor is not None:
            raise ConfigError("A data-parallel launch trains one network on all ranks; "
                              "leave out --executor (committee members are executor "
                              "tasks only in a single-process run).")
        model.distributed = distributed
    if executor is not None:
        committee = getattr(model.hypers, "n_models", 1) > 1
        if not hasattr(model, "consolidate") and not committee:
            raise ConfigError(f"--executor distributes sparse GP fits and committee members; "
                              f"one {options.model.type} network trains in this process.")
        model.executor = executor
    source = training_source(options, train_override)
    structures = read_data(source, options.data.index)
    train, test = split_data(options, structures)
    # every label the run needs, test set included, is checked before the fit
    test_labels = ({**derived_labels(model, test, options),
                    **read_labels(model, test, options).labels} if test else None)
    train_labels = read_labels(model, train, options).labels
    log.info("fitting %s on %d structures with %s", options.model.type, len(train),
             threads.describe())
    model.fit(train, train_labels)
    model.__dict__.pop("executor", None)        # closed by the caller
    model.__dict__.pop("distributed", None)
    main = distributed is None or distributed.is_main
    evaluation = evaluate(model, test, test_labels) if test and main else None
    path = data_file(source)
    digest = file_sha256(path)
    shipped = source in _LOADERS and not Path(source).exists()
    run = dataclasses.replace(options, data=dataclasses.replace(
        options.data, train=source if shipped else str(path.resolve()), train_sha256=digest))
    model.provenance_ = {
        "train": {"source": str(source), "path": str(path.resolve()), "sha256": digest,
                  "index": options.data.index, "n_read": len(structures), "n_train": len(train),
                  "n_test": len(test), "seed": options.data.seed},
        "test_errors": ({name: {k: v for k, v in e.items() if k != "calibration"}
                         for name, e in evaluation.errors.items()} if evaluation else {}),
        "options": run.to_dict()}
    return FitResult(model, len(train), evaluation, run)


def learning_curve_from_config(options: Options, train_sizes, repeats: int = 1,
                               train_override: str | None = None, executor=None):
    """Learning curve of the configured model on the fixed held-out set of the options;
    the fits run as tasks of ``executor`` when one is given."""
    options = dataclasses.replace(options, data=dataclasses.replace(options.data,
                                                                    n_train=None))
    structures = read_data(training_source(options, train_override), options.data.index)
    pool, test = split_data(options, structures)
    if not test:
        raise ConfigError("A learning curve needs a test set: set 'data.test_fraction' > 0 "
                          "or 'data.test'.")
    template = build_model(options)
    test_labels = {**derived_labels(template, test, options),
                   **read_labels(template, test, options).labels}
    specs = template.supported_targets
    units = {name: specs[name].unit for name in test_labels if name in specs}
    log.info("learning curve of %s with %s", options.model.type, threads.describe())
    # one line per fit would drown the progress bar: keep the models' log for warnings
    models_log = logging.getLogger("atomlearn.models")
    level = models_log.level
    models_log.setLevel(max(level, logging.WARNING))
    try:
        return learning_curve(FitPredict(options, pool, test, test_labels), len(pool),
                              train_sizes=train_sizes, repeats=repeats,
                              seed=options.data.seed, units=units, executor=executor)
    finally:
        models_log.setLevel(level)


@dataclass
class FitPredict:
    """One learning-curve point: fit a fresh model on some of the pool, predict the
    subset and the test set (a picklable task)."""

    options: Options
    pool: list
    test: list
    test_labels: dict

    def __call__(self, idx):
        train = [self.pool[i] for i in idx]
        model = build_model(self.options)
        labels = read_labels(model, train, self.options).labels
        model.fit(train, labels)
        # what the model derives from its targets (a Hamiltonian's levels) is scored too
        train_labels = {**derived_labels(model, train, self.options), **labels}
        names = [n for n in self.test_labels if n in model.supported_targets
                 and n in train_labels]
        p_train = model.predict(train, targets=names)
        p_test = model.predict(self.test, targets=names)
        return ({k: _finite(p_train[k], train_labels[k]) for k in names},
                {k: _finite(p_test[k], self.test_labels[k]) for k in names})


def _finite(pred: np.ndarray, ref: np.ndarray):
    """Rows with a finite reference (frames without forces are left out)."""
    ok = np.isfinite(ref).reshape(len(ref), -1).all(axis=1)
    return pred[ok], ref[ok]


__all__ = ["Evaluation", "FitResult", "build_model", "evaluate",
           "fit_from_config", "learning_curve_from_config", "read_data", "read_labels",
           "split_data", "target_specs"]
