"""The structure-level model layer every family shares.

:class:`StructureModel` owns, once: reading every label through the targets' specs
(:class:`~atomlearn.targets.Dataset`, per structure and per atom, with forces and
stress), the per-element composition baseline, the held-out split used for
hyperparameters and calibration, the calibration of predictive standard deviations and
its report, checking targets against the family's capabilities, and the model file. A
family writes only what is its own:

* ``_fit(data, held_out)``: its fitting core on baseline-subtracted labels; it may use
  the held-out structures (indices into ``data``) for hyperparameters or early stopping
  and returns its predictions (mean and std) there, from a model that did not see them,
  for the calibration;
* ``_predict(structures, names, return_std)``: its prediction core (without baseline);
* ``_noise_std(name, structures)``: the observation noise it assumed;
* ``_state()`` / ``_restore(fitted, arrays)``: its fitted state as JSON and arrays.

Capabilities are class attributes: ``supported_layouts`` (the ``(kind, per_atom)``
pairs it learns), ``supported_gradients``, ``joint_targets`` (several targets in one
model), ``learned_order`` (states kept in an order of the model's own, sorted for the
loss) and :attr:`provides_uncertainty`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import ase
import numpy as np

from ..errors import ConfigError, DataError, NotFittedError
from ..metrics import calibration_report
from ..serialization import write_model_file
from ..structures.io import check_positions, where
from ..structures.keys import KeySpec
from ..targets import Dataset, TargetSpec, density_outputs, energy, gradient_spec
from ..targets import density_of_states as dos
from ..targets.density import outputs as density_derived
from ..targets.excitations import sorted_by
from ..targets.levels import delta_baseline, fit_delta
from ..targets.spec import companions
from . import hypers as H
from .baseline import CompositionBaseline

log = logging.getLogger(__name__)


class StructureModel:
    """Base class of the structure-level models (GP and networks alike).

    Parameters
    ----------
    targets : TargetSpec or sequence of TargetSpec, optional
        What to learn; the family's default when None (an energy with forces for
        potentials).
    keys : KeySpec, optional
        Where labels are read from.
    **hypers
        The family's hyperparameters (see its ``Hypers`` dataclass, the single source of
        their defaults); nested sections as mappings or dataclass instances.
    """

    registry_name: ClassVar[str] = ""
    Hypers: ClassVar[type]
    supported_layouts: ClassVar[frozenset[tuple[str, bool]]] = frozenset()
    supported_gradients: ClassVar[tuple[str, ...]] = ()
    joint_targets: ClassVar[bool] = False
    learned_order: ClassVar[bool] = False
    #: How training structures without forces or stress are treated.
    missing_gradients: ClassVar[str] = "error"
    #: Whether training state is checkpointed (``checkpoint=``/``resume=`` arguments).
    checkpoints: ClassVar[bool] = False
    #: The family describes periodic cells only (its tests use crystals, not molecules).
    periodic_only: ClassVar[bool] = False
    #: Set on the per-target members of a family without joint targets (no companions).
    _is_member: ClassVar[bool] = False

    def __init__(self, targets: TargetSpec | Sequence[TargetSpec] | None = None, *,
                 keys: KeySpec | None = None, **hypers: Any) -> None:
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "hypers", H.parse(self.Hypers, hypers, "model",
                                                   family=self.registry_name,
                                                   other_families=_families()))

    # hyperparameters read and set as attributes: model.n_sparse, model.n_sparse = 100
    def __getattr__(self, name: str):
        hypers = self.__dict__.get("hypers")
        if hypers is not None and name in {f.name for f in dataclasses.fields(hypers)}:
            return getattr(hypers, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        hypers = self.__dict__.get("hypers")
        if hypers is not None and name in {f.name for f in dataclasses.fields(hypers)}:
            object.__setattr__(self, "hypers", H.parse(
                self.Hypers, {**H.to_dict(hypers), name: value}, "model",
                family=self.registry_name))
            return
        object.__setattr__(self, name, value)

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as a nested, JSON-ready dict (the family's dataclass)."""
        return H.to_dict(self.hypers)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                          if not isinstance(v, dict))
        t = self.targets
        names = ("default" if t is None else [t.name] if isinstance(t, TargetSpec)
                 else [s.name for s in t])
        return f"{type(self).__name__}(targets={names}, {shown})"

    # -- targets ----------------------------------------------------------------------
    @classmethod
    def default_targets(cls) -> list[TargetSpec]:
        return [energy(forces=True)]

    @property
    def target_specs(self) -> list[TargetSpec]:
        """The targets, checked against what this family learns."""
        t = self.targets
        specs = (self.default_targets() if t is None else [t] if isinstance(t, TargetSpec)
                 else list(t))
        if not self._is_member:       # a member learns exactly the target it was given
            specs = companions(specs)
        self.check_targets(specs)
        return specs

    @property
    def members(self) -> bool:
        """Whether this model fits one member per target (a family that learns one target
        at a time, given several): they share the options, nothing else."""
        return len(self.target_specs) > 1 and not self.joint_targets

    def _member(self, spec: TargetSpec) -> StructureModel:
        member = type(self)(spec, keys=self.keys, **H.to_dict(self.hypers))
        member._is_member = True
        return member

    @classmethod
    def check_targets(cls, specs: Sequence[TargetSpec]) -> None:
        """Refuse targets this family cannot learn, naming target and family."""
        if not specs:
            raise ConfigError(f"Model type {cls.registry_name!r} needs at least one target.")
        names = [s.name for s in specs]
        if len(set(names)) != len(names) or set(names) & {"forces", "stress"}:
            raise ConfigError(f"Target names must be unique and not 'forces' or 'stress' "
                              f"(those are gradients of an energy); got {names}.")
        with_gradients = [s for s in specs if s.gradients]
        if len(with_gradients) > 1:
            raise ConfigError(f"Only one target can have forces or stress; got "
                              f"{[s.name for s in with_gradients]}.")
        for spec in specs:
            if spec.layout not in cls.supported_layouts:
                layouts = sorted(f"{k}{' per atom' if a else ''}"
                                 for k, a in cls.supported_layouts)
                raise ConfigError(
                    f"Model type {cls.registry_name!r} cannot learn target {spec.name!r} of "
                    f"kind {spec.kind!r}{' per atom' if spec.per_atom else ''}; it learns "
                    f"{layouts}. {_who_learns(spec)}")
            if spec.metadata.get("order") == "learned":
                if not cls.learned_order:
                    raise ConfigError(
                        f"Model type {cls.registry_name!r} regresses states as the labels "
                        f"order them; 'order: learned' of target {spec.name!r} needs a "
                        "network family (bpnn, mpnn), or drop the option.")
                sorted_by(spec, specs)
            for g in spec.gradients:
                if g not in cls.supported_gradients:
                    raise ConfigError(
                        f"Model type {cls.registry_name!r} cannot learn the {g} of target "
                        f"{spec.name!r}; it learns "
                        f"{list(cls.supported_gradients) or 'no derivatives'}.")

    @property
    def derivative_target(self) -> TargetSpec | None:
        """The target whose derivatives are the predicted forces (and stress): the one
        that learns them, else the only extensive per-structure scalar (an energy fitted
        without forces still has them)."""
        specs = self.target_specs
        declared = [s for s in specs if s.gradients]
        if declared:
            return declared[0]
        scalars = [s for s in specs if s.layout == ("scalar", False) and s.extensive]
        return scalars[0] if len(scalars) == 1 and self.supported_gradients else None

    @property
    def supported_targets(self) -> dict[str, TargetSpec]:
        """Everything :meth:`predict` can return: the targets and their derivatives."""
        out = {s.name: s for s in self.target_specs}
        source = self.derivative_target
        if source is not None:
            for g in self.supported_gradients:
                out[g] = gradient_spec(g, source.unit)
        density = self._density_spec
        if density is not None:
            out.update({s.name: s for s in density_outputs(density)})
        return out

    @property
    def _density_spec(self) -> TargetSpec | None:
        """The density-coefficient target, whose electrons and dipole the model derives
        (:func:`atomlearn.targets.density.outputs`, which also normalises)."""
        return next((s for s in self.target_specs if s.kind == "density_coefficients"),
                    None)

    @property
    def provides_uncertainty(self) -> bool:
        """Whether ``predict(return_std=True)`` works."""
        return True

    # -- fitting ----------------------------------------------------------------------
    def fit(self, structures: Sequence[ase.Atoms],
            labels: Mapping[str, np.ndarray] | None = None) -> StructureModel:
        """Fit to the reference labels of ``structures``.

        Parameters
        ----------
        structures : sequence of ase.Atoms
        labels : mapping of str to array, optional
            Labels in internal units (``"energy"`` (n_structures,), ``"forces"``
            (n_atoms_total, 3), ...); read from the structures through the targets' keys
            (``REF_<name>``, ``<name>``, calculator results) when not given.

        Returns
        -------
        self
        """
        self.check_hypers()
        data = Dataset.read(structures, self.target_specs, keys=self.keys, labels=labels,
                            missing_gradients=self.missing_gradients)
        spectra = [s for s in self.target_specs if dos.is_dos(s)]
        if spectra:        # electron counts of new structures, for their Fermi levels
            self.electrons_ = dos.electron_counts(spectra[0], data.structures)
        learned = [s for s in spectra if dos.dos_options(s).reference == "learned"]
        if learned:
            self._fit_aligned(data, learned[0])
        else:
            self._fit_data(data)
        self.n_train_ = data.n_structures
        return self

    def _fit_data(self, data: Dataset) -> None:
        self.species_ = data.species
        if self.members:
            self.members_ = {}
            for spec in self.target_specs:
                member = self._member(spec)
                member._fit_data(data.select([spec.name]))
                member.n_train_ = data.n_structures
                self.members_[spec.name] = member
            self.baseline_ = CompositionBaseline("none").fit(data, self.species_)
            self.calibration_ = {k: v for m in self.members_.values()
                                 for k, v in m.calibration_.items()}
            return
        self._check_fit_data(data)
        self.delta_ = fitted_deltas(data)
        data = without_delta(data, self.delta_)
        self.baseline_ = CompositionBaseline(self.hypers.baseline).fit(data, self.species_)
        residual = self.baseline_.residual(data)
        held_out = residual.held_out_indices(self._held_out_size(residual.n_structures),
                                             self.hypers.random_state)
        predicted = self._fit(residual, held_out)
        self.calibration_ = (self._calibrate(residual.subset(held_out), *predicted)
                             if predicted is not None else {})

    def _fit_aligned(self, data: Dataset, spec: TargetSpec) -> None:
        """The ``learned`` DOS reference (How et al. 2024): each training structure's DOS
        is re-aligned (one shift per structure) to the DOS a model predicts for it without
        having seen it (``alignment_folds``-fold cross-fitting: a model fitted to a
        structure reproduces its misplaced label and would not move it), for
        ``alignment_iterations - 1`` rounds; then the model is fitted to the aligned
        labels, and the companion reference target learns the aligned levels."""
        options = dos.dos_options(spec)
        name = f"{spec.name}_reference"
        shifts = data.labels[name]
        self.alignment_ = []
        for iteration in range(options.alignment_iterations - 1):
            predicted = self._cross_fitted(data.select([spec.name]), spec,
                                           options.alignment_folds)
            new = dos.aligned_shifts(spec, data.structures, predicted, shifts)
            self.alignment_.append(float(np.sqrt(np.mean((new - shifts) ** 2))))
            log.info("DOS reference alignment %d: shifts moved by %.3g eV (rms)",
                     iteration + 1, self.alignment_[-1])
            shifts = new
            data = data.with_labels({spec.name: dos.read_dos(spec, data.structures, shifts),
                                     name: shifts})
        self._fit_data(data)
        self.reference_shifts_ = np.asarray(shifts, float)

    def _cross_fitted(self, data: Dataset, spec: TargetSpec, folds: int) -> np.ndarray:
        """Predictions of ``spec`` for every structure by a model fitted to the other
        folds."""
        folds = min(folds, data.n_structures)
        order = np.random.default_rng(self.hypers.random_state).permutation(data.n_structures)
        out = np.empty((data.n_structures, *spec.shape))
        for k in range(folds):
            held = np.sort(order[k::folds])
            model = self._member(spec)
            model._fit_data(data.subset(np.setdiff1d(order, held)))
            out[held] = model.predict([data.structures[i] for i in held],
                                      targets=[spec.name])[spec.name]
        return out

    def _learned_labels(self, structures, labels=None) -> Dataset:
        """Labels of structures added to a fitted model, as its family learns them (the
        fit's Delta and composition baselines subtracted)."""
        if not hasattr(self, "baseline_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; "
                                 "call 'fit' before adding structures.")
        structures = list(structures)
        self.check_structures(structures)
        data = Dataset.read(structures, self.target_specs, keys=self.keys, labels=labels,
                            missing_gradients=self.missing_gradients)
        return self.baseline_.residual(without_delta(data, getattr(self, "delta_", {})))

    def check_hypers(self) -> None:
        """Refuse hyperparameter values the family cannot use (called before data is read
        by the command line, and by :meth:`fit`); families extend it."""
        h = self.hypers
        H.check_positive(getattr(h, "random_state", 0), "model.random_state", strict=False)
        fraction = getattr(h, "validation_fraction", 0.0)
        if not 0.0 <= fraction < 1.0:
            raise ConfigError(f"'validation_fraction' must be in [0, 1). Got {fraction!r}.")

    def _check_fit_data(self, data: Dataset) -> None:
        """Family-specific checks of the training data (default: none)."""

    def _held_out_size(self, n_structures: int) -> int:
        """Structures held out for hyperparameters and calibration (0: none)."""
        return int(round(self.hypers.validation_fraction * n_structures))

    def _calibration_held_out(self, n_structures: int) -> int:
        """:meth:`_held_out_size` for calibrating the std only: none unless both sides
        keep at least 5 structures (fewer calibrate noise)."""
        n = StructureModel._held_out_size(self, n_structures)
        return n if n >= 5 and n_structures - n >= 5 else 0

    def _calibrate(self, held_out: Dataset, mean: dict, std: dict) -> dict[str, dict]:
        """Scale the std of each target so held-out z-scores have unit variance (the
        predictions do not change); report coverage before and after."""
        out = {}
        for name, s in std.items():
            ref = held_out.labels.get(name)
            if ref is None:
                continue
            noise = self._noise_std(name, held_out.structures)
            total = np.sqrt(s**2 + noise**2)
            ok = np.isfinite(ref)
            z = (mean[name][ok] - ref[ok]) / np.maximum(total[ok], 1e-300)
            scale = float(np.sqrt(np.mean(z**2))) if z.size else 1.0
            before = calibration_report(mean[name][ok], ref[ok], total[ok])
            after = calibration_report(mean[name][ok], ref[ok], scale * total[ok])
            out[name] = {"scale": scale, "n_held_out": int(held_out.n_structures),
                         "within_1sigma_before": before["within_1sigma"],
                         "within_1sigma": after["within_1sigma"],
                         "within_2sigma": after["within_2sigma"]}
        return out

    # -- prediction -------------------------------------------------------------------
    def predict(self, structures: Sequence[ase.Atoms], *,
                targets: Sequence[str] | None = None, return_std: bool = False):
        """Predict targets of ``structures``.

        Parameters
        ----------
        structures : sequence of ase.Atoms
        targets : sequence of str, optional
            Names to predict (default: every target, with forces, and with stress when
            every structure is periodic).
        return_std : bool
            Also return predictive standard deviations (calibrated on held-out data when
            the family has them).

        Returns
        -------
        dict of str to numpy.ndarray, or (dict, dict) with ``return_std``
            Per target: ``(n_structures, *shape)`` or ``(n_atoms_total, *shape)``;
            ``forces`` (n_atoms_total, 3), ``stress`` (n_structures, 3, 3).
        """
        if not hasattr(self, "baseline_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")
        if return_std and not self.provides_uncertainty:
            raise NotImplementedError(self._no_uncertainty_message())
        structures = list(structures)
        self.check_structures(structures)
        names = self._wanted(structures, targets)
        if self.members:
            return self._predict_members(structures, names, return_std)
        density = self._density_spec
        if density is None:
            mean, std = self._predict(structures, names, return_std)
        else:
            derived = {s.name for s in density_outputs(density)}
            own = [n for n in names if n not in derived]
            mean, std = self._predict(structures, list(dict.fromkeys([*own, density.name])),
                                      return_std)
            mean.update(density_derived(density, mean[density.name], structures, names))
            mean = {n: mean[n] for n in names}
            std = {n: v for n, v in std.items() if n in names}
        specs = self.supported_targets
        for name in names:
            for base in (self.baseline_.predict(structures, specs[name]),
                         delta_baseline(specs[name], structures,
                                        getattr(self, "delta_", {}).get(name))):
                if base is not None:
                    mean[name] = mean[name] + base
        for name in std:
            std[name] = std[name] * self.std_scale(name)
        for values in (mean, std):
            for name, value in values.items():
                _check_finite(value, name, structures)
        return (mean, std) if return_std else mean

    def _predict_members(self, structures, names, return_std):
        mean, std = {}, {}
        for member in self.members_.values():
            mine = [n for n in names if n in member.supported_targets]
            if not mine:
                continue
            out = member.predict(structures, targets=mine, return_std=return_std)
            mean.update(out[0] if return_std else out)
            std.update(out[1] if return_std else {})
        return (mean, std) if return_std else mean

    def _no_uncertainty_message(self) -> str:
        return f"{type(self).__name__} does not provide uncertainties."

    def std_scale(self, name: str) -> float:
        """Calibration factor of the std of ``name`` (1 without calibration)."""
        return float(self.calibration_.get(name, {}).get("scale", 1.0))

    def noise_std(self, name: str, structures: Sequence[ase.Atoms]) -> np.ndarray:
        """Observation noise the fit assumed for ``name``, calibrated (add it to the
        latent std for the spread of labels)."""
        if self.members:
            owner = next(m for m in self.members_.values() if name in m.supported_targets)
            return owner.noise_std(name, structures)
        return self._noise_std(name, list(structures)) * self.std_scale(name)

    def check_structures(self, structures: Sequence[ase.Atoms]) -> None:
        """Refuse non-finite or overlapping positions and elements the model was not
        trained on, naming the frame."""
        known = set(self.species_)
        for s, atoms in enumerate(structures):
            check_positions(atoms, where(atoms, s))
            unknown = sorted(set(atoms.numbers.tolist()) - known)
            if unknown:
                raise DataError(
                    f"{where(atoms, s)} contains element(s) "
                    f"{[ase.data.chemical_symbols[z] for z in unknown]} that this "
                    f"{self.registry_name} model was not trained on (it knows "
                    f"{[ase.data.chemical_symbols[z] for z in sorted(known)]}); refit with "
                    "them in the training set.")

    def _wanted(self, structures, targets) -> list[str]:
        supported = self.supported_targets
        periodic = all(a.pbc.all() for a in structures)
        if targets is None:
            return [n for n in supported if n != "stress" or periodic]
        unknown = [t for t in targets if t not in supported]
        if unknown:
            raise ConfigError(f"This model cannot predict {unknown}; it predicts "
                              f"{sorted(supported)}.")
        if "stress" in targets and not periodic:
            raise DataError("Stress needs fully periodic cells; some structures are not.")
        return list(dict.fromkeys(targets))

    def _probe_structure(self) -> ase.Atoms:
        """A small structure the model predicts when its file is loaded (a check that
        arrays and options agree)."""
        from . import _probe

        return _probe(self.species_, self.target_specs)

    # -- files ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` (atomically, versioned, no pickle)."""
        if not hasattr(self, "baseline_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; "
                                 "fit it before saving.")
        fitted, arrays = self._state() if not self.members else self._members_state()
        keys = self.keys or KeySpec()
        write_model_file(
            path, cls=self.registry_name, params=self.get_params(),
            arrays={**arrays, **self.baseline_.state(), **_delta_state(self),
                    "species": np.array(self.species_)},
            targets=[s.to_dict() for s in self.target_specs],
            keys={"ref_prefix": keys.ref_prefix, "pred_prefix": keys.pred_prefix,
                  "overrides": keys.overrides},
            fitted=fitted, calibration=self.calibration_,
            n_train=int(getattr(self, "n_train_", 0)),
            provenance=getattr(self, "provenance_", {}),
            electrons=getattr(self, "electrons_", None))

    def _members_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        fitted, arrays = {"members": {}}, {}
        for name, member in self.members_.items():
            mine, state = member._state()
            fitted["members"][name] = {"fitted": mine, "calibration": member.calibration_}
            for key, value in {**state, **member.baseline_.state(),
                               **_delta_state(member)}.items():
                arrays[f"members/{name}/{key}"] = value
        return fitted, arrays

    def _restore_members(self, fitted: dict, arrays: dict[str, np.ndarray]) -> None:
        self.members_ = {}
        for spec in self.target_specs:
            entry = fitted["members"][spec.name]
            prefix = f"members/{spec.name}/"
            mine = {k.removeprefix(prefix): v for k, v in arrays.items()
                    if k.startswith(prefix)}
            member = self._member(spec)
            member.species_ = self.species_
            member.baseline_ = CompositionBaseline.from_state(self.hypers.baseline,
                                                              self.species_, mine)
            member.calibration_ = _checked_calibration(entry["calibration"])
            member.delta_ = _delta_restored(mine)
            member.n_train_ = self.n_train_
            member._restore(entry["fitted"], mine)
            self.members_[spec.name] = member

    @classmethod
    def load(cls, path: str | os.PathLike) -> StructureModel:
        """Load a model file written by :meth:`save` (any family through this base)."""
        from . import load_model

        model = load_model(path)
        if not isinstance(model, cls):
            raise ConfigError(f"'{path}' holds a {type(model).__name__}, not a {cls.__name__}.")
        return model

    @classmethod
    def _from_file(cls, meta: dict, arrays: dict) -> StructureModel:
        model = cls(targets=[TargetSpec.from_dict(t) for t in meta["targets"]],
                    keys=KeySpec(**meta["keys"]), **meta["params"])
        model.species_ = [int(z) for z in arrays["species"]]
        model.baseline_ = CompositionBaseline.from_state(model.hypers.baseline,
                                                         model.species_, arrays)
        model.calibration_ = _checked_calibration(meta.get("calibration", {}))
        model.delta_ = _delta_restored(arrays)
        model.n_train_ = int(meta.get("n_train", 0))
        model.provenance_ = dict(meta.get("provenance", {}))
        if meta.get("electrons") is not None:
            model.electrons_ = dict(meta["electrons"])
        model.check_hypers()
        if model.members:
            model._restore_members(meta.get("fitted", {}), arrays)
        else:
            model._restore(meta.get("fitted", {}), arrays)
        return model

    # -- what a family provides -------------------------------------------------------
    def _fit(self, data: Dataset, held_out: np.ndarray | None):
        raise NotImplementedError

    def _predict(self, structures, names, return_std):
        raise NotImplementedError

    def _noise_std(self, name: str, structures) -> np.ndarray:
        return 0.0

    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        raise NotImplementedError

    def _restore(self, fitted: dict, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


def fitted_deltas(data: Dataset) -> dict[str, np.ndarray]:
    """The fitted parts of the Delta-learning baselines of ``data``'s targets."""
    return {name: fitted for name, spec in data.specs.items()
            if (fitted := fit_delta(spec, data.structures, data.labels[name])) is not None}


def without_delta(data: Dataset, fitted: dict[str, np.ndarray]) -> Dataset:
    """``data`` less the Delta-learning baselines of its targets (what the family learns
    is the correction); ``fitted``: :func:`fitted_deltas`."""
    return data.with_labels({name: data.labels[name] - base
                             for name, spec in data.specs.items()
                             if (base := delta_baseline(spec, data.structures,
                                                        fitted.get(name))) is not None})


def _delta_state(model) -> dict[str, np.ndarray]:
    return {f"delta/{name}": v for name, v in getattr(model, "delta_", {}).items()}


def _delta_restored(arrays: dict) -> dict[str, np.ndarray]:
    return {k.removeprefix("delta/"): v for k, v in arrays.items() if k.startswith("delta/")}


def _families() -> dict[str, type]:
    """Hypers of every family (for "this option belongs to ..." messages)."""
    from . import family_hypers, model_types

    return {name: family_hypers(name) for name in model_types()}


def _who_learns(spec: TargetSpec) -> str:
    from . import model_class, model_types

    able = [name for name in model_types()
            if spec.layout in model_class(name).supported_layouts]
    return (f"Families that learn it: {able}." if able
            else "No family learns this kind yet.")


def _check_finite(value: np.ndarray, name: str, structures: Sequence[ase.Atoms]) -> None:
    """Refuse a non-finite prediction, naming the structure (never silent NaN)."""
    value = np.asarray(value)
    if np.all(np.isfinite(value)):
        return
    row = int(np.argwhere(~np.isfinite(value.reshape(len(value), -1)))[0, 0])
    if len(value) != len(structures):        # per-atom rows (forces, per-atom targets)
        row = int(np.searchsorted(np.cumsum([len(a) for a in structures]), row,
                                  side="right"))
    raise DataError(
        f"The model predicts a non-finite {name} for {where(structures[row], row)}: its "
        "weights or the structure are broken; refit the model or check the structure.")


def _checked_calibration(calibration) -> dict[str, dict]:
    """A model file's calibration: a positive finite std scale per target."""
    if not isinstance(calibration, Mapping):
        raise ValueError("'calibration' is not a mapping")
    for name, entry in calibration.items():
        scale = entry.get("scale") if isinstance(entry, Mapping) else None
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (
                np.isfinite(scale) and scale > 0):
            raise ValueError(f"calibration of {name!r} has no positive 'scale'")
    return {str(k): dict(v) for k, v in calibration.items()}
