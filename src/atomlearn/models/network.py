"""Neural-network potentials behind the structure-level model interface.

:class:`BehlerParrinelloModel` (``"bpnn"``) and :class:`MessagePassingModel` (``"mpnn"``)
share everything but their representation: the energy head, forces by autograd, the
training loop with checkpoints, committees for uncertainty, and the model file.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import ase
import numpy as np
import torch

from ..errors import ConfigError, DataError, NotFittedError
from ..nn import AtomisticNetwork, EnergyHead, PaiNN, SymmetryFunctions, make_batch, train
from ..nn.training import Checkpoint, Labels
from ..serialization import write_model_file
from ..structures.io import where
from ..structures.keys import KeySpec
from ..targets import TargetSpec, energy, read_gradient_labels
from ._base import register

_DTYPES = {"float64": torch.float64, "float32": torch.float32}
# constructor arguments that are not hyperparameters of the fitted model
_RUN_ONLY = ("target", "keys", "checkpoint", "resume")
# hyperparameters that may change between an interrupted run and its resumption
_NOT_IN_FINGERPRINT = ("epochs", "patience", "max_time", "checkpoint_every", "device",
                       "n_models")


class NetworkPotential:
    """Shared machinery of the network potentials; subclasses provide
    ``_representation(species)`` and say whether it needs angle triplets.

    Training settings common to all networks
    ----------------------------------------
    n_hidden : sequence of int
        Hidden widths of each element's energy MLP.
    activation : str
        ``"tanh"``, ``"silu"`` or ``"softplus"``.
    epochs, batch_size, learning_rate, optimizer : training settings
        ``optimizer`` is ``"adam"`` (AMSGrad) or ``"sgd"`` (momentum 0.9).
    energy_weight, force_weight : float
        Loss weights of per-atom energy (eV²) and force (eV²/Å²) errors.
    validation_fraction : float
        Held-out share of the training structures for early stopping.
    patience : int
        Epochs without validation improvement before stopping.
    max_time : float, optional
        Wall-clock budget of the training of each committee member, in seconds.
    n_models : int
        Committee size; with more than one, ``predict(return_std=True)`` gives the
        committee's standard deviation, scaled so validation z-scores have unit variance.
    dtype : {"float64", "float32"}
    device : str
        ``"cpu"`` or ``"cuda"``.
    random_state : int
        Member k uses ``random_state + k`` for its weights and batch order.
    checkpoint : path, optional
        Training state is saved there every ``checkpoint_every`` epochs (one file per
        committee member: ``<checkpoint>.member<k>``).
    resume : bool
        Continue from ``checkpoint`` if it exists (refused if another model wrote it).
    keys : KeySpec, optional
    """

    angles = False

    def _representation(self, species) -> torch.nn.Module:
        raise NotImplementedError

    def get_params(self) -> dict:
        names = [p for p in inspect.signature(type(self).__init__).parameters
                 if p not in ("self", *_RUN_ONLY)]
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in ((n, getattr(self, n)) for n in names)}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                          if k in ("cutoff", "n_hidden", "n_features", "n_models"))
        return f"{type(self).__name__}({shown})"

    @property
    def supported_targets(self) -> dict[str, TargetSpec]:
        return {"energy": self._spec(),
                "forces": TargetSpec("forces", "vector", per_atom=True, unit="eV/Å",
                                     shape=(3,))}

    @property
    def provides_uncertainty(self) -> bool:
        return self.n_models > 1

    def _spec(self) -> TargetSpec:
        spec = self.target or energy(forces=True)
        if spec.name != "energy":
            raise ConfigError(
                f"The {self.registry_name} network has an energy head only; got target "
                f"{spec.name!r}. Supported targets: 'energy' (with forces).")
        return spec

    def _build(self, species) -> AtomisticNetwork:
        rep = self._representation(species)
        head = EnergyHead(species, rep.n_features, self.n_hidden, self.activation)
        return AtomisticNetwork(rep, {"energy": head}).to(
            device=self.device, dtype=_DTYPES[self.dtype])

    def _batches(self, structures, energies=None, forces=None):
        dt = _DTYPES[self.dtype]
        offsets = np.cumsum([0] + [len(a) for a in structures])
        out = []
        for start in range(0, len(structures), self.batch_size):
            idx = np.arange(start, min(start + self.batch_size, len(structures)))
            batch = make_batch([structures[i] for i in idx], self.cutoff, angles=self.angles,
                               dtype=dt).to(device=self.device)
            labels = None
            if energies is not None:
                f = None
                if forces is not None:
                    f = torch.tensor(forces[offsets[idx[0]] : offsets[idx[-1] + 1]],
                                     dtype=dt, device=self.device)
                labels = Labels(torch.tensor(energies[idx], dtype=dt, device=self.device), f)
            out.append((batch, labels))
        return out

    def _initialise(self, net: AtomisticNetwork, structures, y) -> None:
        """Standardise fixed features; per-element reference energies and energy scale."""
        with torch.no_grad():
            if isinstance(net.representation, SymmetryFunctions):
                feats = torch.cat([net.representation(b) for b, _ in
                                   self._batches(structures)])
                net.feature_mean.copy_(feats.mean(0))
                net.feature_std.copy_(feats.std(0).clamp_min(1e-6))
            counts = np.array([[np.sum(a.numbers == z) for z in self.species_]
                               for a in structures], float)
            e0 = np.linalg.lstsq(counts, y, rcond=None)[0]
            head = net.heads["energy"]
            head.reference[torch.tensor(self.species_)] = torch.tensor(
                e0, dtype=head.reference.dtype, device=head.reference.device)
            resid = (y - counts @ e0) / counts.sum(1)
            head.scale.fill_(float(max(np.std(resid), 1e-3)))

    def _fingerprint(self, member: int) -> dict:
        params = {k: v for k, v in self.get_params().items() if k not in _NOT_IN_FINGERPRINT}
        return {"model": self.registry_name, **params, "species": self.species_,
                "member": member}

    def _checkpoint(self, member: int) -> Checkpoint | None:
        if self.checkpoint is None:
            return None
        path = Path(self.checkpoint)
        if self.n_models > 1:
            path = path.with_name(f"{path.name}.member{member}")
        return Checkpoint(path, every=self.checkpoint_every,
                          fingerprint=self._fingerprint(member), resume=self.resume)

    def fit(self, structures: Sequence[ase.Atoms],
            targets: Mapping[str, np.ndarray] | None = None) -> NetworkPotential:
        """Train on the structures' energies (and forces)."""
        structures = list(structures)
        if len(structures) < 2:
            raise DataError("Training a network needs at least two structures.")
        if self.n_models < 1:
            raise ConfigError(f"n_models must be at least 1; got {self.n_models}.")
        spec = self._spec()
        targets = dict(targets or {})
        y = (np.asarray(targets["energy"], float) if "energy" in targets
             else spec.read(structures, self.keys))
        forces = None
        if "forces" in spec.gradients:
            forces = (np.asarray(targets["forces"], float) if "forces" in targets
                      else read_gradient_labels(spec, structures, self.keys)["forces"])
        self.species_ = sorted({int(z) for a in structures for z in a.numbers})
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
        train_set = self._batches(s_tr, y_tr, f_tr)
        val_set = self._batches(s_va, y_va, f_va)
        self.networks_, self.histories_ = [], []
        for k in range(self.n_models):
            torch.manual_seed(self.random_state + k)
            net = self._build(self.species_)
            self._initialise(net, structures, y)
            history = train(
                net, train_set, val_set, epochs=self.epochs, optimizer=self.optimizer,
                learning_rate=self.learning_rate, energy_weight=self.energy_weight,
                force_weight=self.force_weight if forces is not None else 0.0,
                patience=self.patience, seed=self.random_state + k, max_time=self.max_time,
                checkpoint=self._checkpoint(k),
                description=f"training {k + 1}/{self.n_models}" if self.n_models > 1
                else "training")
            self.networks_.append(net)
            self.histories_.append(history)
        self.std_scale_ = {}
        if self.n_models > 1:
            self._calibrate(s_va, y_va, f_va)
        return self

    @property
    def history_(self):
        return self.histories_[0]

    def _calibrate(self, structures, y, forces) -> None:
        """Scale the committee std so validation z-scores have unit variance."""
        pred, std = self.predict(structures, return_std=True)
        self.std_scale_ = {}
        for name, ref in (("energy", y), ("forces", forces)):
            if ref is None:
                continue
            z = (pred[name] - ref) / np.maximum(std[name], 1e-12)
            self.std_scale_[name] = float(np.sqrt(np.mean(z**2)))

    def predict(self, structures: Sequence[ase.Atoms], *, targets=None,
                return_std: bool = False):
        """Energies (n_structures,) in eV and forces (n_atoms_total, 3) in eV/Å; with
        ``return_std``, also the committee's standard deviations."""
        if return_std and not self.provides_uncertainty:
            raise NotImplementedError(
                f"{type(self).__name__} does not provide uncertainties; train a committee "
                "with n_models>1")
        if not hasattr(self, "networks_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")
        structures = list(structures)
        for s, atoms in enumerate(structures):
            unknown = sorted(set(atoms.numbers.tolist()) - set(self.species_))
            if unknown:
                raise DataError(
                    f"{where(atoms, s)} contains element(s) "
                    f"{[ase.data.chemical_symbols[z] for z in unknown]} that this network "
                    f"was not trained on (species {self.species_}).")
        wanted = [t for t in (targets if targets is not None else ("energy", "forces"))
                  if t in ("energy", "forces")]
        batches = self._batches(structures)
        members = []
        for net in self.networks_:
            net.eval()
            parts: dict[str, list] = {t: [] for t in wanted}
            for batch, _ in batches:
                out = net(batch, compute_forces_="forces" in wanted)
                for t in wanted:
                    parts[t].append(out[t].detach().cpu().numpy().astype(float))
            members.append({t: np.concatenate(v) for t, v in parts.items()})
        mean = {t: np.mean([m[t] for m in members], axis=0) for t in wanted}
        if not return_std:
            return mean
        std = {t: np.std([m[t] for m in members], axis=0, ddof=1)
               * self.std_scale_.get(t, 1.0) for t in wanted}
        return mean, std

    def save(self, path: str | os.PathLike) -> None:
        """Write the trained networks (weights as plain arrays; no pickled classes)."""
        if not hasattr(self, "networks_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet.")
        state = {f"state/{m}/{k}": v.detach().cpu().numpy()
                 for m, net in enumerate(self.networks_) for k, v in net.state_dict().items()}
        scale = np.array([self.std_scale_.get("energy", 1.0),
                          self.std_scale_.get("forces", 1.0)])
        write_model_file(path, cls=self.registry_name, params=self.get_params(),
                         arrays={**state, "species": np.array(self.species_),
                                 "std_scale": scale},
                         targets=[self._spec().to_dict()])

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict) -> NetworkPotential:
        model = cls(target=TargetSpec.from_dict(meta["targets"][0]), **meta["params"])
        model.species_ = [int(z) for z in arrays["species"]]
        model.networks_ = []
        for m in range(model.n_models):
            net = model._build(model.species_)
            prefix = f"state/{m}/"
            net.load_state_dict({k[len(prefix):]: torch.from_numpy(v)
                                 for k, v in arrays.items() if k.startswith(prefix)})
            model.networks_.append(net)
        scale = arrays["std_scale"]
        model.std_scale_ = ({"energy": float(scale[0]), "forces": float(scale[1])}
                            if model.n_models > 1 else {})
        return model


