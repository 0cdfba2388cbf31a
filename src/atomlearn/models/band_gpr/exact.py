"""One exact GP on standardised inputs and scaled outputs, shared by both band routes: an
ARD squared-exponential kernel times a constant plus a white noise, fitted by marginal
likelihood, and its state as plain arrays for the model file."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import cho_solve

from ...errors import ConvergenceWarning
from ...gp.exact import GaussianProcessRegressor
from ...kernels import RBF, ConstantKernel, WhiteKernel


def _kernel(n_features: int, length_scale: float, noise: float):
    return (ConstantKernel(1.0, (1e-3, 1e3))
            * RBF(np.full(n_features, length_scale), (1e-2, 1e3))
            + WhiteKernel(noise, (1e-10, 1e2)))


class ScaledGP:
    """An exact GP of ``y`` (n, n_outputs) on ``x`` (n, n_features): inputs standardised,
    outputs centred per column and divided by one common scale, so every output shares
    the kernel and the solve."""

    def fit(self, x: np.ndarray, y: np.ndarray, *, length_scale: float, noise: float,
            restarts: int = 0, random_state: int = 0) -> ScaledGP:
        """``noise``: start value of the white noise as a share of ``y``'s variance."""
        self.x_mean, self.x_std = x.mean(axis=0), x.std(axis=0) + 1e-12
        self.y_mean = y.mean(axis=0)
        self.y_scale = float(np.std(y - self.y_mean)) or 1.0
        self.gp = GaussianProcessRegressor(
            _kernel(x.shape[1], length_scale, noise),
            normalize_y=False, n_restarts_optimizer=restarts, random_state=random_state)
        with warnings.catch_warnings():
            # DFT labels are noise-free: the noise search ends at its floor, which is a
            # choice, not a failure to converge
            warnings.filterwarnings("ignore", message=".*noise_level is close to the "
                                    "specified lower bound", category=ConvergenceWarning)
            self.gp.fit((x - self.x_mean) / self.x_std, (y - self.y_mean) / self.y_scale)
        return self

    @property
    def noise_std(self) -> float:
        """The white noise's std in units of ``y``."""
        return float(np.sqrt(self.gp.kernel_.k2.noise_level)) * self.y_scale

    def predict(self, x: np.ndarray, return_std: bool = False):
        """Mean ``(n, n_outputs)`` and, with ``return_std``, the latent (noise-free) std
        ``(n,)`` in units of ``y`` (the same for every output)."""
        z = (x - self.x_mean) / self.x_std
        if not return_std:
            return self.gp.predict(z) * self.y_scale + self.y_mean
        mean, std = self.gp.predict(z, return_std=True)
        std = std if std.ndim == 1 else std[:, 0]
        latent = np.sqrt(np.maximum(std**2 - self.gp.kernel_.k2.noise_level, 0.0))
        return mean * self.y_scale + self.y_mean, latent * self.y_scale

    def leave_one_out(self) -> tuple[np.ndarray, np.ndarray]:
        """Each training point's prediction from all the others (closed form, R&W eq.
        5.12) and its latent std, in units of ``y``: ``(n, n_outputs)``, ``(n,)``."""
        gp = self.gp
        inverse_diagonal = np.diag(cho_solve((gp.L_, True), np.eye(len(gp.L_))))
        alpha = gp.alpha_.reshape(len(gp.L_), -1)
        y = gp.y_train_.reshape(alpha.shape)
        mean = y - alpha / inverse_diagonal[:, None]
        latent = np.sqrt(np.maximum(1.0 / inverse_diagonal - gp.kernel_.k2.noise_level, 0.0))
        return mean * self.y_scale + self.y_mean, latent * self.y_scale

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        gp = self.gp
        arrays = {"X_train": gp.X_train_, "alpha": gp.alpha_, "L": gp.L_,
                  "theta": gp.kernel_.theta, "x_mean": self.x_mean, "x_std": self.x_std,
                  "y_mean": self.y_mean, "y_scale": np.array(self.y_scale)}
        return {f"{prefix}{k}": v for k, v in arrays.items()}

    @classmethod
    def restore(cls, arrays: dict, prefix: str) -> ScaledGP:
        a = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        self = cls()
        template = _kernel(a["X_train"].shape[1], 1.0, 1e-3)
        gp = GaussianProcessRegressor(template)
        gp.kernel_ = template.clone_with_theta(a["theta"])
        gp.X_train_, gp.alpha_, gp.L_ = a["X_train"], a["alpha"], a["L"]
        n_out = a["y_mean"].shape[0]
        gp._y_train_mean, gp._y_train_std = np.zeros(n_out), np.ones(n_out)
        self.gp = gp
        self.x_mean, self.x_std, self.y_mean = a["x_mean"], a["x_std"], a["y_mean"]
        self.y_scale = float(a["y_scale"])
        return self
