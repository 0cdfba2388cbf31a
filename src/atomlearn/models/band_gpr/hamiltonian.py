"""The Hamiltonian route to band energies: a GP of each cell's Kohn-Sham Hamiltonian in
Löwdin-orthogonalised atomic orbitals on the lattice vectors of the k-mesh, diagonalised.

Labels are the matrices ``H(k)`` on a Gamma-centred mesh (info ``hamiltonian_k``, eV); the
overlap comes exactly from the geometry (PySCF). ``S^-1/2 H S^-1/2`` is carried to the
mesh's lattice vectors (real) and rotated into the cell's standard frame, so one GP over
the cell invariants (those of the direct route) learns every element; predictions are
rotated back, which makes them exactly equivariant. Band energies on the mesh are the
eigenvalues of the predicted matrices. Elsewhere, the core Hamiltonian (kinetic energy
and pseudopotential) is exact at any k, and only the rest, ``S^-1/2 (H - h) S^-1/2``, is
interpolated from the mesh (Wigner-Seitz): the core part is where the long-range tail of
``H(T)`` that a coarse mesh aliases lives.
"""

from __future__ import annotations

import warnings

import ase
import numpy as np

from ...errors import DataError
from ...structures.io import where
from ...targets import bloch
from ...targets.operators import hermitian_power
from .exact import ScaledGP

#: Info key of a cell's Hamiltonian at its k-points (eV): complex (n_k, n_ao, n_ao), or real
#: with the real and imaginary parts last (n_k, n_ao, n_ao, 2), flat or not.
HAMILTONIAN_K = "hamiltonian_k"


def read_hamiltonian(atoms: ase.Atoms, frame: int, n_k: int, n_ao: int) -> np.ndarray:
    """A cell's ``hamiltonian_k`` as complex ``(n_k, n_ao, n_ao)``, Hermitian (a reference
    that is not is symmetrised with a warning saying by how much)."""
    if HAMILTONIAN_K not in atoms.info:
        raise DataError(
            f"{where(atoms, frame)} has no '{HAMILTONIAN_K}' in its info: the Kohn-Sham "
            f"matrices ({n_k} k-points x {n_ao} x {n_ao} orbitals, eV) the Hamiltonian route "
            "learns. Load the cells with load_silicon_bands() (data 'silicon_bands'), or "
            "use 'model.route: direct' to learn band energies alone.")
    raw = np.asarray(atoms.info[HAMILTONIAN_K])
    if not np.iscomplexobj(raw):
        if raw.size != n_k * n_ao * n_ao * 2:
            raise DataError(
                f"{where(atoms, frame)}: '{HAMILTONIAN_K}' has {raw.size} numbers; expected "
                f"{n_k} x {n_ao} x {n_ao} complex (or x 2 reals) for its {n_k} k-points and "
                f"the basis's {n_ao} orbitals of its atoms.")
        raw = raw.reshape(n_k, n_ao, n_ao, 2)
        raw = raw[..., 0] + 1j * raw[..., 1]
    if raw.size != n_k * n_ao * n_ao:
        raise DataError(
            f"{where(atoms, frame)}: '{HAMILTONIAN_K}' has {raw.size} entries; expected "
            f"{n_k} x {n_ao} x {n_ao} (k-points x the basis's orbitals of its atoms).")
    H = raw.reshape(n_k, n_ao, n_ao)
    asym = float(np.abs(H - np.swapaxes(H, -1, -2).conj()).max())
    if asym > 1e-8 * float(np.abs(H).max()):
        warnings.warn(f"{where(atoms, frame)}: '{HAMILTONIAN_K}' is not Hermitian (largest "
                      f"|H - H^dagger| {asym:.3g} eV); using (H + H^dagger)/2.", stacklevel=3)
    return 0.5 * (H + np.swapaxes(H, -1, -2).conj())