@register("bpnn")
class BehlerParrinelloModel(NetworkPotential):
    """High-dimensional (Behler-Parrinello) network potential: G2/G4 symmetry functions
    and one MLP per element; forces by automatic differentiation.

    Parameters
    ----------
    target : TargetSpec, optional
        ``energy(forces=True)`` (default) trains on energies and forces.
    cutoff : float
        Cutoff radius of the symmetry functions in Å.
    radial_etas, radial_shifts, angular_etas, zetas : sequence of float
        Symmetry-function parameters (see :class:`~atomlearn.nn.SymmetryFunctions`).
    Other parameters: see :class:`NetworkPotential`.
    """

    angles = True

    def __init__(self, *, target: TargetSpec | None = None, cutoff: float = 5.0,
                 radial_etas: Sequence[float] = (0.5, 1.0, 2.0),
                 radial_shifts: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5),
                 angular_etas: Sequence[float] = (0.02, 0.1), zetas: Sequence[float] = (1.0, 4.0),
                 n_hidden: Sequence[int] = (32, 32), activation: str = "tanh",
                 epochs: int = 300, batch_size: int = 10, learning_rate: float = 3e-3,
                 optimizer: str = "adam", energy_weight: float = 100.0,
                 force_weight: float = 1.0, validation_fraction: float = 0.1,
                 patience: int = 60, max_time: float | None = None, n_models: int = 1,
                 dtype: str = "float64", device: str = "cpu", random_state: int = 0,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 10,
                 resume: bool = False, keys: KeySpec | None = None) -> None:
        self.target, self.cutoff = target, cutoff
        self.radial_etas, self.radial_shifts = radial_etas, radial_shifts
        self.angular_etas, self.zetas = angular_etas, zetas
        self.n_hidden, self.activation = n_hidden, activation
        self.epochs, self.batch_size, self.learning_rate = epochs, batch_size, learning_rate
        self.optimizer = optimizer
        self.energy_weight, self.force_weight = energy_weight, force_weight
        self.validation_fraction, self.patience, self.max_time = (validation_fraction,
                                                                  patience, max_time)
        self.n_models, self.dtype, self.device = n_models, dtype, device
        self.random_state = random_state
        self.checkpoint, self.checkpoint_every, self.resume = (checkpoint, checkpoint_every,
                                                               resume)
        self.keys = keys

    def _representation(self, species) -> torch.nn.Module:
        return SymmetryFunctions(species, cutoff=self.cutoff, radial_etas=self.radial_etas,
                                 radial_shifts=self.radial_shifts,
                                 angular_etas=self.angular_etas, zetas=self.zetas)


