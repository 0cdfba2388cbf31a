"""The lecture's "NN with a worked example": a feed-forward network in NumPy alone.

    python examples/nn_1d.py [--out docs/images/nn_1d] [--quick]

The network f(x) = b_L + W_L σ(... σ(b_1 + W_1 x)) is written out by hand: the forward
pass keeps every layer's pre-activation z and activation a; the backward pass applies
the chain rule layer by layer, dL/dW_l = δ_l a_{l-1}^T and dL/db_l = δ_l with
δ_{l-1} = (W_l^T δ_l) ⊙ σ'(z_{l-1}); stochastic gradient descent updates
w <- w - η dL/dw on minibatches. A test checks these gradients against finite
differences and against PyTorch's autograd.

Pictures (same data as the GPR example, f(x) = sin(x) + 0.3 cos(3x) plus noise):

1. ``1_fit.png``: the network's fit for tanh, sigmoid and ReLU activations after the
   same number of epochs: the sigmoid's small derivatives (at most 1/4) make it learn
   slowest, ReLU gives a piecewise-linear fit.
2. ``2_loss.png``: training and validation loss per epoch: the validation loss stops
   falling when the network starts to fit the noise.
3. ``3_learning_curve.png``: test error vs number of training points for the network
   and for GPR on the same data: the GP needs fewer points, the network keeps its cost
   fixed as data grows (parametric vs non-parametric, the lecture's distinction).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

ACTIVATIONS = {
    # name: (sigma(z), sigma'(z))
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (lambda z: 1.0 / (1.0 + np.exp(-z)),
                lambda z: np.exp(-z) / (1.0 + np.exp(-z)) ** 2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
}


class FeedForward:
    """A fully connected network with one activation on every hidden layer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first and output last, e.g. ``(1, 16, 16, 1)``.
    activation : {"tanh", "sigmoid", "relu"}
    seed : int
        Seed of the (Glorot-uniform) initial weights.
    """

    def __init__(self, sizes=(1, 16, 16, 1), activation="tanh", seed=0):
        rng = np.random.default_rng(seed)
        self.sizes = tuple(sizes)
        self.activation = activation
        self.sigma, self.dsigma = ACTIVATIONS[activation]
        self.W, self.b = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            limit = np.sqrt(6.0 / (n_in + n_out))
            self.W.append(rng.uniform(-limit, limit, size=(n_out, n_in)))
            self.b.append(np.zeros(n_out))

    def forward(self, x):
        """Output of shape (n_samples, n_out) and the cache of (z, a) per layer."""
        a = np.atleast_2d(x).reshape(len(x), -1)
        cache = [(None, a)]
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            z = a @ W.T + b
            a = z if i == len(self.W) - 1 else self.sigma(z)   # linear output layer
            cache.append((z, a))
        return a, cache

    def backward(self, cache, dL_dy):
        """Gradients of the loss with respect to every W and b, by the chain rule."""
        grads_W = [None] * len(self.W)
        grads_b = [None] * len(self.b)
        delta = dL_dy                                    # dL/dz of the output layer
        for i in reversed(range(len(self.W))):
            a_prev = cache[i][1]
            grads_W[i] = delta.T @ a_prev                # dL/dW_i = δ_i a_{i-1}^T
            grads_b[i] = delta.sum(axis=0)               # dL/db_i = δ_i
            if i > 0:
                z_prev = cache[i][0]
                delta = (delta @ self.W[i]) * self.dsigma(z_prev)
        return grads_W, grads_b

    def loss_and_gradients(self, x, y):
        """Mean squared error and its gradients."""
        out, cache = self.forward(x)
        y = np.asarray(y, float).reshape(out.shape)
        residual = out - y
        loss = float(np.mean(residual**2))
        return loss, self.backward(cache, 2.0 * residual / residual.size)

    def predict(self, x):
        return self.forward(x)[0][:, 0]

    def sgd(self, x, y, *, x_val=None, y_val=None, epochs=2000, learning_rate=0.05,
            batch_size=8, seed=0):
        """Minibatch SGD; returns training and validation loss per epoch."""
        rng = np.random.default_rng(seed)
        history = {"train": [], "validation": []}
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                _, (gW, gb) = self.loss_and_gradients(x[idx], y[idx])
                for i in range(len(self.W)):
                    self.W[i] -= learning_rate * gW[i]
                    self.b[i] -= learning_rate * gb[i]
            history["train"].append(self.loss_and_gradients(x, y)[0])
            if x_val is not None:
                history["validation"].append(self.loss_and_gradients(x_val, y_val)[0])
        return history


def truth(x):
    return np.sin(x) + 0.3 * np.cos(3 * x)


def data(n, seed=0, noise=0.15):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 10, n))
    return x, truth(x) + noise * rng.normal(size=n)


def _scaled(x):
    return (x[:, None] - 5.0) / 3.0     # inputs of order one for the activations


def main(argv=None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images/nn_1d")
    p.add_argument("--quick", action="store_true", help="few epochs (for tests)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = 60 if args.quick else 1500
    x, y = data(60)
    xv, yv = data(40, seed=1)
    xs = np.linspace(0, 10, 300)
    written = []

    def save(fig, name):
        fig.savefig(out / name)
        written.append(out / name)

    fig = Figure(figsize=(6.4, 4.0), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(xs, truth(xs), "k--", lw=1, label="truth")
    ax.plot(x, y, "ko", ms=3, label="training data")
    histories = {}
    for act in ACTIVATIONS:
        net = FeedForward((1, 16, 16, 1), act, seed=0)
        histories[act] = net.sgd(_scaled(x), y, x_val=_scaled(xv), y_val=yv, epochs=epochs,
                                 learning_rate=0.05 if act != "sigmoid" else 0.3)
        ax.plot(xs, net.predict(_scaled(xs)), label=f"NN, {act}")
    ax.legend(fontsize=7)
    ax.set_xlabel("x")
    save(fig, "1_fit.png")

    fig = Figure(figsize=(6.4, 4.0), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for k, (act, h) in enumerate(histories.items()):
        ax.plot(h["train"], color=f"C{k}", label=f"{act} train")
        ax.plot(h["validation"], "--", color=f"C{k}", label=f"{act} validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error")
    ax.legend(fontsize=7)
    save(fig, "2_loss.png")

    from atomlearn.gp import GaussianProcessRegressor
    from atomlearn.kernels import RBF, ConstantKernel, WhiteKernel

    sizes = [10, 20, 40, 80] if args.quick else [10, 20, 40, 80, 160, 320]
    xt = np.linspace(0, 10, 500)
    errs = {"NN (tanh)": [], "GPR": []}
    for n in sizes:
        xn, yn = data(n, seed=100)
        net = FeedForward((1, 16, 16, 1), "tanh", seed=0)
        net.sgd(_scaled(xn), yn, epochs=max(epochs * 60 // n, 20), learning_rate=0.05)
        errs["NN (tanh)"].append(np.sqrt(np.mean((net.predict(_scaled(xt)) - truth(xt)) ** 2)))
        gp = GaussianProcessRegressor(ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(0.05),
                                      random_state=0).fit(xn[:, None], yn)
        errs["GPR"].append(np.sqrt(np.mean((gp.predict(xt[:, None]) - truth(xt)) ** 2)))
    fig = Figure(figsize=(5.0, 3.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for name, e in errs.items():
        ax.plot(sizes, e, "o-", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of training points")
    ax.set_ylabel("test RMSE vs truth")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "3_learning_curve.png")
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
