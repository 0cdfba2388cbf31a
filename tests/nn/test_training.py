"""Checkpoints and resumption, committees, float32, and bad checkpoints."""

import re

import numpy as np
import pytest
import torch

from atomlearn.errors import DataError
from atomlearn.models import BehlerParrinelloModel, MessagePassingModel, load_model

SMALL = dict(cutoff=4.0, n_features=8, n_interactions=1, n_rbf=6, n_hidden=[8],
             batch_size=4, patience=100, force_weight=0.01)


class Interrupt(Exception):
    pass


def test_interrupted_and_resumed_training_equals_an_uninterrupted_one(tmp_path, ethanol,
                                                                     monkeypatch):
    reference = MessagePassingModel(epochs=6, **SMALL).fit(ethanol)
    ckpt = tmp_path / "run.ckpt"

    import atomlearn.models.network.model as network
    real_train = network.train

    def interrupted(*args, **kwargs):
        def stop(epoch, history):
            if epoch == 4:                      # after the checkpoint of epoch 3
                raise Interrupt
        return real_train(*args, callback=stop, **kwargs)

    monkeypatch.setattr(network, "train", interrupted)
    with pytest.raises(Interrupt):
        MessagePassingModel(epochs=6, checkpoint=ckpt, checkpoint_every=2, **SMALL).fit(ethanol)
    monkeypatch.setattr(network, "train", real_train)
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == 3 and len(saved["validation_loss"]) == 4
    resumed = MessagePassingModel(epochs=6, checkpoint=ckpt, resume=True, **SMALL).fit(ethanol)
    assert resumed.history_.validation_loss == pytest.approx(
        reference.history_.validation_loss, rel=1e-10)
    a, b = reference.predict(ethanol[:3]), resumed.predict(ethanol[:3])
    np.testing.assert_allclose(b["energy"], a["energy"], rtol=1e-10)
    np.testing.assert_allclose(b["forces"], a["forces"], rtol=1e-8, atol=1e-10)
    # without resume the same run starts afresh and differs from a longer one
    fresh = MessagePassingModel(epochs=2, checkpoint=ckpt, **SMALL).fit(ethanol)
    assert len(fresh.history_.validation_loss) == 2


def test_checkpoint_from_a_different_model_is_refused(tmp_path, ethanol):
    ckpt = tmp_path / "run.ckpt"
    MessagePassingModel(epochs=1, checkpoint=ckpt, **SMALL).fit(ethanol[:4])
    other = dict(SMALL, n_features=16)
    with pytest.raises(DataError, match=re.escape(
            f"Checkpoint {ckpt} was written by a run with other options or data: "
            "n_features: checkpoint 8, this run 16. Resume with the options that wrote it, "
            "or delete the checkpoint.")):
        MessagePassingModel(epochs=2, checkpoint=ckpt, resume=True, **other).fit(ethanol[:4])
    with pytest.raises(DataError, match="model: checkpoint 'mpnn', this run 'bpnn'"):
        BehlerParrinelloModel(descriptor={"cutoff": 4.0}, n_hidden=[8], epochs=2,
                              checkpoint=ckpt, resume=True).fit(ethanol[:4])
    # the same options on other frames (or another split) are another run
    with pytest.raises(DataError, match="training data: checkpoint '[0-9a-f]{16}', this run"):
        MessagePassingModel(epochs=2, checkpoint=ckpt, resume=True, **SMALL).fit(ethanol[4:8])
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot be read as a checkpoint"):
        MessagePassingModel(epochs=2, checkpoint=ckpt, resume=True, **SMALL).fit(ethanol[:4])


def test_time_budget_stops_training(ethanol):
    model = MessagePassingModel(epochs=10_000, max_time=0.5, **SMALL).fit(ethanol[:4])
    assert model.history_.finished and len(model.history_.validation_loss) < 10_000


def test_committee_std_save_load(tmp_path, ethanol):
    model = MessagePassingModel(epochs=4, n_models=3, **SMALL).fit(ethanol)
    assert model.provides_uncertainty
    mean, std = model.predict(ethanol[:2], return_std=True)
    assert std["energy"].shape == (2,) and std["forces"].shape == (18, 3)
    assert np.all(std["energy"] > 0) and np.all(std["forces"] > 0)
    members = [net for net in model.networks_]
    assert not torch.equal(members[0].heads["energy"].nets["6"][0].weight,
                           members[1].heads["energy"].nets["6"][0].weight)
    model.save(tmp_path / "c.alm")
    m2, s2 = load_model(tmp_path / "c.alm").predict(ethanol[:2], return_std=True)
    np.testing.assert_array_equal(m2["forces"], mean["forces"])
    np.testing.assert_array_equal(s2["forces"], std["forces"])


@pytest.mark.parametrize("cls", [BehlerParrinelloModel, MessagePassingModel])
def test_float32_training_tracks_float64(cls, ethanol):
    kw = (dict(SMALL) if cls is MessagePassingModel else
          dict(descriptor=dict(cutoff=4.0, radial_etas=[1.0], radial_shifts=[1.0, 2.0, 3.0],
                               angular_etas=[0.1], zetas=[1.0]), n_hidden=[8], batch_size=4))
    m64 = cls(epochs=3, **kw).fit(ethanol)
    m32 = cls(epochs=3, dtype="float32", **kw).fit(ethanol)
    assert next(m32.networks_[0].parameters()).dtype == torch.float32
    assert min(m32.history_.validation_loss) < m32.history_.validation_loss[0]
    p64, p32 = m64.predict(ethanol[:2]), m32.predict(ethanol[:2])
    scale = np.abs(p64["forces"]).max()
    # same initial weights and batches; rounding differences grow a little in training
    np.testing.assert_allclose(p32["energy"], p64["energy"], rtol=1e-5)
    np.testing.assert_allclose(p32["forces"], p64["forces"], atol=1e-2 * scale)
    # the same weights in float32 give the float64 numbers to float32 precision
    m32.networks_ = [net.float() for net in m64.networks_]
    m32.species_ = m64.species_
    p32 = m32.predict(ethanol[:2])
    np.testing.assert_allclose(p32["energy"], p64["energy"], rtol=1e-6)
    np.testing.assert_allclose(p32["forces"], p64["forces"], atol=1e-5 * scale)
