"""Orbital energies in the structures' info as the baselines of Delta-learned targets.

A Delta-learned target is learned as its difference from a baseline that follows from
orbital energies (eV) every structure carries in the info array ``levels``:
``orbital_energies`` from a ground-state calculation, or ``pred_orbital_energies`` written
by ``atomlearn predict`` with a model of them. The occupied levels are the lowest
``n_electrons / 2`` (info ``n_electrons``, else every electron of the neutral atoms less
the info ``charge``, as in an all-electron calculation).

* ``baseline: orbital_differences`` (excitation energies): the lowest differences
  :math:`\\varepsilon_a - \\varepsilon_i` between virtual and occupied levels, sorted and
  matched to the sorted states;
* ``baseline: orbital_pairs`` (oscillator strengths): the strengths of the lowest
  occupied-to-virtual orbital pairs of a Kohn-Sham calculation (info array
  ``orbital_pair_strengths``, :func:`orbital_pair_strengths`), matched to the sorted
  states through a per-state line :math:`a_s p_s + b_s` fitted to the training labels
  (:func:`fit_delta`): the excited states mix the pairs, so the pairs' strengths set the
  pattern, not the scale;
* ``baseline: homo`` (the HOMO-LUMO gap): minus the highest occupied level, so the model
  learns the gap plus that level (the LUMO, up to the levels' own HOMO error) and
  predicts the gap as its prediction less that level. With the levels of a Hamiltonian
  model, whose occupied levels are its best, this is the gap from its HOMO and a direct
  model's LUMO.
"""

from __future__ import annotations

from collections.abc import Sequence

import ase
import numpy as np

from ..errors import DataError
from ..structures.io import where
from .operators import N_PAIRS, eigenpairs, electron_count, pair_strengths


def orbital_differences(structures: Sequence[ase.Atoms], n_states: int,
                        levels: str = "orbital_energies") -> np.ndarray:
    """The lowest ``n_states`` differences (eV) between virtual and occupied orbital
    energies of each closed-shell structure, ``(n_structures, n_states)``, ascending."""
    out = np.empty((len(structures), n_states))
    for i, atoms in enumerate(structures):
        energies, n_occ = _levels(atoms, i, levels, "Delta-learned excitation energies")
        virtual = energies[n_occ:]
        if n_occ * len(virtual) < n_states:
            raise DataError(
                f"The {levels!r} of {where(atoms, i)} ({len(energies)} values, "
                f"{n_occ} occupied) do not give {n_states} finite occupied-to-virtual "
                "differences; they must be all orbital energies of a closed-shell "
                "calculation, with 'n_electrons' in the info when it is not all-electron "
                "and neutral.")
        gaps = (virtual[None, :] - energies[:n_occ, None]).ravel()
        out[i] = np.partition(gaps, n_states - 1)[:n_states] if len(gaps) > n_states \
            else gaps
        out[i].sort()
    return out


def highest_occupied(structures: Sequence[ase.Atoms], levels: str = "orbital_energies"
                     ) -> np.ndarray:
    """The highest occupied level (eV) of the info array ``levels`` of each closed-shell
    structure, ``(n_structures,)``."""
    return np.array([energies[n_occ - 1] for energies, n_occ in
                     (_levels(a, i, levels, "Delta-learned gap") for i, a in
                      enumerate(structures))])


