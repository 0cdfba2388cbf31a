"""Upgrades of older model files to the current format (run by
:func:`atomlearn.serialization.read_model_file`).

Format 2 (the shared model layer) stores, for every family, the hyperparameters as the
family's nested dataclass, the targets with ``extensive`` and ``weight``, the composition
baseline as ``baseline/<target>`` arrays, the calibration of the std per target, and the
family's state under its own prefixes.

Format 3 reads an int ``n_sparse`` as the count of every element (GAP's convention)
instead of a total shared between elements; a format-2 int becomes the per-element counts
the file was fitted with, so a refit from its options selects as before.
"""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols

from ..errors import ModelFileError
from ..serialization import UPGRADES

_SOAP = ("cutoff", "cutoff_width", "n_max", "l_max", "atom_width")
_TRAINING = ("epochs", "batch_size", "learning_rate", "optimizer", "force_weight",
             "validation_fraction", "patience", "lr_patience", "lr_factor", "max_time",
             "n_models", "dtype", "device", "checkpoint_every", "random_state")


def upgrade_1_to_2(meta: dict, arrays: dict) -> tuple[dict, dict]:
    """Format 1 (one layout per family) to format 2."""
    cls = meta.get("class")
    meta = dict(meta)
    meta.setdefault("keys", {})
    meta.setdefault("calibration", {})
    if cls == "sparse_gpr":
        return _sparse_gpr(meta, arrays)
    if cls == "sa_gpr":
        return _sa_gpr(meta, arrays)
    if cls in ("bpnn", "mpnn"):
        return _network(meta, arrays)
    raise ModelFileError(f"No upgrade of a format-1 file of class {cls!r}.")


def _sparse_gpr(meta, arrays):
    p, d = meta["params"], meta["descriptor"]
    meta["params"] = {
        "descriptor": {**{k: d[k] for k in _SOAP}, "angular_decay": d.get("angular_decay",
                                                                          0.0)},
        "kernel": {"type": p["kernel"], "zeta": p["zeta"], "length_scale": p["length_scale"],
                   "delta": p["delta"]},
        **{k: p[k] for k in ("n_sparse", "selection", "sigma", "sigma_forces",
                             "sigma_stress", "hyperparameters", "validation_fraction",
                             "jitter", "require_forces", "memory_limit", "chunk_size",
                             "random_state") if k in p},      # older files lack some
        "baseline": p.get("reference", "fit")}
    target = dict(meta["targets"][0], extensive=p.get("aggregation", "sum") == "sum")
    meta["targets"] = [target]
    meta["fitted"] = {**meta["fitted"],
                      "log_marginal_likelihood": meta.pop("log_marginal_likelihood")}
    out = {"sparse/unit": arrays["sparse_unit"], "sparse/norm": arrays["sparse_norm"],
           "sparse/numbers": arrays["sparse_numbers"],
           "sparse/indices": arrays["sparse_indices"], "solution/weights": arrays["weights"],
           "solution/L": arrays["L"], "solution/R": arrays["R"],
           f"baseline/{target['name']}": arrays["reference"], "species": arrays["species"]}
    return meta, out


