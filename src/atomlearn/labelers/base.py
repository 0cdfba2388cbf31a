"""What a labeller is: a reference method that gives energies (eV) and forces (eV/Å) of a
structure, named by a ``method`` string that keys its labels on disk."""

from __future__ import annotations

import hashlib
import importlib
import json

import ase
import ase.data
import numpy as np

from ..errors import AtomlearnError, ConfigError, DataError, closest


class LabelError(AtomlearnError, RuntimeError):
    """A reference calculation failed or did not converge on a structure (recorded with
    its reason; the structure is skipped)."""


#: Results a labeller returns that belong on the structure's calculator (the rest go to
#: its info).
CALCULATOR_RESULTS = ("energy", "forces", "stress")


class Labeler:
    """A reference method.

    Subclasses set :attr:`method` (what was computed, at which level of theory: it keys
    the stored labels) and implement :meth:`compute`; :attr:`elements` (atomic numbers)
    restricts the structures they accept.
    """

    method: str = ""
    elements: frozenset[int] | None = None

    def check(self, atoms: ase.Atoms, where: str = "the structure") -> None:
        """Refuse elements the method cannot treat."""
        if self.elements is None:
            return
        bad = sorted(set(atoms.numbers.tolist()) - self.elements)
        if bad:
            raise DataError(
                f"{where} contains {[ase.data.chemical_symbols[z] for z in bad]}, which the "
                f"labeller {self.method!r} cannot treat; choose another labeller.")

    def compute(self, atoms: ase.Atoms) -> dict[str, np.ndarray]:
        """``{"energy": float eV, "forces": (n, 3) eV/Å}`` of ``atoms`` (and ``"stress"``
        for periodic cells when the method gives it, and any other arrays it gives, which
        are stored in the structure's info), or a :class:`LabelError`."""
        raise NotImplementedError

    def __call__(self, atoms: ase.Atoms) -> dict[str, np.ndarray]:
        self.check(atoms)
        results = self.compute(atoms)
        if not np.isfinite(results["energy"]) or not np.all(np.isfinite(results["forces"])):
            raise LabelError(f"{self.method} returned non-finite energies or forces.")
        return results


class CalculatorLabeler(Labeler):
    """Any ASE calculator as a labeller.

    Parameters
    ----------
    calculator : ase.calculators.calculator.Calculator
    method : str, optional
        Name of the method for the label store (default: the calculator's class and
        parameters).
    """

    def __init__(self, calculator, method: str | None = None) -> None:
        self.calculator = calculator
        if method is None:
            params = getattr(calculator, "todict", dict)()
            digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str)
                                    .encode()).hexdigest()[:12]
            method = f"{type(calculator).__name__}:{digest}"
        self.method = method

    def compute(self, atoms: ase.Atoms) -> dict[str, np.ndarray]:
        atoms = atoms.copy()
        atoms.calc = self.calculator
        try:
            out = {"energy": float(atoms.get_potential_energy()),
                   "forces": np.array(atoms.get_forces())}
            if atoms.pbc.all() and "stress" in getattr(self.calculator,
                                                       "implemented_properties", ()):
                out["stress"] = np.array(atoms.get_stress(voigt=False))
        except LabelError:
            raise
        except Exception as err:          # a reference code's own failure, kept as text
            raise LabelError(f"{self.method} failed: {type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}") from err
        return out


#: Ready labellers by name (``--labeler``).
NAMED = {"pyscf": ("atomlearn.labelers.pyscf", "PySCFLabeler"),
         "tblite": ("atomlearn.labelers.tblite", "TBLiteLabeler")}


def labeler_from_name(name: str) -> Labeler:
    """``"pyscf"``, ``"tblite"``, or ``"module:Class"`` (a :class:`Labeler` subclass or an
    ASE calculator class, built without arguments)."""
    if name in NAMED:
        module, cls = NAMED[name]
        return getattr(importlib.import_module(module), cls)()
    if ":" not in name:
        raise ConfigError(f"Unknown labeller {name!r}; use one of {sorted(NAMED)} or "
                          f"'module:Class'.{closest(name, NAMED)}")
    module, cls = name.split(":", 1)
    try:
        obj = getattr(importlib.import_module(module), cls)()
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"Labeller {name!r} cannot be loaded: {err}.") from err
    return obj if isinstance(obj, Labeler) else CalculatorLabeler(obj, method=name)


__all__ = ["CalculatorLabeler", "LabelError", "Labeler", "labeler_from_name"]
