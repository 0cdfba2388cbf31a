"""Neural networks behind the structure-level model layer.

:class:`BehlerParrinelloModel` (``"bpnn"``) and :class:`MessagePassingModel` (``"mpnn"``)
share everything but their representation: heads built from the targets' layouts, forces
by autograd, the training loop with checkpoints, committees for uncertainty.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ...distributed import Distributed, batches
from ...errors import ConfigError, DataError, check_choice
from ...nn import AtomisticNetwork, PaiNN, SymmetryFunctions, make_batch, make_head, train
from ...nn.training import Checkpoint, Labels, LossTerm
from ...structures.io import where
from ...targets import Dataset, operator_outputs
from ...targets.excitations import sorted_by
from ...targets.levels import delta_baseline
from ...targets.operators import levels
from ...threads import configured as configured_threads
from .. import register
from ..base import StructureModel
from ..hypers import check_positive
from .hypers import LAYOUTS, BehlerParrinelloHypers, MessagePassingHypers

_DTYPES = {"float64": torch.float64, "float32": torch.float32}
#: The label of each structure's Coulomb-metric factor (a density loss in that metric).
METRIC_LABEL = "_coulomb_metric_factor"
#: The label of a learned-order target's Delta-learning baseline (network state order).
STATE_BASELINE = "_state_baseline/{}"
if configured_threads() is not None:          # PyTorch loaded after threads were set
    torch.set_num_threads(configured_threads())
# hyperparameters that may change between an interrupted run and its resumption
_NOT_IN_FINGERPRINT = ("epochs", "patience", "max_time", "checkpoint_every", "device",
                       "n_models")


class NetworkModel(StructureModel):
    """Shared machinery of the network families; subclasses provide
    ``_representation(species)`` and say whether it needs angle triplets and has vector
    features.

    Parameters
    ----------
    targets : TargetSpec or list of TargetSpec, optional
        Default ``energy(forces=True)``; several targets train jointly, one head each.
    keys : KeySpec, optional
    checkpoint : path, optional
        Training state is saved there every ``checkpoint_every`` epochs (one file per
        committee member: ``<checkpoint>.member<k>``).
    resume : bool
        Continue from ``checkpoint`` if it exists (refused if another model wrote it).
    **hypers
        See the family's dataclass (``BehlerParrinelloHypers``, ``MessagePassingHypers``).
    """

    joint_targets = True
    learned_order = True
    checkpoints = True
    supported_gradients = ("forces",)
    angles = False
    vector_features = False

    def __init__(self, targets=None, *, keys=None, checkpoint: str | os.PathLike | None = None,
                 resume: bool = False, **hypers) -> None:
        super().__init__(targets, keys=keys, **hypers)
        self.checkpoint = checkpoint
        self.resume = resume

    @property
    def provides_uncertainty(self) -> bool:
        return self.hypers.n_models > 1

    @property
    def supported_targets(self):
        out = super().supported_targets
        spec = self._operator_spec
        if spec is not None:        # a Hamiltonian's levels, by diagonalisation
            out.update({s.name: s for s in operator_outputs(spec)})
        return out

    @property
    def _operator_spec(self):
        return next((s for s in self.target_specs if s.kind == "operator"), None)

    def _no_uncertainty_message(self) -> str:
        return (f"{type(self).__name__} does not provide uncertainties; train a committee "
                "with n_models>1")

    @property
    def cutoff(self) -> float:
        raise NotImplementedError

    def _representation(self, species) -> torch.nn.Module:
        raise NotImplementedError

    def check_hypers(self) -> None:
        super().check_hypers()
        h = self.hypers
        check_choice(h.dtype, tuple(_DTYPES), "dtype")
        check_choice(h.optimizer, ("adam", "sgd"), "optimizer")
        check_choice(h.activation, ("tanh", "silu", "softplus"), "activation")
        if hasattr(h, "density_loss"):
            check_choice(h.density_loss, ("coulomb", "euclidean"), "density_loss")
        if h.n_models < 1:
            raise ConfigError(f"n_models must be at least 1; got {h.n_models}.")
        for name in ("learning_rate", "batch_size", "epochs", "patience", "lr_patience",
                     "max_time"):
            check_positive(getattr(h, name), f"model.{name}")
        for name in ("force_weight", "checkpoint_every"):
            check_positive(getattr(h, name), f"model.{name}", strict=False)
        if not 0.0 < h.lr_factor < 1.0:
            raise ConfigError(f"Option 'model.lr_factor' must be between 0 and 1 (the factor "
                              f"on the learning rate on a plateau). Got {h.lr_factor!r}.")
        for k, width in enumerate(h.n_hidden):
            check_positive(width, f"model.n_hidden[{k}]")
        if hasattr(h, "descriptor"):             # Behler-Parrinello symmetry functions
            d = h.descriptor
            check_positive(d.cutoff, "model.descriptor.cutoff")
            for name in ("radial_etas", "angular_etas", "zetas"):
                for k, value in enumerate(getattr(d, name)):
                    check_positive(value, f"model.descriptor.{name}[{k}]")
        else:                                    # PaiNN
            for name in ("cutoff", "n_features", "n_interactions", "n_rbf"):
                check_positive(getattr(h, name), f"model.{name}")

    # -- building ---------------------------------------------------------------------
    def _build(self, species) -> AtomisticNetwork:
        rep = self._representation(species)
        n_vector = rep.n_features if self.vector_features else 0
        heads = {spec.name: make_head(spec, species=species, n_features=rep.n_features,
                                      n_vector=n_vector, n_hidden=self.hypers.n_hidden,
                                      activation=self.hypers.activation)
                 for spec in self.target_specs}
        source = self.derivative_target
        return AtomisticNetwork(rep, heads, forces_of=source and source.name).to(
            device=self.hypers.device, dtype=_DTYPES[self.hypers.dtype])

    def _batches(self, structures, labels: Dataset | None = None,
                 distributed: Distributed | None = None, *, validation: bool = False):
        """Batches of ``batch_size`` structures with their labels (this rank's share of
        each with ``distributed``; ``(None, None)`` for an empty share of a
        ``validation`` batch)."""
        dt, device = _DTYPES[self.hypers.dtype], self.hypers.device
        offsets = np.cumsum([0] + [len(a) for a in structures])
        per_atom = labels.per_atom_names() if labels is not None else set()
        out = []
        for idx in batches(len(structures), self.hypers.batch_size, distributed,
                           allow_empty=validation):
            if len(idx) == 0:
                out.append((None, None))
                continue
            batch = make_batch([structures[i] for i in idx], self.cutoff, angles=self.angles,
                               dtype=dt).to(device=device)
            lab = None
            if labels is not None:
                atoms = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in idx])
                lab = Labels({k: torch.tensor(self._head_layout(k, v[atoms] if k in per_atom
                                                                else v[idx]),
                                              dtype=dt, device=device)
                              for k, v in labels.labels.items()})
            out.append((batch, lab))
        return out

    def _head_layout(self, name: str, value: np.ndarray) -> np.ndarray:
        """Labels in the layout of a head's output (spectra flattened per row)."""
        spec = self.supported_targets.get(name)
        if spec is not None and spec.kind == "spectrum":
            return value.reshape(len(value), -1)
        return value

    def _loss_terms(self) -> list[LossTerm]:
        def offset(name):
            return STATE_BASELINE.format(name) if name in self._baselined_states else None

        terms = [LossTerm(s.name, s.weight,
                          per_atom_error=not s.per_atom and s.extensive
                          and s.kind in ("scalar", "spectrum"),
                          sorted_by=(by := sorted_by(s, self.target_specs)),
                          offset=offset(s.name), sorted_by_offset=offset(by),
                          metric=METRIC_LABEL if self._coulomb_loss(s) else None)
                 for s in self.target_specs]
        if any("forces" in s.gradients for s in self.target_specs):
            terms.append(LossTerm("forces", self.hypers.force_weight))
        return terms

    def _coulomb_loss(self, spec) -> bool:
        return (spec.kind == "density_coefficients"
                and getattr(self.hypers, "density_loss", "euclidean") == "coulomb")

    @property
    def _baselined_states(self) -> list[str]:
        """The learned-order targets with a Delta-learning baseline."""
        return [s.name for s in self.target_specs if sorted_by(s, self.target_specs)
                and s.metadata.get("baseline", "none") != "none"]

    def _state_baselines(self, structures, names) -> dict[str, np.ndarray]:
        """The Delta-learning baselines of the learned-order targets among ``names``,
        state k's the k-th lowest orbital pair's: the network's own state order starts
        from the pairs', and each state keeps its pair when the network moves it past
        another."""
        return {t: delta_baseline(self.supported_targets[t], structures, self.delta_.get(t))
                for t in self._baselined_states if t in names}

    def _with_state_baselines(self, data: Dataset) -> Dataset:
        """``data`` with the state baselines as labels (the loss adds them to prediction
        and residual label before it sorts the states)."""
        extra = {STATE_BASELINE.format(t): v for t, v in
                 self._state_baselines(data.structures, self._baselined_states).items()}
        return Dataset(data.structures, data.specs, {**data.labels, **extra}) if extra \
            else data

    def _with_metrics(self, data: Dataset) -> Dataset:
        """``data`` with the Cholesky factors of each structure's Coulomb metric as a
        label, for a density loss in that metric."""
        spec = next((s for s in self.target_specs if self._coulomb_loss(s)), None)
        if spec is None:
            return data
        from ...targets.density import coulomb_metric

        factors = np.stack([np.linalg.cholesky(coulomb_metric(a, spec.metadata["basis"]))
                            for a in data.structures])
        return Dataset(data.structures, data.specs, {**data.labels, METRIC_LABEL: factors})

    def _probe_structure(self):
        if self._operator_spec is None:
            return super()._probe_structure()
        import ase

        # the operator head knows one molecule: its atoms, 1.5 Å apart
        return ase.Atoms(numbers=self.operator_numbers_,
                         positions=[[1.5 * k, 0.2 * (k % 2), 0.0]
                                    for k in range(len(self.operator_numbers_))])

    def _operator_layout(self):
        from ...targets.operators import AtomicOrbitals, OperatorLayout

        spec = self._operator_spec
        return OperatorLayout(AtomicOrbitals.from_pyscf(spec.metadata["basis"],
                                                        self.species_))

    def _training_data(self, data: Dataset, *, fine_tuning: bool = False) -> Dataset:
        """``data``'s labels as the loss compares them (state baselines, Coulomb metric,
        operator channels); ``fine_tuning`` keeps the fit's channel scales."""
        return self._with_channels(self._with_metrics(self._with_state_baselines(data)),
                                   keep_scales=fine_tuning)

    def _with_channels(self, data: Dataset, keep_scales: bool = False) -> Dataset:
        """``data`` with an operator's matrices replaced by the head's layout: every
        channel's values, flat, each (channel, output) centred (lambda = 0 only: a
        constant would not rotate) and divided by its spread, so the loss weighs every
        channel by its own scale (as the channel-wise SA-GPR does); ``keep_scales``:
        the offsets and spreads fitted before."""
        spec = self._operator_spec
        if spec is None:
            return data
        if keep_scales:          # the molecule the head learned
            self._check_molecule(data.structures)
        for k, a in enumerate(data.structures):
            if not keep_scales and not np.array_equal(a.numbers, data.structures[0].numbers):
                raise DataError(
                    f"{where(a, k)} has other atoms (or another order) than the first "
                    "structure: a network's operator head learns structures of one "
                    "molecule with its atoms in one order; give such structures, or use "
                    "'sa_gpr' for mixed ones.")
        numbers, n = data.structures[0].numbers, data.n_structures
        layout = self._operator_layout()
        parts = layout.decompose(data.labels[spec.name], numbers)
        if not keep_scales:
            offsets, scales = [], []
            for key, values in parts.items():
                v = values.reshape(n, -1, *values.shape[1:])          # [n, blocks, m, out]
                offset = (v.mean(axis=(0, 1, 2)) if key[-2] == 0
                          else np.zeros(v.shape[-1]))
                spread = np.sqrt(((v - offset) ** 2).mean(axis=(0, 1, 2)))
                offsets.append(np.broadcast_to(offset, v.shape[1:]).reshape(-1))
                scales.append(np.broadcast_to(np.maximum(spread, 1e-8),
                                              v.shape[1:]).reshape(-1))
            self.operator_numbers_ = np.asarray(numbers)
            self.operator_offset_ = np.concatenate(offsets)
            self.operator_scale_ = np.concatenate(scales)
        flat = layout.flatten(parts, n)
        return Dataset(data.structures, data.specs,
                       {**data.labels, spec.name: (flat - self.operator_offset_)
                        / self.operator_scale_})

    def _check_molecule(self, structures) -> None:
        """Refuse structures other than the molecule the operator head learned."""
        for k, a in enumerate(structures):
            if not np.array_equal(a.numbers, self.operator_numbers_):
                raise DataError(
                    f"{where(a, k)} has other atoms (or another order) than the molecule "
                    f"this operator head learned ({len(self.operator_numbers_)} atoms); "
                    "give structures of that molecule with its atoms in that order.")

    def _operator_matrices(self, flat: np.ndarray, structures) -> np.ndarray:
        """Matrices (eV) from the head's normalised flat channel values."""
        self._check_molecule(structures)
        layout = self._operator_layout()
        values = flat * self.operator_scale_ + self.operator_offset_
        return layout.assemble(layout.unflatten(values, self.operator_numbers_),
                               self.operator_numbers_, len(flat))

    def _initialise(self, net: AtomisticNetwork, data: Dataset) -> None:
        """Standardise fixed features; set each invariant head's output scale to the spread
        of its (baseline-subtracted) labels."""
        with torch.no_grad():
            if isinstance(net.representation, SymmetryFunctions):
                feats = torch.cat([net.representation(b) for b, _ in
                                   self._batches(data.structures)])
                net.feature_mean.copy_(feats.mean(0))
                net.feature_std.copy_(feats.std(0).clamp_min(1e-6))
            for spec in self.target_specs:
                head = net.heads[spec.name]
                if hasattr(head, "initialise"):          # offsets and scales per function
                    head.initialise([a.numbers for a in data.structures],
                                    data.labels[spec.name])
                if not hasattr(head, "scale"):
                    continue
                y = data.labels[spec.name].reshape(len(data.labels[spec.name]), -1)
                if not spec.per_atom and spec.extensive:
                    y = y / data.n_atoms[:, None]
                # missing labels (NaN) are left out; a column with none keeps scale 1e-3
                known = np.isfinite(y)
                n = np.maximum(known.sum(0), 1)
                centred = np.where(known, y - np.where(known, y, 0.0).sum(0) / n, 0.0)
                spread = np.maximum(np.sqrt((centred**2).sum(0) / n), 1e-3)
                head.scale.copy_(torch.tensor(spread if head.scale.dim() else spread[0],
                                              dtype=head.scale.dtype))

    def _check_charges(self, structures, *, training: bool) -> None:
        """A vector built from charges of a charged structure depends on its total charge:
        it must be known."""
        if not any(s.kind == "vector" for s in self.target_specs):
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

    def _fingerprint(self, member: int, train: Dataset, held: Dataset) -> dict:
        params = {k: v for k, v in self.get_params().items() if k not in _NOT_IN_FINGERPRINT}
        return {"model": self.registry_name, **params, "species": self.species_,
                "member": member, "targets": [t.name for t in self.target_specs],
                "training data": train.digest()[:16],
                "validation data": held.digest()[:16]}

    def _checkpoint(self, member: int, train: Dataset, held: Dataset) -> Checkpoint | None:
        if self.checkpoint is None:
            return None
        path = Path(self.checkpoint)
        if self.hypers.n_models > 1:
            path = path.with_name(f"{path.name}.member{member}")
        if self.hypers.checkpoint_every == 0:
            return None
        return Checkpoint(path, every=self.hypers.checkpoint_every,
                          fingerprint=self._fingerprint(member, train, held), resume=self.resume)

    # -- fitting ----------------------------------------------------------------------
    def _held_out_size(self, n_structures: int) -> int:
        if n_structures < 2:
            raise DataError("Training a network needs at least two structures.")
        return max(1, super()._held_out_size(n_structures))

    def _fit(self, data: Dataset, held_out):
        h = self.hypers
        self._check_charges(data.structures, training=True)
        train_set, held_set = self._training_data(data).split(held_out)
        ranks = self.__dict__.get("distributed")
        train_batches = self._batches(train_set.structures, train_set, ranks)
        held_batches = self._batches(held_set.structures, held_set, ranks, validation=True)
        executor = self.__dict__.get("executor")
        if ranks is not None:
            ranks.start(h.device)
            members = [self._train_member(k, data, train_set, held_set, train_batches,
                                          held_batches) for k in range(h.n_models)]
        elif executor is not None and h.n_models > 1:
            # committee members are independent: one task each, results in member order
            futures = [executor.submit(_train_member, self, k, data, train_set, held_set,
                                       train_batches, held_batches)
                       for k in range(h.n_models)]
            members = [f.result() for f in futures]
        else:
            members = [self._train_member(k, data, train_set, held_set, train_batches,
                                          held_batches) for k in range(h.n_models)]
        self.networks_ = [net for net, _ in members]
        self.histories_ = [history for _, history in members]
        if h.n_models < 2:
            return None
        names = [s.name for s in self.target_specs] + (
            ["forces"] if "forces" in held_set.labels else [])
        return self._predict(held_set.structures, names, True)

    def _train_member(self, k, data, train_set, held_set, train_batches, held_batches):
        """Committee member ``k``: a network built, initialised and trained."""
        h = self.hypers
        torch.manual_seed(h.random_state + k)
        net = self._build(self.species_)
        self._initialise(net, data)
        history = train(
            net, train_batches, held_batches, epochs=h.epochs, optimizer=h.optimizer,
            learning_rate=h.learning_rate, terms=self._loss_terms(), patience=h.patience,
            lr_patience=h.lr_patience, lr_factor=h.lr_factor, seed=h.random_state + k,
            max_time=h.max_time, checkpoint=self._checkpoint(k, train_set, held_set),
            description=f"training {k + 1}/{h.n_models}" if h.n_models > 1
            else "training", distributed=self.__dict__.get("distributed"))
        return net, history

    def __getstate__(self) -> dict:
        # an executor or a process group does not travel with the model
        return {k: v for k, v in self.__dict__.items()
                if k not in ("executor", "distributed")}

    def fine_tune(self, structures, labels=None, *, epochs: int | None = None
                  ) -> NetworkModel:
        """Continue training every network from its current weights on ``structures``
        (all those it should know, new ones included; a held-out share for early
        stopping as in :meth:`fit`). The composition baseline, the normalisation of the
        features and heads, and the calibration stay as fitted.

        Parameters
        ----------
        structures : sequence of ase.Atoms
        labels : mapping of str to array, optional
        epochs : int, optional
            At most this many epochs (default: the model's ``epochs``).
        """
        h = self.hypers
        data = self._training_data(self._learned_labels(structures, labels), fine_tuning=True)
        self._check_charges(data.structures, training=True)
        held_out = data.held_out_indices(self._held_out_size(data.n_structures),
                                         h.random_state)
        train_set, held_set = data.split(held_out)
        train_batches = self._batches(train_set.structures, train_set)
        held_batches = self._batches(held_set.structures, held_set)
        for k, net in enumerate(self.networks_):
            self.histories_[k] = train(
                net, train_batches, held_batches, epochs=epochs or h.epochs,
                optimizer=h.optimizer, learning_rate=h.learning_rate,
                terms=self._loss_terms(), patience=h.patience, lr_patience=h.lr_patience,
                lr_factor=h.lr_factor, seed=h.random_state + k, max_time=h.max_time,
                description="fine-tuning")
        self.n_train_ = data.n_structures
        return self

    @property
    def history_(self):
        return self.histories_[0]

    # -- prediction -------------------------------------------------------------------
    def _predict(self, structures, names, return_std):
        self._check_charges(structures, training=False)
        batches = self._batches(structures)
        specs = self.supported_targets
        keys = {k for t in names if (k := sorted_by(specs[t], self.target_specs))}
        state_baselines = self._state_baselines(structures, set(names) | keys)
        operator = self._operator_spec
        derived = {s.name for s in operator_outputs(operator)} if operator else set()
        levels_wanted = bool(derived & set(names))
        net_names = [t for t in names if t not in derived]
        if levels_wanted and operator.name not in net_names:
            net_names.append(operator.name)
        wanted = list(net_names) + sorted(keys - set(net_names))
        members = []
        for net in self.networks_:
            net.eval()
            parts: dict[str, list] = {t: [] for t in wanted}
            for batch, _ in batches:
                out = net(batch, compute_forces_="forces" in names)
                for t in wanted:
                    parts[t].append(out[t].detach().cpu().numpy().astype(float))
            # coefficients of a basis: as many as the structure's atoms have functions
            member = {t: np.concatenate(v).reshape(
                (len(structures), -1) if specs[t].kind in ("density_coefficients",
                                                           "operator")
                else (-1, *specs[t].shape)) for t, v in parts.items()}
            if operator is not None and operator.name in member:
                member[operator.name] = self._operator_matrices(member[operator.name],
                                                                structures)
                if levels_wanted:
                    member.update(levels(member[operator.name], structures,
                                         operator.metadata["basis"], operator.unit))
            # states in the network's own order, each with its baseline: output by energy,
            # less the baseline in that order (the base layer adds it back)
            full = {t: member[t] + state_baselines.get(t, 0.0) for t in wanted}
            order = {k: np.argsort(full[k], axis=-1) for k in keys}
            members.append({t: np.take_along_axis(full[t], order[k], axis=-1)
                            - state_baselines.get(t, 0.0)
                            if (k := sorted_by(specs[t], self.target_specs)) else member[t]
                            for t in names})
        mean = {t: np.mean([m[t] for m in members], axis=0) for t in names}
        if not return_std:
            return mean, {}
        return mean, {t: np.std([m[t] for m in members], axis=0, ddof=1) for t in names}

    # -- state ------------------------------------------------------------------------
    def _state(self):
        arrays = {f"state/{m}/{k}": v.detach().cpu().numpy()
                  for m, net in enumerate(self.networks_)
                  for k, v in net.state_dict().items()}
        if self._operator_spec is not None:
            arrays.update({"operator/numbers": self.operator_numbers_,
                           "operator/offset": self.operator_offset_,
                           "operator/scale": self.operator_scale_})
        return {"charged": bool(getattr(self, "charged_", False))}, arrays

    def _restore(self, fitted, arrays) -> None:
        self.networks_ = []
        for m in range(self.hypers.n_models):
            net = self._build(self.species_)
            prefix = f"state/{m}/"
            state = {k[len(prefix):]: torch.from_numpy(v) for k, v in arrays.items()
                     if k.startswith(prefix)}
            missing, unexpected = net.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise ConfigError(
                    f"The network weights of member {m} do not fit this {self.registry_name}"
                    f" architecture (missing {list(missing)[:3]}, unexpected "
                    f"{list(unexpected)[:3]}).")
            self.networks_.append(net)
        self.charged_ = bool(fitted.get("charged", False))
        if "operator/numbers" in arrays:
            self.operator_numbers_ = arrays["operator/numbers"]
            self.operator_offset_ = arrays["operator/offset"]
            self.operator_scale_ = arrays["operator/scale"]


