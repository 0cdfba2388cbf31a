"""Real solid harmonics of vectors for equivariant heads: PySCF's cartesian-to-spherical
combinations of the monomials of each degree, kept as buffers of the head."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

#: featomic's order of a p shell's components (y, z, x) from PySCF's (x, y, z)
FEATOMIC_P = [1, 2, 0]


def solid_harmonic_tables(ell: int) -> tuple[np.ndarray, np.ndarray]:
    """Exponents ``(n_cart, 3)`` of PySCF's cartesian monomials of degree ``ell`` and the
    map ``(n_cart, 2 ell + 1)`` to its real spherical functions."""
    from pyscf import gto

    powers = [(lx, ly, ell - lx - ly) for lx in range(ell, -1, -1)
              for ly in range(ell - lx, -1, -1)]
    return np.array(powers), gto.cart2sph(ell)


class SolidHarmonics:
    """Mixin of a ``torch.nn.Module`` head: :meth:`_register_harmonics` keeps the tables
    of some degrees as buffers ``powers_<l>`` and ``c2s_<l>``, :meth:`_harmonics`
    evaluates them. A solid harmonic of a rotated vector is the harmonic rotated by the
    Wigner matrix of its degree."""

    def _register_harmonics(self, ells: Iterable[int], *, featomic_p: bool = False) -> None:
        """Tables of degrees ``ells``; ``featomic_p``: p components in featomic's order
        (y, z, x) rather than PySCF's (x, y, z)."""
        for ell in ells:
            powers, c2s = solid_harmonic_tables(ell)
            if ell == 1 and featomic_p:
                c2s = c2s[:, FEATOMIC_P]
            self.register_buffer(f"powers_{ell}", torch.tensor(powers))
            self.register_buffer(f"c2s_{ell}", torch.tensor(c2s))

    def _harmonics(self, u: torch.Tensor, ell: int) -> torch.Tensor:
        """Real solid harmonics ``[..., 2 ell + 1]`` of degree ``ell`` of vectors
        ``u [..., 3]``."""
        powers = getattr(self, f"powers_{ell}")
        monomials = torch.prod(u[..., None, :] ** powers.to(u.dtype), dim=-1)
        return monomials @ getattr(self, f"c2s_{ell}").to(u.dtype)