@register("mpnn")
class MessagePassingModel(NetworkPotential):
    """Message-passing (PaiNN) network potential: learned scalar and vector features
    from ``n_interactions`` rounds of continuous-filter convolutions, one energy MLP per
    element; forces by automatic differentiation.

    Parameters
    ----------
    target : TargetSpec, optional
        ``energy(forces=True)`` (default) trains on energies and forces.
    cutoff : float
        Cutoff radius of each interaction in Å.
    n_features : int
        Width of the scalar and vector channels.
    n_interactions : int
        Message-passing rounds.
    n_rbf : int
        Radial basis functions.
    Other parameters: see :class:`NetworkPotential`.
    """

    def __init__(self, *, target: TargetSpec | None = None, cutoff: float = 5.0,
                 n_features: int = 64, n_interactions: int = 3, n_rbf: int = 20,
                 n_hidden: Sequence[int] = (32,), activation: str = "silu",
                 epochs: int = 300, batch_size: int = 10, learning_rate: float = 1e-3,
                 optimizer: str = "adam", energy_weight: float = 100.0,
                 force_weight: float = 1.0, validation_fraction: float = 0.1,
                 patience: int = 60, max_time: float | None = None, n_models: int = 1,
                 dtype: str = "float64", device: str = "cpu", random_state: int = 0,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 10,
                 resume: bool = False, keys: KeySpec | None = None) -> None:
        self.target, self.cutoff = target, cutoff
        self.n_features, self.n_interactions, self.n_rbf = n_features, n_interactions, n_rbf
        self.n_hidden, self.activation = n_hidden, activation
        self.epochs, self.batch_size, self.learning_rate = epochs, batch_size, learning_rate
        self.optimizer = optimizer
        self.energy_weight, self.force_weight = energy_weight, force_weight
        self.validation_fraction, self.patience, self.max_time = (validation_fraction,
                                                                  patience, max_time)
        self.n_models, self.dtype, self.device = n_models, dtype, device
        self.random_state = random_state
        self.checkpoint, self.checkpoint_every, self.resume = (checkpoint, checkpoint_every,
                                                               resume)
        self.keys = keys

    def _representation(self, species) -> torch.nn.Module:
        return PaiNN(species, cutoff=self.cutoff, n_features=self.n_features,
                     n_interactions=self.n_interactions, n_rbf=self.n_rbf,
                     activation=self.activation)
