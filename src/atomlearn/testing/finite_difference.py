"""Central finite differences for gradient checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numeric_gradient(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                     delta: float = 1e-5) -> np.ndarray:
    """Central-difference derivative of ``fn`` with respect to every entry of ``x``.

    Returns
    -------
    numpy.ndarray of shape ``x.shape + fn(x).shape``
    """
    x = np.asarray(x, dtype=float)
    f0 = np.asarray(fn(x))
    out = np.empty(x.shape + f0.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += delta
        xm[idx] -= delta
        out[idx] = (np.asarray(fn(xp)) - np.asarray(fn(xm))) / (2 * delta)
    return out


def check_network_forces(net, batch, *, atol: float = 1e-7) -> None:
    """Assert that a network's energy passes ``torch.autograd.gradcheck`` and
    ``gradgradcheck`` in the positions (float64), and that its forces equal minus the
    central finite-difference gradient of its energy."""
    import torch

    pos = batch.positions.detach().clone().requires_grad_(True)

    def energy_of(p):
        batch.positions = p
        return net(batch)[net.forces_of]

    assert torch.autograd.gradcheck(energy_of, (pos,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(energy_of, (pos,), eps=1e-6, atol=1e-5)
    batch.positions = pos.detach().clone()
    forces = net(batch, compute_forces_=True)["forces"].detach().numpy()
    numeric = -numeric_gradient(lambda p: energy_of(torch.tensor(p)).detach().numpy()[0],
                                pos.detach().numpy().copy(), 1e-5)
    np.testing.assert_allclose(forces, numeric, atol=atol)
