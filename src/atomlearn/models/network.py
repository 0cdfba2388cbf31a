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
from ..nn import (
    AtomisticNetwork,
    DipoleHead,
    EnergyHead,
    PaiNN,
    PolarizabilityHead,
    SymmetryFunctions,
    make_batch,
    train,
)
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
_HEADS = ("energy", "dipole", "polarizability")


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
    tensor_weight : float
        Loss weight of dipole ((e·Å)²) and polarizability (Å⁶) errors.
    validation_fraction : float
        Held-out share of the training structures for early stopping.
    patience : int
        Epochs without validation improvement before stopping.
    lr_patience, lr_factor : int, float
        The learning rate is multiplied by ``lr_factor`` after ``lr_patience`` epochs
        without validation improvement.
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
    vector_features = False

    def _representation(self, species) -> torch.nn.Module:
        raise NotImplementedError

    def _store(self, arguments: dict) -> None:
        """Keep every constructor argument as an attribute of the same name (scikit-learn's
        convention: no validation or change until fit)."""
        for name, value in arguments.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

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
        out = {s.name: s for s in self._specs()}
        if "energy" in out:
            out["forces"] = TargetSpec("forces", "vector", per_atom=True, unit="eV/Å",
                                       shape=(3,))
        return out

    @property
    def provides_uncertainty(self) -> bool:
        return self.n_models > 1

    def _specs(self) -> list[TargetSpec]:
        target = self.target if self.target is not None else energy(forces=True)
        specs = [target] if isinstance(target, TargetSpec) else list(target)
        for spec in specs:
            if spec.name not in _HEADS:
                raise ConfigError(
                    f"The {self.registry_name} network has heads for {list(_HEADS)}; got "
                    f"target {spec.name!r}.")
            if spec.name == "polarizability" and not self.vector_features:
                raise ConfigError(
                    f"A polarizability head needs vector features, which the "
                    f"{self.registry_name} representation does not have; use 'mpnn' (PaiNN) "
                    "or 'sa_gpr'.")
        return specs

    def _build(self, species) -> AtomisticNetwork:
        rep = self._representation(species)
        n_vector = rep.n_features if self.vector_features else 0
        heads = {}
        for spec in self._specs():
            if spec.name == "energy":
                heads["energy"] = EnergyHead(species, rep.n_features, self.n_hidden,
                                             self.activation)
            elif spec.name == "dipole":
                heads["dipole"] = DipoleHead(rep.n_features, n_vector, self.n_hidden,
                                             self.activation)
            else:
                heads["polarizability"] = PolarizabilityHead(species, rep.n_features, n_vector,
                                                             self.n_hidden, self.activation)
        return AtomisticNetwork(rep, heads).to(device=self.device, dtype=_DTYPES[self.dtype])

    def _batches(self, structures, labels: Mapping[str, np.ndarray] | None = None):
        dt = _DTYPES[self.dtype]
        offsets = np.cumsum([0] + [len(a) for a in structures])
        out = []
        for start in range(0, len(structures), self.batch_size):
            idx = np.arange(start, min(start + self.batch_size, len(structures)))
            batch = make_batch([structures[i] for i in idx], self.cutoff, angles=self.angles,
                               dtype=dt).to(device=self.device)
            lab = None
            if labels is not None:
                def tensor(a):
                    return torch.tensor(a, dtype=dt, device=self.device)
                lab = Labels(tensors={k: tensor(v[idx]) for k, v in labels.items()
                                      if k in ("dipole", "polarizability")})
                if "energy" in labels:
                    lab.energy = tensor(labels["energy"][idx])
                if "forces" in labels:
                    lab.forces = tensor(labels["forces"][offsets[idx[0]]:
                                                         offsets[idx[-1] + 1]])
            out.append((batch, lab))
        return out

    def _initialise(self, net: AtomisticNetwork, structures, labels) -> None:
        """Standardise fixed features; per-element offsets and scale of the targets."""
        with torch.no_grad():
            if isinstance(net.representation, SymmetryFunctions):
                feats = torch.cat([net.representation(b) for b, _ in
                                   self._batches(structures)])
                net.feature_mean.copy_(feats.mean(0))
                net.feature_std.copy_(feats.std(0).clamp_min(1e-6))
            counts = np.array([[np.sum(a.numbers == z) for z in self.species_]
                               for a in structures], float)
            species = torch.tensor(self.species_)
            if "energy" in labels:
                y = labels["energy"]
                e0 = np.linalg.lstsq(counts, y, rcond=None)[0]
                head = net.heads["energy"]
                head.reference[species] = torch.tensor(e0, dtype=head.reference.dtype,
                                                       device=head.reference.device)
                resid = (y - counts @ e0) / counts.sum(1)
                head.scale.fill_(float(max(np.std(resid), 1e-3)))
            if "polarizability" in labels:
                iso = np.trace(labels["polarizability"], axis1=1, axis2=2) / 3.0
                a0 = np.linalg.lstsq(counts, iso, rcond=None)[0]
                head = net.heads["polarizability"]
                head.reference[species] = torch.tensor(a0, dtype=head.reference.dtype,
                                                       device=head.reference.device)

    def _read_labels(self, structures, targets) -> dict[str, np.ndarray]:
        targets = dict(targets or {})
        labels = {}
        for spec in self._specs():
            labels[spec.name] = (np.asarray(targets[spec.name], float) if spec.name in targets
                                 else spec.read(structures, self.keys))
            expected = (len(structures), *spec.shape)
            if labels[spec.name].shape != expected:
                raise DataError(f"Target {spec.name!r} must have shape {expected}; got "
                                f"{labels[spec.name].shape}.")
            if "forces" in spec.gradients:
                labels["forces"] = (np.asarray(targets["forces"], float) if "forces" in targets
                                    else read_gradient_labels(spec, structures,
                                                              self.keys)["forces"])
        if "polarizability" in labels:
            p = labels["polarizability"]
            labels["polarizability"] = 0.5 * (p + np.swapaxes(p, 1, 2))
        return labels

    def _check_charges(self, structures, *, training: bool) -> None:
        """A dipole of a charged structure depends on its total charge: it must be known."""
        if "dipole" not in self.supported_targets:
            return
        has = [("charge" in a.info) for a in structures]
        charged = [float(a.info.get("charge", 0.0)) != 0.0 for a in structures]
        if training:
            self.charged_ = any(charged)
        if getattr(self, "charged_", False) and not all(has):
            k = has.index(False)
            raise DataError(
                f"{where(structures[k], k)} has no total charge ('charge' in its info), but "
                "this dipole model "
                + ("is being trained on charged structures" if training else
                   "was trained on charged structures")
                + ": the dipole of a charged structure depends on it. Set atoms.info"
                "['charge'] (e) on every structure (0 for neutral ones).")

    def _fingerprint(self, member: int) -> dict:
        params = {k: v for k, v in self.get_params().items() if k not in _NOT_IN_FINGERPRINT}
        return {"model": self.registry_name, **params, "species": self.species_,
                "member": member, "targets": [t.name for t in self._specs()]}

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
        """Train on the structures' targets (energies and forces, dipoles,
        polarizabilities), read from the structures unless given in ``targets``."""
        structures = list(structures)
        if len(structures) < 2:
            raise DataError("Training a network needs at least two structures.")
        if self.n_models < 1:
            raise ConfigError(f"n_models must be at least 1; got {self.n_models}.")
        labels = self._read_labels(structures, targets)
        self._check_charges(structures, training=True)
        self.species_ = sorted({int(z) for a in structures for z in a.numbers})
        n_val = max(1, int(round(self.validation_fraction * len(structures))))
        order = np.random.default_rng(self.random_state).permutation(len(structures))
        val, tr = np.sort(order[:n_val]), np.sort(order[n_val:])
        offsets = np.cumsum([0] + [len(a) for a in structures])

        def subset(idx):
            out = {k: v[idx] for k, v in labels.items() if k != "forces"}
            if "forces" in labels:
                out["forces"] = np.concatenate([labels["forces"][offsets[i]:offsets[i + 1]]
                                                for i in idx])
            return [structures[i] for i in idx], out

        s_tr, l_tr = subset(tr)
        s_va, l_va = subset(val)
        train_set, val_set = self._batches(s_tr, l_tr), self._batches(s_va, l_va)
        weights = {"energy": self.energy_weight, "forces": self.force_weight,
                   "dipole": self.tensor_weight, "polarizability": self.tensor_weight}
        self.networks_, self.histories_ = [], []
        for k in range(self.n_models):
            torch.manual_seed(self.random_state + k)
            net = self._build(self.species_)
            self._initialise(net, structures, labels)
            history = train(
                net, train_set, val_set, epochs=self.epochs, optimizer=self.optimizer,
                learning_rate=self.learning_rate, weights=weights, patience=self.patience,
                lr_patience=self.lr_patience, lr_factor=self.lr_factor,
                seed=self.random_state + k, max_time=self.max_time,
                checkpoint=self._checkpoint(k),
                description=f"training {k + 1}/{self.n_models}" if self.n_models > 1
                else "training")
            self.networks_.append(net)
            self.histories_.append(history)
        self.std_scale_ = {}
        if self.n_models > 1:
            self._calibrate(s_va, l_va)
        return self

    @property
    def history_(self):
        return self.histories_[0]

    def _calibrate(self, structures, labels) -> None:
        """Scale the committee std so validation z-scores have unit variance."""
        pred, std = self.predict(structures, return_std=True)
        self.std_scale_ = {}
        for name, ref in labels.items():
            z = (pred[name] - ref) / np.maximum(std[name], 1e-12)
            self.std_scale_[name] = float(np.sqrt(np.mean(z**2)))

    def predict(self, structures: Sequence[ase.Atoms], *, targets=None,
                return_std: bool = False):
        """Energies (n_structures,) in eV, forces (n_atoms_total, 3) in eV/Å, dipoles
        (n_structures, 3) in e·Å, polarizabilities (n_structures, 3, 3) in Å^3 (those the
        network has heads for); with ``return_std``, the committee's standard deviations."""
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
        self._check_charges(structures, training=False)
        supported = self.supported_targets
        wanted = [t for t in (targets if targets is not None else supported)
                  if t in supported]
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
        write_model_file(path, cls=self.registry_name, params=self.get_params(),
                         arrays={**state, "species": np.array(self.species_)},
                         targets=[s.to_dict() for s in self._specs()],
                         std_scale=self.std_scale_,
                         charged=bool(getattr(self, "charged_", False)))

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict) -> NetworkPotential:
        specs = [TargetSpec.from_dict(t) for t in meta["targets"]]
        model = cls(target=specs[0] if len(specs) == 1 else specs, **meta["params"])
        model.species_ = [int(z) for z in arrays["species"]]
        model.networks_ = []
        for m in range(model.n_models):
            net = model._build(model.species_)
            prefix = f"state/{m}/"
            net.load_state_dict({k[len(prefix):]: torch.from_numpy(v)
                                 for k, v in arrays.items() if k.startswith(prefix)})
            model.networks_.append(net)
        model.std_scale_ = dict(meta.get("std_scale", {}))
        model.charged_ = bool(meta.get("charged", False))
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
                 force_weight: float = 1.0, tensor_weight: float = 1.0,
                 validation_fraction: float = 0.1,
                 patience: int = 60, lr_patience: int = 20, lr_factor: float = 0.5,
                 max_time: float | None = None, n_models: int = 1,
                 dtype: str = "float64", device: str = "cpu", random_state: int = 0,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 10,
                 resume: bool = False, keys: KeySpec | None = None) -> None:
        self._store(locals())

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

    vector_features = True

    def __init__(self, *, target: TargetSpec | None = None, cutoff: float = 5.0,
                 n_features: int = 64, n_interactions: int = 3, n_rbf: int = 20,
                 n_hidden: Sequence[int] = (32,), activation: str = "silu",
                 epochs: int = 300, batch_size: int = 10, learning_rate: float = 1e-3,
                 optimizer: str = "adam", energy_weight: float = 100.0,
                 force_weight: float = 1.0, tensor_weight: float = 1.0,
                 validation_fraction: float = 0.1,
                 patience: int = 60, lr_patience: int = 20, lr_factor: float = 0.5,
                 max_time: float | None = None, n_models: int = 1,
                 dtype: str = "float64", device: str = "cpu", random_state: int = 0,
                 checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 10,
                 resume: bool = False, keys: KeySpec | None = None) -> None:
        self._store(locals())

    def _representation(self, species) -> torch.nn.Module:
        return PaiNN(species, cutoff=self.cutoff, n_features=self.n_features,
                     n_interactions=self.n_interactions, n_rbf=self.n_rbf,
                     activation=self.activation)