def orbital_pair_strengths(atoms: ase.Atoms, hamiltonian: np.ndarray, basis: str,
                           n_pairs: int = N_PAIRS) -> np.ndarray:
    """The oscillator strengths of the ``n_pairs`` lowest occupied-to-virtual orbital
    pairs (:func:`~atomlearn.targets.operators.pair_strengths`) of a Kohn-Sham matrix
    ``hamiltonian`` (eV, PySCF's AO order) in ``basis``."""
    from ase.units import Hartree

    (mol, energies, C), = eigenpairs([np.asarray(hamiltonian) / Hartree], [atoms], basis)
    return pair_strengths(mol, energies, C, electron_count(atoms) // 2, n_pairs)


def _pair_strengths(structures, n_states: int, key: str) -> np.ndarray:
    out = np.empty((len(structures), n_states))
    for i, atoms in enumerate(structures):
        if key not in atoms.info:
            raise DataError(
                f"{where(atoms, i)} has no {key!r} in its info: the Kohn-Sham orbital-pair "
                f"oscillator strengths (at least {n_states}) Delta-learned oscillator "
                "strengths add to; label the frames with 'atomlearn label --labeler "
                "pyscf' (a ground state writes them), load them with "
                "load_ethanol_excitations(), or put targets.levels.orbital_pair_strengths "
                "of a Kohn-Sham matrix there.")
        values = np.asarray(atoms.info[key], float).ravel()
        if len(values) < n_states or not np.isfinite(values[:n_states]).all():
            raise DataError(f"{where(atoms, i)}: {key!r} has {len(values)} values; need "
                            f"{n_states} finite ones.")
        out[i] = values[:n_states]
    return out


def fit_delta(spec, structures: Sequence[ase.Atoms], labels: np.ndarray
              ) -> np.ndarray | None:
    """The fitted part of a Delta-learned target's baseline: for ``orbital_pairs`` the
    per-state line (slope, intercept) ``(n_states, 2)`` from least squares over the
    training structures; None for baselines without one."""
    if spec.metadata.get("baseline") != "orbital_pairs":
        return None
    pairs = _pair_strengths(structures, spec.shape[0], spec.metadata["levels"])
    return np.array([np.polyfit(pairs[:, s], labels[:, s], 1) if np.ptp(pairs[:, s]) > 0
                     else [0.0, float(np.mean(labels[:, s]))]
                     for s in range(spec.shape[0])])


def delta_baseline(spec, structures: Sequence[ase.Atoms], fitted: np.ndarray | None = None
                   ) -> np.ndarray | None:
    """What a Delta-learned target's model adds to its predictions (None: nothing);
    ``fitted``: what :func:`fit_delta` gave for it."""
    baseline = spec.metadata.get("baseline", "none")
    if baseline == "orbital_pairs":
        pairs = _pair_strengths(structures, spec.shape[0], spec.metadata["levels"])
        return pairs * fitted[:, 0] + fitted[:, 1]
    if baseline == "orbital_differences":
        return orbital_differences(structures, spec.shape[0], spec.metadata["levels"])
    if baseline == "homo":
        return -highest_occupied(structures, spec.metadata["levels"])
    return None


def _levels(atoms: ase.Atoms, i: int, levels: str, purpose: str) -> tuple[np.ndarray, int]:
    """The sorted info array ``levels`` of ``atoms`` and its number of occupied levels,
    or a DataError naming the frame (``purpose``: what starts from them)."""
    if levels not in atoms.info:
        raise DataError(
            f"{where(atoms, i)} has no {levels!r} in its info, which the {purpose} start "
            "from (orbital energies in eV, ascending); add them from a ground-state "
            "calculation ('atomlearn label --labeler pyscf' writes them), or predict them "
            "with an orbital-energy or Hamiltonian model "
            "('atomlearn predict' writes pred_orbital_energies) and set the target's "
            "'levels' to that key.")
    energies = np.sort(np.asarray(atoms.info[levels], float).ravel())
    n_occ = electron_count(atoms) // 2
    if not np.all(np.isfinite(energies)) or not 1 <= n_occ < len(energies):
        raise DataError(
            f"The {levels!r} of {where(atoms, i)} ({len(energies)} values, {n_occ} "
            "occupied) must be finite orbital energies of a closed-shell calculation "
            "with at least one virtual level, with 'n_electrons' in the info when it is "
            "not all-electron and neutral.")
    return energies, n_occ


__all__ = ["delta_baseline", "fit_delta", "highest_occupied", "orbital_differences",
           "orbital_pair_strengths"]
