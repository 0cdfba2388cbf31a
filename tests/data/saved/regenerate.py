"""Regenerate the stored model file of the current format (run from the repository root).

    python tests/data/saved/regenerate.py

Only for a deliberate format change: old versions' folders must stay as they are.
"""

import json
from pathlib import Path

from atomlearn.descriptors import SoapPowerSpectrum
from atomlearn.models import SparseGPRModel
from atomlearn.serialization import FORMAT_VERSION
from atomlearn.structures import read_structures

here = Path(__file__).parent
structures = read_structures(here.parent / "ethanol_10.extxyz")
model = SparseGPRModel(descriptor=SoapPowerSpectrum(cutoff=3.5, n_max=2, l_max=2),
                       n_sparse=10, sigma=1e-3).fit(structures[:8])
out = here / f"v{FORMAT_VERSION}"
out.mkdir(exist_ok=True)
model.save(out / "sparse_gpr.alm")
pred = model.predict(structures[8:])
(out / "expected.json").write_text(json.dumps({"energy": pred["energy"].tolist()}, indent=1))
print(f"wrote {out}")
