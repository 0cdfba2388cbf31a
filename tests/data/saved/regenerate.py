"""Write the stored model files of the current format (run from the repository root).

    python tests/data/saved/regenerate.py

One small model of every family (sparse points per element since format 3), fitted on
eight of the ten test frames, with the
predictions (and standard deviations) on the other two in ``expected.json``. Only for a
deliberate format change: older versions' folders must stay as they are.
"""

import json
from pathlib import Path

from atomlearn.models import model_class
from atomlearn.serialization import FORMAT_VERSION
from atomlearn.structures import read_structures
from atomlearn.targets import dipole, energy, polarizability

here = Path(__file__).parent
structures = read_structures(here.parent / "ethanol_10.extxyz")
out = here / f"v{FORMAT_VERSION}"
out.mkdir(exist_ok=True)
small = {"cutoff": 3.5, "n_max": 2, "l_max": 2}
models = {
    "sparse_gpr": model_class("sparse_gpr")(descriptor=small, n_sparse=4, sigma=1e-3),
    "sa_gpr": model_class("sa_gpr")(polarizability(), descriptor=small, n_sparse=3,
                                    hyperparameters="fixed", validation_fraction=0.0),
    "bpnn": model_class("bpnn")([energy(forces=True), dipole()], descriptor={"cutoff": 3.5},
                                n_hidden=[4], epochs=2, batch_size=4, n_models=2),
    "mpnn": model_class("mpnn")([energy(forces=True), dipole(), polarizability()],
                                cutoff=3.5, n_features=4, n_interactions=1, n_rbf=4,
                                n_hidden=[4], epochs=2, batch_size=4, n_models=2),
}
expected = {}
for family, model in models.items():
    model.fit(structures[:8])
    model.save(out / f"{family}.alm")
    mean, std = model.predict(structures[8:], return_std=True)
    expected[family] = {"file": f"{family}.alm", **{k: v.tolist() for k, v in mean.items()},
                        **{f"{k}_std": v.tolist() for k, v in std.items()}}
(out / "expected.json").write_text(json.dumps(expected, indent=1))
print(f"wrote {out}")
