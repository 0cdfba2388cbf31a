import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpr_1d_worked_example(tmp_path, capsys):
    written = _load("gpr_1d").main(["--out", str(tmp_path), "--n-train", "15", "--quick"])
    assert [p.name for p in written] == [
        "1_prior.png", "2_posterior.png", "3_hyperparameters.png", "4_lml_surface.png",
        "5_sparse_vs_full.png", "6_learning_curve.png"]
    assert all(p.stat().st_size > 5000 for p in written)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_nn_1d_gradients_match_finite_differences_and_autograd(activation):
    torch = pytest.importorskip("torch")
    nn1d = _load("nn_1d")
    net = nn1d.FeedForward((2, 5, 4, 1), activation, seed=3)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 2)), rng.normal(size=7)
    if activation == "relu":
        net.b = [b + 0.05 for b in net.b]   # keep pre-activations away from the kink
    loss, (gW, gb) = net.loss_and_gradients(x, y)

    # finite differences
    for W, g in zip(net.W + net.b, gW + gb, strict=True):
        flat, gflat = W.reshape(-1), g.reshape(-1)
        for k in range(0, flat.size, max(1, flat.size // 6)):
            old = flat[k]
            flat[k] = old + 1e-6
            up = net.loss_and_gradients(x, y)[0]
            flat[k] = old - 1e-6
            down = net.loss_and_gradients(x, y)[0]
            flat[k] = old
            assert gflat[k] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-9)

    # PyTorch autograd on the same weights, in float64
    Ws = [torch.tensor(W, requires_grad=True) for W in net.W]
    bs = [torch.tensor(b, requires_grad=True) for b in net.b]
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[activation]
    a = torch.tensor(x)
    for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        a = a @ W.T + b
        if i < len(Ws) - 1:
            a = act(a)
    t_loss = torch.mean((a[:, 0] - torch.tensor(y)) ** 2)
    t_loss.backward()
    assert float(t_loss.detach()) == pytest.approx(loss, rel=1e-12)
    for mine, ref in zip(gW + gb, [W.grad for W in Ws] + [b.grad for b in bs], strict=True):
        np.testing.assert_allclose(mine, ref.numpy(), rtol=1e-10, atol=1e-14)


def test_nn_1d_worked_example(tmp_path):
    written = _load("nn_1d").main(["--out", str(tmp_path), "--quick"])
    assert [p.name for p in written] == ["1_fit.png", "2_loss.png", "3_learning_curve.png"]
    assert all(p.stat().st_size > 5000 for p in written)


def test_nn_sgd_reduces_the_loss():
    nn1d = _load("nn_1d")
    x, y = nn1d.data(40)
    net = nn1d.FeedForward((1, 8, 1), "tanh", seed=1)
    history = net.sgd(nn1d._scaled(x), y, epochs=200, learning_rate=0.05)
    assert history["train"][-1] < 0.3 * history["train"][0]