def _sa_gpr(meta, arrays):
    from ..targets.spherical import spherical_basis

    p, d = meta["params"], meta["descriptor"]
    if not p.get("symmetry_adapted", True):
        raise ModelFileError("A format-1 file of the naive (not symmetry-adapted) SA-GPR "
                             "baseline cannot be upgraded; refit it.")
    meta["params"] = {"descriptor": {k: d[k] for k in _SOAP},
                      "kernel": {"zeta": p["zeta"], "delta": p["amplitude"]},
                      "n_sparse": p["n_sparse"], "sigma": p["sigma"],
                      "hyperparameters": p["hyperparameters"],
                      "symmetry_adapted": True,
                      "validation_fraction": p.get("calibration_fraction", 0.1),
                      "random_state": p["random_state"]}
    target = meta["targets"][0]
    out, fitted = {}, {}
    for key, info in meta["fitted"].items():
        q = f"{key}/"
        out.update({f"gpr/{key}/values": arrays[q + "x"],
                    f"gpr/{key}/scalar": arrays[q + "x0"][:, 0, :],
                    f"gpr/{key}/numbers": arrays[q + "types"],
                    f"gpr/{key}/weights": arrays[q + "weights"],
                    f"gpr/{key}/L": arrays[q + "L"], f"gpr/{key}/R": arrays[q + "R"]})
        fitted[key] = {"o3_lambda": info["o3_lambda"], "delta": info["amplitude"],
                       "sigma": info["sigma"], "log_marginal_likelihood": info["lml"]}
        out["species"] = arrays[q + "species"]
        if int(info["o3_lambda"]) == 0:
            # the lambda = 0 offset per element is an isotropic Cartesian baseline
            # (spherical lambda = 0 times its Cartesian basis, -1/sqrt(3) on the diagonal)
            out[f"baseline/{target['name']}"] = (arrays[q + "offset"]
                                                 * spherical_basis(2)[0][0, 0])
    meta["fitted"] = fitted
    meta["calibration"] = {target["name"]: {"scale": float(meta.pop("std_scale", 1.0))}}
    return meta, out


def _network(meta, arrays):
    p = meta["params"]
    cls = meta["class"]
    params = {k: p[k] for k in _TRAINING if k in p}
    params.update({"n_hidden": p["n_hidden"], "activation": p["activation"]})
    if cls == "bpnn":
        params["descriptor"] = {k: p[k] for k in ("cutoff", "radial_etas", "radial_shifts",
                                                  "angular_etas", "zetas")}
    else:
        params.update({k: p[k] for k in ("cutoff", "n_features", "n_interactions", "n_rbf")})
    meta["params"] = params
    weights = {"energy": p.get("energy_weight", 100.0)}
    targets = []
    for t in meta["targets"]:
        targets.append({**t, "weight": weights.get(t["name"], p.get("tensor_weight", 1.0))})
    meta["targets"] = targets
    species = [int(z) for z in arrays["species"]]
    out = {"species": arrays["species"]}
    for key, value in arrays.items():
        if not key.startswith("state/"):
            continue
        _, member, name = key.split("/", 2)
        for target in ("energy", "polarizability"):
            if name == f"heads.{target}.reference":
                if member == "0":
                    out[f"baseline/{target}"] = np.asarray(value)[species]
                break
        else:
            out[key] = value
    meta["fitted"] = {"charged": bool(meta.pop("charged", False))}
    meta["calibration"] = {k: {"scale": float(v)}
                           for k, v in meta.pop("std_scale", {}).items()}
    return meta, out


def upgrade_2_to_3(meta: dict, arrays: dict) -> tuple[dict, dict]:
    """Format 2 to 3: an int ``n_sparse`` (a total) becomes the counts per element."""
    n_sparse = meta.get("params", {}).get("n_sparse")
    if meta.get("class") not in ("sparse_gpr", "sa_gpr") or isinstance(n_sparse, dict):
        return meta, arrays
    numbers = (arrays.get("sparse/numbers") if meta["class"] == "sparse_gpr" else
               next((v for k, v in sorted(arrays.items())
                     if k.startswith("gpr/") and k.endswith("/numbers")), None))
    if numbers is None:
        raise ModelFileError("The file has no sparse points to read its 'n_sparse' from.")
    species, counts = np.unique(np.asarray(numbers, int), return_counts=True)
    meta = {**meta, "params": {**meta["params"], "n_sparse": {
        chemical_symbols[z]: int(c) for z, c in zip(species, counts, strict=True)}}}
    return meta, arrays


UPGRADES[1] = upgrade_1_to_2
UPGRADES[2] = upgrade_2_to_3
