"""Typed option schemas and their YAML loader."""

from .schema import (
    DataOptions,
    ModelOptions,
    Options,
    OutputOptions,
    dump_options,
    load_options,
    parse_model,
    parse_overrides,
)

__all__ = [
    "DataOptions",
    "ModelOptions",
    "Options",
    "OutputOptions",
    "dump_options",
    "parse_model",
    "load_options",
    "parse_overrides",
]