def _train_member(model, k, *args):
    """A committee member trained on a worker (see ``NetworkModel._train_member``)."""
    from ...executors import one_thread

    one_thread()
    return model._train_member(k, *args)


@register("bpnn")
class BehlerParrinelloModel(NetworkModel):
    """High-dimensional (Behler-Parrinello) network: G2/G4 symmetry functions and one MLP
    per element and target; forces by automatic differentiation.

    Parameters: see :class:`NetworkModel` and
    :class:`~atomlearn.models.network.hypers.BehlerParrinelloHypers`.
    """

    Hypers = BehlerParrinelloHypers
    supported_layouts = LAYOUTS["bpnn"]
    angles = True

    @property
    def cutoff(self) -> float:
        return self.hypers.descriptor.cutoff

    def _representation(self, species) -> torch.nn.Module:
        d = self.hypers.descriptor
        return SymmetryFunctions(species, cutoff=d.cutoff, radial_etas=d.radial_etas,
                                 radial_shifts=d.radial_shifts,
                                 angular_etas=d.angular_etas, zetas=d.zetas)


@register("mpnn")
class MessagePassingModel(NetworkModel):
    """Message-passing (PaiNN) network: learned scalar and vector features from
    ``n_interactions`` rounds of continuous-filter convolutions, one head per target;
    forces by automatic differentiation.

    Parameters: see :class:`NetworkModel` and
    :class:`~atomlearn.models.network.hypers.MessagePassingHypers`.
    """

    Hypers = MessagePassingHypers
    supported_layouts = LAYOUTS["mpnn"]
    vector_features = True

    @property
    def cutoff(self) -> float:
        return self.hypers.cutoff

    def _representation(self, species) -> torch.nn.Module:
        h = self.hypers
        return PaiNN(species, cutoff=h.cutoff, n_features=h.n_features,
                     n_interactions=h.n_interactions, n_rbf=h.n_rbf,
                     activation=h.activation)


__all__ = ["BehlerParrinelloModel", "MessagePassingModel", "NetworkModel"]
