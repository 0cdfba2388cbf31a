"""Operators in an atom-centred basis: PySCF's real harmonics (p reordered) rotate as
featomic's, so coupled blocks of a real operator rotate as lambda-SOAP; the coupling is
orthogonal and a transposed block changes its parts by (-1)^(l1 + l2 + lambda)."""

import ase
import numpy as np
import pytest

from atomlearn.descriptors import LambdaSoap
from atomlearn.targets.operators import (
    AtomicOrbitals,
    couple,
    to_featomic_order,
    to_pyscf_order,
    uncouple,
)
from atomlearn.testing import random_rotation

ATOMS = [("O", (0.0, 0.0, 0.0)), ("C", (1.2, 0.3, -0.2)), ("H", (-0.5, 0.8, 0.4)),
         ("H", (0.3, -0.9, 0.5))]


def test_coupling_is_orthogonal_and_transposes_with_a_sign():
    rng = np.random.default_rng(0)
    for l1 in range(3):
        for l2 in range(3):
            block = rng.normal(size=(4, 2 * l1 + 1, 2 * l2 + 1))
            parts = couple(block, l1, l2)
            assert sorted(parts) == list(range(abs(l1 - l2), l1 + l2 + 1))
            np.testing.assert_allclose(uncouple(parts, l1, l2), block, atol=1e-13)
            assert sum(np.sum(p**2) for p in parts.values()) == pytest.approx(
                np.sum(block**2))
            swapped = couple(np.swapaxes(block, -1, -2), l2, l1)
            for lam, part in parts.items():
                np.testing.assert_allclose(swapped[lam], (-1) ** (l1 + l2 + lam) * part,
                                           atol=1e-13)


def test_pyscf_blocks_rotate_as_lambda_soap():
    from pyscf import gto

    R = random_rotation(3)
    symbols = [s for s, _ in ATOMS]
    positions = np.array([p for _, p in ATOMS])
    frames = [ase.Atoms(symbols, positions=positions @ rot.T) for rot in (np.eye(3), R)]
    overlaps = [gto.M(atom=[(s, tuple(p)) for s, p in zip(symbols, a.positions, strict=True)],
                      basis="def2-svp", unit="Angstrom").intor("int1e_ovlp") for a in frames]
    basis = AtomicOrbitals.from_pyscf("def2-svp", frames[0].numbers)
    slices = basis.shell_slices(frames[0].numbers)
    assert basis.shells[1] == (0, 0, 1) and basis.shells[8] == (0, 0, 0, 1, 1, 2)
    # ethanol (C2H6O) in def2-SVP: the 72 functions of the shipped Kohn-Sham matrices
    assert 2 * basis.n_functions(6) + 6 * basis.n_functions(1) + basis.n_functions(8) == 72
    assert slices[-1][-1][1].stop == overlaps[0].shape[0]
    # featomic's Wigner matrices of R, read off lambda-SOAP of the two frames
    soap = LambdaSoap(cutoff=4.0, n_max=4, l_max=4)
    wigner = {}
    for lam in range(5):
        x0, x1 = (np.concatenate(list(soap.compute_equivariant([a], [lam])[lam].values),
                                 axis=1) for a in frames)
        wigner[lam] = x1 @ np.linalg.pinv(x0)
        np.testing.assert_allclose(wigner[lam] @ x0, x1, atol=1e-10)
    checked = set()
    for atom_i in slices:
        for atom_j in slices:
            for l1, a in atom_i:
                for l2, b in atom_j:
                    before = couple(to_featomic_order(overlaps[0][a, b], l1, l2), l1, l2)
                    after = couple(to_featomic_order(overlaps[1][a, b], l1, l2), l1, l2)
                    for lam in before:
                        np.testing.assert_allclose(after[lam], wigner[lam] @ before[lam],
                                                   atol=1e-10)
                        checked.add((l1, l2, lam))
    assert {(2, 2, 4), (1, 2, 3), (2, 1, 1), (1, 1, 0)} <= checked
    block = overlaps[0][slices[0][5][1], slices[1][3][1]]
    assert np.array_equal(to_pyscf_order(to_featomic_order(block, 2, 1), 2, 1), block)
