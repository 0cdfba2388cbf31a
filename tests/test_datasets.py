import numpy as np

from atomlearn.datasets import load_ethanol, load_extra, load_silicon, load_silicon_bands
from atomlearn.targets import energy


def test_shipped_ethanol():
    frames = load_ethanol(":5")
    assert len(frames) == 5 and frames[0].get_chemical_formula() == "C2H6O"
    assert np.all(energy().read(frames) < -4209)
    extra = load_extra("ethanol")
    assert extra["mo_energies"].shape == (1600, 72)


def test_shipped_silicon():
    frames = load_silicon(":2")
    assert len(frames[0]) == 64 and frames[0].pbc.all()
    assert frames[0].get_stress().shape == (6,)
    bands = load_silicon_bands()
    assert len(bands) == 65 and bands[0].info["band_energies"].shape == (27 * 8,)
    assert frames[0].info["orbital_energies"].shape == (576,)
    assert load_ethanol(":2")[1].info["n_electrons"] == 26
