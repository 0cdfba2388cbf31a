"""Typed option schemas and their YAML loader."""

from .schema import (
    DataOptions,
    DescriptorOptions,
    KernelOptions,
    ModelOptions,
    Options,
    OutputOptions,
    dump_options,
    load_options,
    parse_overrides,
)

__all__ = [
    "DataOptions",
    "DescriptorOptions",
    "KernelOptions",
    "ModelOptions",
    "Options",
    "OutputOptions",
    "dump_options",
    "load_options",
    "parse_overrides",
]
