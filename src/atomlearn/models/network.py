"""Neural-network potentials behind the structure-level model interface."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import ase
import numpy as np
import torch

from ..errors import ConfigError, DataError, NotFittedError
from ..nn import AtomisticNetwork, EnergyHead, SymmetryFunctions, make_batch, train
from ..nn.training import Labels
from ..serialization import write_model_file
from ..structures.io import where
from ..structures.keys import KeySpec
from ..targets import TargetSpec, energy, read_gradient_labels
from ._base import register

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


@register("bpnn")
class BehlerParrinelloModel:
    """High-dimensional (Behler-Parrinello) network potential: symmetry functions and one
    MLP per element; forces by automatic differentiation.

    Parameters
    ----------
    target : TargetSpec, optional
        ``energy(forces=True)`` (default) trains on energies and forces.
    cutoff : float
        Cutoff radius of the symmetry functions in Å.
    radial_etas, radial_shifts, angular_etas, zetas : sequence of float
        Symmetry-function parameters (see :class:`~atomlearn.nn.SymmetryFunctions`).
    n_hidden : sequence of int
        Hidden widths of each element's MLP.
    activation : str
        ``"tanh"``, ``"silu"`` or ``"softplus"``.
    epochs, batch_size, learning_rate, optimizer : training settings
    energy_weight, force_weight : float
        Loss weights of per-atom energy (eV²) and force (eV²/Å²) errors.
    validation_fraction : float
        Held-out share of the training structures for early stopping.
    patience : int
        Epochs without validation improvement before stopping.
    dtype : {"float64", "float32"}
    device : str
        "cpu" or "cuda".
    random_state : int
    keys : KeySpec, optional
    """

    def __init__(self, *, target: TargetSpec | None = None, cutoff: float = 5.0,
                 radial_etas: Sequence[float] = (0.5, 1.0, 2.0),
                 radial_shifts: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5),
                 angular_etas: Sequence[float] = (0.02, 0.1), zetas: Sequence[float] = (1.0, 4.0),
                 n_hidden: Sequence[int] = (32, 32), activation: str = "tanh",
                 epochs: int = 300, batch_size: int = 10, learning_rate: float = 3e-3,
                 optimizer: str = "adam", energy_weight: float = 100.0,
                 force_weight: float = 1.0, validation_fraction: float = 0.1,
                 patience: int = 60, dtype: str = "float64", device: str = "cpu",
                 random_state: int = 0, keys: KeySpec | None = None) -> None:
        self.target = target
        self.cutoff = cutoff
        self.radial_etas = radial_etas
        self.radial_shifts = radial_shifts
        self.angular_etas = angular_etas
        self.zetas = zetas
        self.n_hidden = n_hidden
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.energy_weight = energy_weight
        self.force_weight = force_weight
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.keys = keys

    def get_params(self) -> dict:
        return {"cutoff": self.cutoff, "radial_etas": list(self.radial_etas),
                "radial_shifts": list(self.radial_shifts),
                "angular_etas": list(self.angular_etas), "zetas": list(self.zetas),
                "n_hidden": list(self.n_hidden), "activation": self.activation,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "optimizer": self.optimizer,
                "energy_weight": self.energy_weight, "force_weight": self.force_weight,
                "validation_fraction": self.validation_fraction, "patience": self.patience,
                "dtype": self.dtype, "device": self.device,
                "random_state": self.random_state}

    def __repr__(self) -> str:
        return (f"BehlerParrinelloModel(cutoff={self.cutoff}, n_hidden={list(self.n_hidden)}, "
                f"activation={self.activation!r})")

    @property
    def supported_targets(self) -> dict[str, TargetSpec]:
        return {"energy": self._spec(),
                "forces": TargetSpec("forces", "vector", per_atom=True, unit="eV/Å",
                                     shape=(3,))}

    @property
    def provides_uncertainty(self) -> bool:
        return False

    def _spec(self) -> TargetSpec:
        spec = self.target or energy(forces=True)
        if spec.name != "energy":
            raise ConfigError(
                f"The Behler-Parrinello network has an energy head only; got target "
                f"{spec.name!r}. Supported (target, model) pairs: ('energy', 'bpnn').")
        return spec

    def _build(self, species) -> AtomisticNetwork:
        rep = SymmetryFunctions(species, cutoff=self.cutoff, radial_etas=self.radial_etas,
                                radial_shifts=self.radial_shifts,
                                angular_etas=self.angular_etas, zetas=self.zetas)
        head = EnergyHead(species, rep.n_features, self.n_hidden, self.activation)
        return AtomisticNetwork(rep, {"energy": head}).to(
            device=self.device, dtype=_DTYPES[self.dtype])

    def _batches(self, structures, energies=None, forces=None, shuffle_seed=None):
        dt = _DTYPES[self.dtype]
        order = np.arange(len(structures))
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(len(structures))
        offsets = np.cumsum([0] + [len(a) for a in structures])
        out = []
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = make_batch([structures[i] for i in idx], self.cutoff, dtype=dt).to(
                device=self.device)
            labels = None
            if energies is not None:
                f = None
                if forces is not None:
                    f = torch.tensor(np.concatenate(
                        [forces[offsets[i] : offsets[i + 1]] for i in idx]), dtype=dt,
                        device=self.device)
                labels = Labels(torch.tensor(energies[idx], dtype=dt, device=self.device), f)
            out.append((batch, labels))
        return out

    def fit(self, structures: Sequence[ase.Atoms],
            targets: Mapping[str, np.ndarray] | None = None) -> BehlerParrinelloModel:
        """Train on the structures' energies (and forces)."""
        structures = list(structures)
        if len(structures) < 2:
            raise DataError("Training a network needs at least two structures.")
        spec = self._spec()
        targets = dict(targets or {})
        y = (np.asarray(targets["energy"], float) if "energy" in targets
             else spec.read(structures, self.keys))
        forces = None
        if "forces" in spec.gradients:
            forces = (np.asarray(targets["forces"], float) if "forces" in targets
                      else read_gradient_labels(spec, structures, self.keys)["forces"])
        torch.manual_seed(self.random_state)
        self.species_ = sorted({int(z) for a in structures for z in a.numbers})
        self.network_ = self._build(self.species_)
        # standardise features and set per-element reference energies and energy scale
        with torch.no_grad():
            feats = torch.cat([self.network_.representation(b) for b, _ in
                               self._batches(structures)])
            self.network_.feature_mean.copy_(feats.mean(0))
            self.network_.feature_std.copy_(feats.std(0).clamp_min(1e-6))
            counts = np.array([[np.sum(a.numbers == z) for z in self.species_]
                               for a in structures], float)
            e0 = np.linalg.lstsq(counts, y, rcond=None)[0]
            head = self.network_.heads["energy"]
            head.reference[torch.tensor(self.species_)] = torch.tensor(
                e0, dtype=head.reference.dtype, device=head.reference.device)
            resid = (y - counts @ e0) / counts.sum(1)
            head.scale.fill_(float(max(np.std(resid), 1e-3)))
        n_val = max(1, int(round(self.validation_fraction * len(structures))))
        order = np.random.default_rng(self.random_state).permutation(len(structures))
        val, tr = np.sort(order[:n_val]), np.sort(order[n_val:])
        offsets = np.cumsum([0] + [len(a) for a in structures])

        def subset(idx):
            f = None if forces is None else np.concatenate(
                [forces[offsets[i] : offsets[i + 1]] for i in idx])
            return [structures[i] for i in idx], y[idx], f

        s_tr, y_tr, f_tr = subset(tr)
        s_va, y_va, f_va = subset(val)
        self.history_ = train(
            self.network_, self._batches(s_tr, y_tr, f_tr, shuffle_seed=self.random_state),
            self._batches(s_va, y_va, f_va), epochs=self.epochs, optimizer=self.optimizer,
            learning_rate=self.learning_rate, energy_weight=self.energy_weight,
            force_weight=self.force_weight if forces is not None else 0.0,
            patience=self.patience, seed=self.random_state)
        return self

    def predict(self, structures: Sequence[ase.Atoms], *, targets=None,
                return_std: bool = False):
        """Energies (n_structures,) in eV and forces (n_atoms_total, 3) in eV/Å."""
        if return_std:
            raise NotImplementedError(
                "BehlerParrinelloModel does not provide uncertainties; train a committee "
                "with n_models>1")
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "This BehlerParrinelloModel instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")
        structures = list(structures)
        for s, atoms in enumerate(structures):
            unknown = sorted(set(atoms.numbers.tolist()) - set(self.species_))
            if unknown:
                raise DataError(
                    f"{where(atoms, s)} contains element(s) "
                    f"{[ase.data.chemical_symbols[z] for z in unknown]} that this network "
                    f"was not trained on (species {self.species_}).")
        wanted = set(targets) if targets is not None else {"energy", "forces"}
        energies, forces = [], []
        self.network_.eval()
        for batch, _ in self._batches(structures):
            out = self.network_(batch, compute_forces_="forces" in wanted)
            energies.append(out["energy"].detach().cpu().numpy())
            if "forces" in wanted:
                forces.append(out["forces"].detach().cpu().numpy())
        pred = {"energy": np.concatenate(energies)}
        if "forces" in wanted:
            pred["forces"] = np.concatenate(forces)
        return pred

    def save(self, path: str | os.PathLike) -> None:
        """Write the trained network (weights as plain arrays; no pickled classes)."""
        if not hasattr(self, "network_"):
            raise NotFittedError("This BehlerParrinelloModel instance is not fitted yet.")
        state = {f"state/{k}": v.detach().cpu().numpy()
                 for k, v in self.network_.state_dict().items()}
        write_model_file(path, cls=self.registry_name, params=self.get_params(),
                         arrays={**state, "species": np.array(self.species_)},
                         targets=[self._spec().to_dict()])

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict) -> BehlerParrinelloModel:
        model = cls(target=TargetSpec.from_dict(meta["targets"][0]), **meta["params"])
        model.species_ = [int(z) for z in arrays["species"]]
        model.network_ = model._build(model.species_)
        state = {k[len("state/"):]: torch.from_numpy(v) for k, v in arrays.items()
                 if k.startswith("state/")}
        model.network_.load_state_dict(state)
        return model