class CrystalHamiltonian:
    """A GP from cell invariants to the Löwdin-orthogonalised lattice Hamiltonian.

    Parameters
    ----------
    basis, pseudo : str
        PySCF basis and pseudopotential of the labels (s and p orbitals).
    kpoints : ndarray (n_k, 3)
        The labels' Gamma-centred mesh (fractional).
    """

    def __init__(self, basis: str, pseudo: str, kpoints: np.ndarray):
        self.basis, self.pseudo = basis, pseudo
        self.kpoints = np.asarray(kpoints, float).reshape(-1, 3)
        self.mesh = bloch.mesh_size(self.kpoints)
        self.vectors = bloch.mesh_vectors(self.mesh)

    # -- geometry ---------------------------------------------------------------------
    def _cell(self, atoms: ase.Atoms):
        cell = bloch.pyscf_cell(atoms, self.basis, self.pseudo)
        return cell, bloch.orbitals(cell)

    def _rotation(self, atoms: ase.Atoms, orbs: bloch.Orbitals) -> np.ndarray:
        return bloch.orbital_rotation(bloch.frame(atoms), orbs)

    def _mesh_phases(self) -> np.ndarray:
        return np.exp(2j * np.pi * self.kpoints @ self.vectors.T)

    # -- fitting ----------------------------------------------------------------------
    def lattice_labels(self, atoms: ase.Atoms, frame: int) -> np.ndarray:
        """``S^-1/2 H S^-1/2`` of one labelled cell on the mesh's lattice vectors, in the
        cell's standard frame, ``(n_T, n_ao, n_ao)`` real (eV)."""
        cell, orbs = self._cell(atoms)
        H = read_hamiltonian(atoms, frame, len(self.kpoints), orbs.size)
        S, _ = bloch.one_electron(cell, self.kpoints, core=False)
        X = hermitian_power(S, -0.5)
        D = self._rotation(atoms, orbs)
        return bloch.to_lattice(D @ (X @ H @ X) @ D.T, self.kpoints, self.vectors).real

    def n_orbitals(self, atoms: ase.Atoms) -> int:
        """Orbitals of the basis on a cell's atoms (its bands)."""
        return self._cell(atoms)[1].size

    def to_lab(self, atoms: ase.Atoms, H_T: np.ndarray) -> np.ndarray:
        """A lattice Hamiltonian of a cell's standard frame in its own (lab) frame."""
        D = self._rotation(atoms, self._cell(atoms)[1])
        return D.T @ H_T @ D

    def fit(self, structures, invariants: np.ndarray, hypers) -> CrystalHamiltonian:
        labels = np.stack([self.lattice_labels(a, i) for i, a in enumerate(structures)])
        self.training_labels = labels       # for the caller, not saved
        self.shape_ = labels.shape[1:]
        y = labels.reshape(len(labels), -1)
        self.gp_ = ScaledGP().fit(invariants, y, length_scale=hypers.length_scale,
                                  noise=hypers.hamiltonian_sigma**2 / np.var(y - y.mean(0)),
                                  restarts=hypers.restarts, random_state=hypers.random_state)
        self.std_scale_ = self._calibration(labels, hypers)
        return self

    def _calibration(self, labels: np.ndarray, hypers) -> float:
        """The factor that makes the band energies' std match their leave-one-out errors
        on the mesh: the GP's elements are not independent, as the sampling assumes."""
        if len(labels) < 3:
            return 1.0
        mean, std = self.gp_.leave_one_out()
        mean = mean.reshape(labels.shape)
        errors = self.bands(mean) - self.bands(labels)
        spread = self.band_samples(mean, std, hypers).std(axis=1)
        return float(np.sqrt(np.mean((errors / spread) ** 2)))

    def band_samples(self, H_T: np.ndarray, std: np.ndarray, hypers,
                     off_mesh: list[tuple] | None = None) -> np.ndarray:
        """Band energies ``(n, n_samples, n_k, n_ao)`` of samples of the GP's posterior on
        the lattice Hamiltonian (every element independent, with the cell's latent std;
        before calibration)."""
        rng = np.random.default_rng(hypers.random_state)
        noise = rng.standard_normal((len(H_T), hypers.std_samples, *H_T.shape[1:]))
        samples = H_T[:, None] + std[:, None, None, None, None] * noise
        return self.bands(samples, off_mesh)

    # -- prediction -------------------------------------------------------------------
    def lattice(self, structures, invariants: np.ndarray, return_std: bool = False):
        """Predicted ``S^-1/2 H S^-1/2`` on the mesh's lattice vectors in each cell's own
        (lab) frame, ``(n, n_T, n_ao, n_ao)``, and the GP's latent std per cell (eV)."""
        out = self.gp_.predict(invariants, return_std=return_std)
        mean, std = out if return_std else (out, None)
        mean = mean.reshape(len(structures), *self.shape_)
        for i, a in enumerate(structures):
            mean[i] = self.to_lab(a, mean[i])
        return (mean, std) if return_std else mean

    def off_mesh(self, structures, kpoints: np.ndarray) -> list[tuple]:
        """What carries each structure's lattice Hamiltonian to fractional ``kpoints``:
        the interpolation phases, the core part on the lattice and exactly at ``kpoints``
        (all Löwdin-orthogonalised), and the orbitals."""
        out = []
        for a in structures:
            cell, orbs = self._cell(a)
            S_m, h_m = bloch.one_electron(cell, self.kpoints)
            S_k, h_k = bloch.one_electron(cell, kpoints)
            X_m, X_k = hermitian_power(S_m, -0.5), hermitian_power(S_k, -0.5)
            out.append((bloch.interpolation_phases(a, kpoints, self.vectors, self.mesh),
                        bloch.to_lattice(X_m @ h_m @ X_m, self.kpoints, self.vectors),
                        X_k @ h_k @ X_k, orbs))
        return out

    def bands(self, H_T: np.ndarray, off_mesh: list[tuple] | None = None) -> np.ndarray:
        """Band energies ``(n, [n_samples,] n_k, n_ao)`` (eV) of lattice Hamiltonians
        ``H_T`` ``(n, [n_samples,] n_T, n_ao, n_ao)`` on the mesh, or with
        :meth:`off_mesh` at its k-points."""
        if off_mesh is None:
            return _eigenvalues(np.einsum("kt,...tmn->...kmn", self._mesh_phases(), H_T))
        out = []
        for h_T, (phases, core_T, core_k, orbs) in zip(H_T, off_mesh, strict=True):
            rest = (h_T - core_T).reshape(-1, *core_T.shape)
            H_k = np.stack([bloch.interpolate(r, phases, orbs) for r in rest]) + core_k
            out.append(_eigenvalues(H_k).reshape(*h_T.shape[:-3], *H_k.shape[1:-1]))
        return np.stack(out)

    def state(self) -> tuple[dict, dict]:
        return ({"basis": self.basis, "pseudo": self.pseudo, "shape": list(self.shape_),
                 "std_scale": self.std_scale_},
                {**self.gp_.state("hamiltonian."), "hamiltonian.kpoints": self.kpoints})

    @classmethod
    def restore(cls, fitted: dict, arrays: dict) -> CrystalHamiltonian:
        self = cls(fitted["basis"], fitted["pseudo"], arrays["hamiltonian.kpoints"])
        self.shape_ = tuple(fitted["shape"])
        self.std_scale_ = float(fitted["std_scale"])
        self.gp_ = ScaledGP.restore(arrays, "hamiltonian.")
        return self


def _eigenvalues(H: np.ndarray) -> np.ndarray:
    """Eigenvalues of the Hermitian part of a stack of matrices."""
    return np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, -1, -2).conj()))
