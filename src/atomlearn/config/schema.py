"""Typed options for ``atomlearn fit`` / ``learning-curve``, parsed from YAML.

The ``model`` section is the chosen family's hyperparameter dataclass (the single source
of its defaults; :func:`atomlearn.models.family_hypers`), so YAML and Python build the same
model. Unknown keys are errors that name the key, its section and the closest valid key,
and an option of another family names that family; the fully expanded options (defaults
filled in) are written next to the outputs. Nothing here changes what it is given.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..active.options import LearnOptions
from ..errors import ConfigError
from ..models import family_hypers, model_types
from ..models.hypers import parse


@dataclass
class DataOptions:
    """Where structures and labels come from, and how they are split.

    ``train`` is a file path or the name of a shipped dataset (``ethanol``, ``silicon``,
    ``silicon_bands``); it has no default (``--train`` can give it). ``train_sha256``,
    written into the saved options by ``fit``, makes a refit refuse a changed file.
    Without ``test``, a seeded ``test_fraction`` of ``train`` is held out. ``keys`` names
    the key of a label (``{energy: dft_energy}``) and ``units`` the unit of a label in the
    file (``{energy: Hartree}``).
    """

    train: str | None = None
    train_sha256: str | None = None
    test: str | None = None
    index: str = ":"
    test_fraction: float = 0.2
    n_train: int | None = None
    seed: int = 0
    keys: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelOptions:
    """The model family (``type``, from the model registry) and its hyperparameters."""

    type: str = "sparse_gpr"
    hypers: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **dataclasses.asdict(self.hypers)}

    def __getattr__(self, name: str):
        hypers = self.__dict__.get("hypers")
        if hypers is not None and hasattr(hypers, name):
            return getattr(hypers, name)
        raise AttributeError(f"'ModelOptions' object has no attribute {name!r}")


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
    model: ModelOptions = field(default_factory=lambda: parse_model({}))
    output: OutputOptions = field(default_factory=OutputOptions)
    learn: LearnOptions = field(default_factory=LearnOptions)

    def to_dict(self) -> dict[str, Any]:
        return {"targets": copy.deepcopy(self.targets),
                "data": dataclasses.asdict(self.data), "model": self.model.to_dict(),
                "output": dataclasses.asdict(self.output),
                "learn": dataclasses.asdict(self.learn)}


def parse_model(raw: Any) -> ModelOptions:
    """The ``model`` section: its ``type`` picks the family, whose dataclass parses the
    rest."""
    if not isinstance(raw, dict):
        raise ConfigError(f"Section 'model' must be a mapping of keys to values. Got "
                          f"{type(raw).__name__} {raw!r}.")
    raw = dict(raw)
    kind = raw.pop("type", "sparse_gpr")
    if not isinstance(kind, str) or kind not in model_types():
        from ..errors import check_choice

        check_choice(str(kind), model_types(), "model type")
    others = {name: family_hypers(name) for name in model_types()}
    return ModelOptions(kind, parse(family_hypers(kind), raw, "model", family=kind,
                                    other_families=others))


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
        Options as a mapping instead of a file (not modified).

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
                raw = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
            except UnicodeDecodeError as err:
                raise ConfigError(f"Options file '{path}' is not a text (YAML) file: byte "
                                  f"{err.start} is not UTF-8. Pass the options file, not a "
                                  "model or data file.") from err
            except (yaml.YAMLError, RecursionError) as err:
                raise ConfigError(f"Options file '{path}' is not valid YAML: "
                                  f"{str(err)[:300]}") from err
    raw = copy.deepcopy(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"Options must be a mapping of sections; got {type(raw).__name__}.")
    for key, value in parse_overrides(overrides):
        _set_dotted(raw, key, value)
    targets = raw.get("targets", None)
    if isinstance(targets, list):
        raw["targets"] = {str(t): {} for t in targets}
    elif isinstance(targets, dict):
        raw["targets"] = {str(k): (v or {}) for k, v in targets.items()}
    model = parse_model(raw.pop("model", {}) or {})
    options = parse(Options, raw, "")
    options.model = model
    return options


def dump_options(options: Options, path: str | os.PathLike) -> None:
    """Write the expanded options (defaults filled in) as YAML."""
    Path(path).write_text(yaml.safe_dump(options.to_dict(), sort_keys=False))
