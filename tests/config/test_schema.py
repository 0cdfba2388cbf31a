import re
from pathlib import Path

import pytest

from atomlearn.config import dump_options, load_options
from atomlearn.errors import ConfigError


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "o.yaml"
    path.write_text("model:\n  n_sparse: 100\n  kernel: {zeta: 2}\n")
    opts = load_options(path, ["model.kernel.zeta=3", "data.n_train=50", "output.plots=false"])
    assert opts.model.n_sparse == 100 and opts.model.kernel.zeta == 3
    assert opts.data.n_train == 50 and opts.output.plots is False
    assert opts.targets == {"energy": {"forces": False}}
    dump_options(opts, tmp_path / "expanded.yaml")
    again = load_options(tmp_path / "expanded.yaml")
    assert again == opts


def test_targets_as_list():
    assert load_options(raw={"targets": ["energy"]}).targets == {"energy": {}}


def test_unknown_key_names_section_and_closest():
    with pytest.raises(ConfigError, match=re.escape(
            "Unknown option 'model.n_sparce' for model type 'sparse_gpr'; valid keys in "
            "'model' are") + ".*" + re.escape("Did you mean 'n_sparse'?")):
        load_options(raw={"model": {"n_sparce": 3}})
    with pytest.raises(ConfigError, match=re.escape("Unknown option 'dataa'")):
        load_options(raw={"dataa": {}})


def test_options_of_another_family_and_renamed_options_are_refused():
    with pytest.raises(ConfigError, match=re.escape(
            "Unknown option 'model.epochs' for model type 'sa_gpr'") + ".*" + re.escape(
            "'epochs' is an option of model type(s) ['bpnn', 'mpnn'], not of 'sa_gpr'.")):
        load_options(raw={"model": {"type": "sa_gpr", "epochs": 3}})
    with pytest.raises(ConfigError, match=re.escape(
            "Unknown option 'model.descriptor' for model type 'mpnn'") + ".*" + re.escape(
            "PaiNN has no fixed descriptor: use 'model.cutoff'")):
        load_options(raw={"model": {"type": "mpnn", "descriptor": {"cutoff": 4.0}}})
    with pytest.raises(ConfigError, match=re.escape(
            "Use 'model.validation_fraction' instead")):
        load_options(raw={"data": {"validation_fraction": 0.1}})
    with pytest.raises(ConfigError, match=re.escape(
            "Unknown option 'model.descriptor.angular_decay' for model type 'sa_gpr'")):
        load_options(raw={"model": {"type": "sa_gpr", "descriptor": {"angular_decay": 1.0}}})


def test_yaml_and_python_build_the_same_model():
    """The family's dataclass is the one source of defaults."""
    from atomlearn.models import MessagePassingModel, SparseGPRModel

    for family, cls in (("sparse_gpr", SparseGPRModel), ("mpnn", MessagePassingModel)):
        options = load_options(raw={"model": {"type": family}})
        assert options.model.hypers == cls().hypers
    raw = {"model": {"type": "mpnn", "n_hidden": [4]}, "targets": ["energy"]}
    load_options(raw=raw)
    assert raw == {"model": {"type": "mpnn", "n_hidden": [4]}, "targets": ["energy"]}


def test_type_errors():
    with pytest.raises(ConfigError, match=re.escape(
            "Option 'model.chunk_size' must be an integer. Got 'many'.")):
        load_options(raw={"model": {"chunk_size": "many"}})
    with pytest.raises(ConfigError, match="Override 'model.n_sparse' must look like"):
        load_options(raw={}, overrides=["model.n_sparse"])
    with pytest.raises(ConfigError, match="Options file '.*missing.yaml' does not exist"):
        load_options("missing.yaml")


def test_exponent_without_a_dot_is_a_number():
    # YAML 1.1 reads 1e-6 as a string; a float option takes it as the number it spells
    assert load_options(raw={}, overrides=["model.jitter=1e-6"]).model.jitter == 1e-6
    with pytest.raises(ConfigError, match=re.escape(
            "Option 'model.jitter' must be a number. Got 'tiny'.")):
        load_options(raw={"model": {"jitter": "tiny"}})


def test_angular_decay_reaches_the_descriptor():
    from atomlearn.workflows import build_model

    raw = {"targets": {"energy": {"forces": True}},
           "model": {"descriptor": {"angular_decay": 1.0}}}
    assert build_model(load_options(raw=raw)).hypers.descriptor.angular_decay == 1.0


@pytest.mark.parametrize("example", sorted(p.name for p in (
    Path(__file__).parents[2] / "examples").glob("*.yaml")))
def test_every_example_builds_its_model_and_targets(example):
    """Each shipped YAML example parses, names known options and builds its model and
    target specs (the fits themselves are the benchmarks' and the README's)."""
    from atomlearn.config import load_options
    from atomlearn.workflows import build_model

    model = build_model(load_options(Path(__file__).parents[2] / "examples" / example))
    model.check_hypers()
    assert model.target_specs
