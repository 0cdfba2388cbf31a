"""Typed options for ``atomlearn fit`` / ``learning-curve``, parsed from YAML.

Unknown keys are errors that name the key, its section and the closest valid key; the
fully expanded options (defaults filled in) are written next to the outputs.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, closest


@dataclass
class DataOptions:
    """Where structures and labels come from, and how they are split.

    ``train`` is a file path or the name of a shipped dataset (``ethanol``,
    ``silicon``). Without ``test``, a seeded ``test_fraction`` of ``train`` is held out.
    """

    train: str = "ethanol"
    test: str | None = None
    index: str = ":"
    test_fraction: float = 0.2
    validation_fraction: float = 0.0
    n_train: int | None = None
    seed: int = 0
    keys: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)


@dataclass
class DescriptorOptions:
    """SOAP power spectrum settings (Å)."""

    type: str = "soap"
    cutoff: float = 5.0
    cutoff_width: float = 0.5
    n_max: int = 8
    l_max: int = 6
    atom_width: float = 0.5
    angular_decay: float = 0.0    # channel l scaled by (2l+1)^-d (sparse_gpr's SOAP only)


@dataclass
class KernelOptions:
    """Environment kernel: ``soap`` (normalised dot product to ``zeta``) or ``rbf``."""

    type: str = "soap"
    zeta: int = 4
    length_scale: float = 1.0
    delta: float = 1.0


@dataclass
class ModelOptions:
    """Model family and its hyperparameters (``type`` picks from the model registry)."""

    type: str = "sparse_gpr"
    descriptor: DescriptorOptions = field(default_factory=DescriptorOptions)
    kernel: KernelOptions = field(default_factory=KernelOptions)
    n_sparse: Any = 500          # total, or a count per element symbol
    selection: str = "fps"
    sigma: float = 1e-3
    sigma_forces: float = 0.03
    sigma_stress: float = 0.01   # eV/Å^3, with targets.energy.stress: true
    hyperparameters: str = "fixed"
    validation_fraction: float = 0.2
    jitter: float = 1e-8
    reference: Any = "fit"
    require_forces: bool = False
    memory_limit: float | None = None
    chunk_size: int = 20
    random_state: int = 0
    # symmetry-adapted GPR (type: sa_gpr)
    amplitude: float = 1.0       # prior scale, target unit
    symmetry_adapted: bool = True    # false: naive Cartesian baseline
    # neural networks (type: bpnn or mpnn)
    n_hidden: list[int] = field(default_factory=lambda: [32, 32])
    activation: str = "tanh"
    n_features: int = 64         # mpnn: width of scalar and vector channels
    n_interactions: int = 3      # mpnn: message-passing rounds
    n_rbf: int = 20              # mpnn: radial basis functions
    epochs: int = 300
    batch_size: int = 10
    learning_rate: float = 3e-3
    optimizer: str = "adam"
    energy_weight: float = 100.0
    force_weight: float = 1.0
    tensor_weight: float = 1.0   # dipole / polarizability loss weight
    patience: int = 60
    lr_patience: int = 20        # epochs without improvement before the learning rate drops
    lr_factor: float = 0.5
    max_time: float | None = None    # seconds of training per committee member
    n_models: int = 1            # committee size (> 1 gives a predictive std)
    checkpoint_every: int = 10   # epochs between checkpoints (<model>.ckpt)
    dtype: str = "float64"
    device: str = "cpu"


@dataclass
class OutputOptions:
    """What ``fit`` writes besides the model: plots (PNG) and a metrics JSON."""

    plots: bool = True
    directory: str | None = None


@dataclass
class Options:
    """All options of a fit."""

    targets: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"energy": {"forces": False}})
    data: DataOptions = field(default_factory=DataOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    output: OutputOptions = field(default_factory=OutputOptions)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _parse(cls, raw: Any, section: str):
    if not isinstance(raw, dict):
        raise ConfigError(
            f"Section '{section or 'options'}' must be a mapping of keys to values. "
            f"Got {type(raw).__name__} {raw!r}."
        )
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        where = f"{section}.{key}" if section else str(key)
        if key not in names:
            raise ConfigError(
                f"Unknown option '{where}'; valid keys in '{section or 'options'}' are "
                f"{', '.join(repr(n) for n in names)}.{closest(str(key), names)}"
            )
        values[key] = _coerce(hints[key], value, where)
    return cls(**values)


def _coerce(hint, value, where: str):
    if dataclasses.is_dataclass(hint):
        return _parse(hint, value if value is not None else {}, where)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(non_none[0], value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"Option '{where}' must be a mapping. Got {value!r}.")
        return {str(k): v for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"Option '{where}' must be true or false. Got {value!r}.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"Option '{where}' must be an integer. Got {value!r}.")
        return value
    if hint is float:
        if isinstance(value, str):
            # YAML 1.1 reads 1e-6 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"Option '{where}' must be a number. Got {value!r}.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"Option '{where}' must be a string. Got {value!r}.")
        return value
    return value


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"Cannot set '{dotted}': '{part}' is not a section.")
    node[parts[-1]] = value


def parse_overrides(overrides: list[str] | None) -> list[tuple[str, Any]]:
    """Parse ``key.sub=value`` strings (values are YAML: ``3``, ``true``, ``[1, 2]``)."""
    out = []
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(
                f"Override {item!r} must look like 'section.key=value', e.g. "
                "'model.n_sparse=200'."
            )
        key, _, text = item.partition("=")
        out.append((key.strip(), yaml.safe_load(text)))
    return out


def load_options(path: str | os.PathLike | None = None, overrides: list[str] | None = None,
                 raw: dict | None = None) -> Options:
    """Read an options file, apply ``--set`` overrides, and validate.

    Parameters
    ----------
    path : str or path-like, optional
        YAML options file.
    overrides : list of str, optional
        ``"model.n_sparse=200"`` style settings applied on top.
    raw : dict, optional
        Options as a mapping instead of a file.

    Returns
    -------
    Options
    """
    if raw is None:
        raw = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise ConfigError(f"Options file '{path}' does not exist; check the path.")
            try:
                raw = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"Options file '{path}' is not valid YAML: {err}") from err
    raw = dict(raw)
    for key, value in parse_overrides(overrides):
        _set_dotted(raw, key, value)
    targets = raw.get("targets", None)
    if isinstance(targets, list):
        raw["targets"] = {str(t): {} for t in targets}
    elif isinstance(targets, dict):
        raw["targets"] = {str(k): (v or {}) for k, v in targets.items()}
    return _parse(Options, raw, "")


def dump_options(options: Options, path: str | os.PathLike) -> None:
    """Write the expanded options (defaults filled in) as YAML."""
    Path(path).write_text(yaml.safe_dump(options.to_dict(), sort_keys=False))
