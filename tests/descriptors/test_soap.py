import re

import numpy as np
import pytest
from ase.build import molecule

from atomlearn.descriptors import SoapPowerSpectrum
from atomlearn.errors import ConfigError, DataError
from atomlearn.testing import numeric_gradient, random_rotation, rotate


def _dense_gradient(f, n_atoms):
    """dX_i/dr_j as an array (n_rows, n_atoms, 3, n_features)."""
    out = np.zeros((f.values.shape[0], n_atoms, 3, f.values.shape[1]))
    g = f.positions
    out[g.center, g.variable] = g.values
    return out


def _featomic_power_spectrum(soap, frames, gradients):
    """featomic's own power spectrum (with gradients), densified: the reference."""
    species = soap._check(frames, gradients)
    tensor = soap._calculator().compute(frames, gradients=list(gradients))
    return soap._densify(tensor, frames, species, gradients)


def test_shapes_and_species_layout(tiny_soap):
    f = tiny_soap.compute([molecule("CH3CH2OH"), molecule("H2O")])
    n_pairs = 6  # (H,H) (H,C) (H,O) (C,C) (C,O) (O,O)
    assert f.values.shape == (12, n_pairs * 3 * 3 * 3)
    assert tiny_soap.n_features == f.values.shape[1]
    np.testing.assert_array_equal(f.structure_index, [0] * 9 + [1] * 3)
    # water has no carbon: its (H,C), (C,C), (C,O) columns are zero
    water = f.values[9:].reshape(3, n_pairs, -1)
    assert np.all(water[:, [1, 3, 4]] == 0) and np.any(water[:, [0, 2, 5]] != 0)
    np.testing.assert_allclose(f.structure_sum()[1], f.values[9:].sum(axis=0))
    np.testing.assert_allclose(f.structure_mean()[0], f.values[:9].mean(axis=0))


def test_position_gradients_match_finite_differences(tiny_soap, ethanol):
    atoms = ethanol[0]
    f = tiny_soap.compute([atoms], gradients=["positions"])
    analytic = _dense_gradient(f, len(atoms))

    def values(pos):
        a = atoms.copy()
        a.positions = pos
        return tiny_soap.compute([a]).values

    numeric = numeric_gradient(values, atoms.positions.copy(), 1e-5)  # (n, 3, rows, feat)
    numeric = numeric.transpose(2, 0, 1, 3)
    scale = np.abs(numeric).max()
    np.testing.assert_allclose(analytic, numeric, atol=1e-6 * scale)


