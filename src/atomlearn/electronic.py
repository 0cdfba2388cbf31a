"""From a model's predicted density of states to what people use it for: the Fermi level,
band energy, DOS at the Fermi level, gap and electronic heat capacity of each structure,
with standard deviations propagated from the DOS's (:mod:`atomlearn.metrics.electronic`).

The electron count of a structure comes from its ``n_electrons`` when it has one, else
from the valence counts per element the model read from its training structures; levels
below the DOS grid (a molecule's core) are counted out the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import ase
import numpy as np

from .errors import DataError
from .metrics.electronic import observables
from .models import StructureModel
from .targets import density_of_states as dos
from .targets.spec import TargetSpec

#: Observables written by ``atomlearn predict`` (``pred_<name>``), with their units.
OBSERVABLES = {"fermi_level": "eV", "band_energy": "eV", "dos_at_fermi": "states/eV",
               "gap": "eV", "heat_capacity": "eV/K"}


def dos_spec(model: StructureModel) -> TargetSpec | None:
    """The model's DOS target, if it has one."""
    return next((s for s in model.target_specs if dos.is_dos(s)), None)


def structure_observables(model: StructureModel, structures: Sequence[ase.Atoms],
                          mean: dict, std: dict | None = None, *,
                          temperature: float = 300.0) -> tuple[dict, dict]:
    """Fermi level, band energy, DOS at the Fermi level, gap and C_el of every structure
    from a DOS model's predictions (``mean``, and ``std`` for their uncertainties).

    Returns
    -------
    values, stds : dict of str to numpy.ndarray of shape (n_structures,)
    """
    spec = dos_spec(model)
    options = dos.dos_options(spec)
    counts = getattr(model, "electrons_", None)
    grid = options.grid
    values = {k: np.empty(len(structures)) for k in OBSERVABLES}
    stds = {k: np.empty(len(structures)) for k in OBSERVABLES} if std else {}
    reference = mean.get(f"{spec.name}_reference", np.zeros(len(structures)))
    for i, atoms in enumerate(structures):
        scale = len(atoms) if options.normalization == "atom" else 1.0
        n_window = (_electrons(atoms, counts, i, options.electrons) - options.spin
                    * (counts or {}).get("states_below", 0))
        try:
            obs = observables(grid, mean[spec.name][i] * scale, n_window,
                              temperature=temperature, reference=float(reference[i]),
                              dos_std=(std[spec.name][i] * scale if std else None))
        except ValueError as err:
            raise DataError(f"Structure {i}: {err}") from err
        for k, v in obs.as_dict().items():
            values[k][i] = v
            if std:
                stds[k][i] = obs.std[k]
    if std and f"{spec.name}_reference" in std:      # the reference's own uncertainty
        stds["fermi_level"] = np.hypot(stds["fermi_level"], std[f"{spec.name}_reference"])
    return values, stds


def _electrons(atoms: ase.Atoms, counts: dict | None, i: int, source: str) -> float:
    if source == "valence":
        return dos.valence_count(atoms, i)
    if "n_electrons" in atoms.info:
        return float(atoms.info["n_electrons"])
    if "n_occ" in atoms.info:
        return 2.0 * float(atoms.info["n_occ"])
    valence = (counts or {}).get("valence", {})
    missing = sorted({int(z) for z in atoms.numbers} - {int(z) for z in valence})
    if missing or not valence:
        raise DataError(f"Structure {i} has no 'n_electrons' and the model knows no valence "
                        f"count for {missing or 'its elements'}; add 'n_electrons' to its info.")
    return float(sum(valence[str(int(z))] for z in atoms.numbers))


__all__ = ["OBSERVABLES", "dos_spec", "structure_observables"]
