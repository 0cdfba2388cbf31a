"""Shared fixtures: seeding, tiny structures, tiny models."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
collect_ignore_glob = ["data/*"]


def pytest_collection_modifyitems(config, items):
    if os.environ.get("ATOMLEARN_FULL_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow; set ATOMLEARN_FULL_TESTS=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture
def ethanol_path() -> Path:
    """Ten ethanol frames with DFT labels (a slice of the shipped set)."""
    return DATA / "ethanol_10.extxyz"


@pytest.fixture
def ethanol(ethanol_path):
    from atomlearn.structures import read_structures

    return read_structures(ethanol_path)


@pytest.fixture
def silicon_cell():
    """A rattled 2-atom diamond silicon cell (periodic)."""
    from ase.build import bulk

    atoms = bulk("Si", "diamond", a=5.43)
    atoms.positions += np.random.default_rng(1).normal(scale=0.05, size=atoms.positions.shape)
    return atoms


@pytest.fixture
def tiny_soap():
    from atomlearn.descriptors import SoapPowerSpectrum

    return SoapPowerSpectrum(cutoff=3.5, cutoff_width=0.5, n_max=3, l_max=2, atom_width=0.5)