def test_periodic_position_and_strain_gradients(silicon_cell):
    soap = SoapPowerSpectrum(cutoff=3.0, n_max=2, l_max=2)
    f = soap.compute([silicon_cell], gradients=["positions", "strain"])
    analytic = _dense_gradient(f, 2)

    def values(pos):
        a = silicon_cell.copy()
        a.positions = pos
        return soap.compute([a]).values

    numeric = numeric_gradient(values, silicon_cell.positions.copy()).transpose(2, 0, 1, 3)
    np.testing.assert_allclose(analytic, numeric, atol=1e-6 * np.abs(numeric).max())

    def strained(eps_flat):
        eps = eps_flat.reshape(3, 3)
        a = silicon_cell.copy()
        a.set_cell(silicon_cell.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        return soap.compute([a]).values

    numeric_strain = numeric_gradient(strained, np.zeros(9), 1e-6).reshape(3, 3, 2, -1)
    numeric_strain = numeric_strain.transpose(2, 0, 1, 3)
    sym = 0.5 * (numeric_strain + numeric_strain.transpose(0, 2, 1, 3))
    strain = f.strain.values.reshape(2, 3, 3, -1)
    got = 0.5 * (strain + strain.transpose(0, 2, 1, 3))
    np.testing.assert_allclose(got, sym, atol=1e-5 * np.abs(sym).max())


def test_invariance(tiny_soap, ethanol):
    atoms = ethanol[1]
    ref = tiny_soap.compute([atoms]).values
    rotated = rotate(atoms, random_rotation(7))
    rotated.positions += np.array([1.3, -2.0, 0.4])
    np.testing.assert_allclose(tiny_soap.compute([rotated]).values, ref, atol=1e-10)
    # swapping two hydrogens (atoms 3 and 4) permutes the rows
    perm = np.arange(9)
    perm[[3, 4]] = [4, 3]
    np.testing.assert_allclose(tiny_soap.compute([atoms[perm]]).values, ref[perm], atol=1e-12)


def test_unknown_element(tiny_soap):
    tiny_soap.species = [1, 8]
    with pytest.raises(DataError, match=re.escape(
            "structure 0 contains element(s) ['C'] that this descriptor was not set up for "
            "(species [1, 8])")):
        tiny_soap.compute([molecule("CH4")])


def test_options_featomic_cannot_build_are_named_without_a_rust_panic(capfd):
    """featomic panics (a Rust backtrace on stderr) when its radial integrals do not
    converge; the user sees one message naming the options instead."""
    with pytest.raises(ConfigError, match=re.escape(
            "featomic cannot build SOAP with cutoff 20.0 Å and atom_width 0.5 Å (n_max 4, "
            "l_max 3): Failed to compute radial integral")):
        SoapPowerSpectrum(cutoff=20.0, n_max=4, l_max=3).compute([molecule("H2O")])
    assert "panicked" not in capfd.readouterr().err


def test_strain_needs_periodic_cell(tiny_soap):
    with pytest.raises(DataError, match="Strain gradients need a fully periodic cell"):
        tiny_soap.compute([molecule("H2O")], gradients=["strain"])


@pytest.mark.parametrize("decay", [0.0, 1.0])
@pytest.mark.parametrize("periodic", [False, True])
def test_expansion_path_matches_power_spectrum(periodic, decay, ethanol, silicon_cell):
    """The fast path (power spectrum and its vector-Jacobian product from the spherical
    expansion) equals featomic's power spectrum (channel l scaled by (2l+1)^-decay) and
    the dense gradient contraction; so does the strain path."""
    frames = [silicon_cell, silicon_cell.repeat((1, 2, 1))] if periodic else ethanol[:2]
    soap = SoapPowerSpectrum(cutoff=3.5, n_max=3, l_max=3, angular_decay=decay)
    grads = ["positions", "strain"] if periodic else ["positions"]
    f = _featomic_power_spectrum(soap, frames, grads)
    n_pairs = f.values.shape[1] // (4 * 9)
    scale = np.tile(np.repeat((2.0 * np.arange(4) + 1.0) ** -decay, 9), n_pairs)
    f.values = f.values * scale
    f.positions.scale_features(scale)
    if periodic:
        f.strain.scale_features(scale)
        strained = soap.compute(frames, gradients=grads)
        np.testing.assert_allclose(strained.values, f.values, atol=1e-14)
        np.testing.assert_allclose(strained.strain.values, f.strain.values, atol=1e-13)
    e = soap.expand(frames, gradients=grads)
    np.testing.assert_allclose(e.values, f.values, atol=1e-14)
    # compute()'s values and position gradients, built from the expansion
    mine = soap.compute(frames, gradients=["positions"])
    np.testing.assert_allclose(mine.values, f.values, atol=1e-14)
    # the same (centre, atom) pairs, each once, in the kernel-friendly order
    n_atoms = len(f.numbers)
    p, q = mine.positions, f.positions
    code, ref = p.center * n_atoms + p.variable, q.center * n_atoms + q.variable
    assert len(np.unique(code)) == len(code)
    np.testing.assert_array_equal(np.sort(code), np.sort(ref))
    order, ref_order = np.argsort(code), np.argsort(ref)
    np.testing.assert_allclose(p.values[order], q.values[ref_order], atol=1e-13)
    np.testing.assert_array_equal(p.nonzero[order], q.nonzero[ref_order])
    G = np.random.default_rng(5).normal(size=f.values.shape)
    n = len(f.numbers)
    dense = np.zeros((n, 3))
    np.add.at(dense, q.variable, np.einsum("pcd,pd->pc", q.values, G[q.center]))
    np.testing.assert_allclose(e.vjp_positions(G, n), dense, atol=1e-12)
    np.testing.assert_allclose(q.vjp(G), dense, atol=1e-12)
    if periodic:
        strain = np.zeros((2, 3, 3))
        np.add.at(strain, f.structure_index,
                  np.einsum("iabd,id->iab", f.strain.values.reshape(-1, 3, 3, G.shape[1]), G))
        np.testing.assert_allclose(e.vjp_strain(G, 2), strain, atol=1e-12)
        np.testing.assert_allclose(f.strain.vjp(G).reshape(2, 3, 3), strain, atol=1e-12)


def test_blocks_read_through_the_c_api_equal_the_public_accessors(ethanol, silicon_cell):
    from atomlearn.descriptors._blocks import (
        _read_c,
        exported_blocks,
        key_table,
        read_blocks_public,
    )

    soap = SoapPowerSpectrum(cutoff=3.5, n_max=3, l_max=2)
    tensor = soap._expansion_calculator().compute([ethanol[0], silicon_cell],
                                                  gradients=["positions"])
    public = read_blocks_public(tensor, ["positions"])
    names, values = key_table(tensor)
    assert names == list(tensor.keys.names)
    np.testing.assert_array_equal(values, tensor.keys.values)
    releases: list = []
    direct = _read_c(tensor, ["positions"], releases)     # no silent fallback here
    with exported_blocks(tensor, ["positions"]) as blocks:
        assert len(blocks) == len(direct) == len(public) == len(tensor)
        for mine, raw, ref in zip(blocks, direct, public, strict=True):
            for got in (mine, raw):
                np.testing.assert_array_equal(got.samples, ref.samples)
                np.testing.assert_array_equal(got.values, ref.values)
                for a, b in zip(got.gradients["positions"], ref.gradients["positions"],
                                strict=True):
                    np.testing.assert_array_equal(a, b)
    assert releases
    for deleter, managed in releases:
        deleter(managed)


def test_expansion_gradients_stay_valid_while_the_expansion_lives(ethanol, monkeypatch):
    """The expansion keeps featomic's gradient arrays as views: they must survive the
    featomic output going out of scope and be released once the expansion is gone."""
    import gc

    from atomlearn.descriptors import _blocks

    released = []
    release = _blocks._release
    monkeypatch.setattr(_blocks, "_release", lambda r: (released.append(len(r)), release(r)))
    soap = SoapPowerSpectrum(cutoff=3.5, n_max=3, l_max=3)
    exp = soap.expand(ethanol[:2], gradients=["positions"])
    G = np.random.default_rng(3).normal(size=exp.values.shape)
    before = exp.vjp_positions(G, 18)
    gc.collect()
    for _ in range(5):      # allocate and free more featomic output meanwhile
        soap.expand(ethanol[2:4], gradients=["positions"])
    np.testing.assert_array_equal(exp.vjp_positions(G, 18), before)
    n_released = len(released)
    del exp
    gc.collect()
    assert len(released) == n_released + 1 and released[-1] > 0
