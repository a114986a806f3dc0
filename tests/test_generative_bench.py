"""bench/generative_bench.py's PyTorch twins train the same networks as jaxnn: on tiny
versions of the autoencoder, VAE and GAN (784 inputs, 16-unit layers, 3 steps), PyTorch's
per-step costs match jaxnn (hand)'s from the same weights, order and noise — and a planted
difference (another hidden activation, fresh noise) is caught."""

from __future__ import annotations

import importlib
import os
import sys

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
bench = importlib.import_module("generative_bench")

from jaxnn import train  # noqa: E402

TINY = {"autoencoder": {"code": 4, "units": [16]}, "vae": {"latent": 3, "units": [16]},
        "gan": {"noise": 4, "generator": [16], "discriminator": [16]}}  # fmt: skip
M, BATCH = 48, 16  # three steps
RTOL = 1e-5  # measured: the twins agree to ~1e-7; the planted bugs miss by 5e-4 to 4e-2


@pytest.fixture(scope="module")
def runs():
    """Per family: the jaxnn (hand) step costs, and a function running PyTorch's epoch."""
    X = np.random.default_rng(0).random((bench.N_X, M), np.float32)
    X_rows, Y_rows = train.device_rows(X, np.zeros((0, M), np.float32), 1)
    X_torch = torch.tensor(np.asarray(X_rows))
    out = {}
    for name, options in TINY.items():
        model, settings, optimizer = bench.setup(name, **options)
        params = model.init(jax.random.PRNGKey(0))
        order = train.epoch_order(jax.random.PRNGKey(1), 0, M)
        key = train.epoch_key(jax.random.PRNGKey(1), 0) if model.stochastic else None
        *_, costs = bench.jaxnn_epoch(model, "hand", params, X_rows, Y_rows, order, optimizer,
                                      BATCH, key, costs=True)  # fmt: skip
        steps = bench.batches(np.asarray(order), BATCH)

        def torch_costs(key=key, model=model, settings=settings, params=params, steps=steps):
            noise = bench.jax_noise(model, key, steps) if model.stochastic else [()] * len(steps)
            return bench.torch_epoch(model, settings, params, X_torch, steps, noise)[2]

        out[name] = (np.asarray(costs), torch_costs)
    return out


@pytest.mark.parametrize("name", list(TINY))
def test_pytorch_twin_matches_jaxnn(runs, name):
    reference, torch_costs = runs[name]
    np.testing.assert_allclose(torch_costs(), reference, rtol=RTOL)


@pytest.mark.parametrize("name", list(TINY))
def test_another_hidden_activation_is_caught(runs, name, monkeypatch):
    reference, torch_costs = runs[name]
    stack = bench.torch_stack
    other = {"relu": "sigmoid", "tanh": "relu"}

    def planted(params, hidden, last=None):
        return stack(params, other[hidden], last)

    monkeypatch.setattr(bench, "torch_stack", planted)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(torch_costs(), reference, rtol=RTOL)


@pytest.mark.parametrize("name", ["vae", "gan"])
@pytest.mark.parametrize("seed", [3, 4])
def test_other_noise_is_caught(runs, name, seed, monkeypatch):
    reference, torch_costs = runs[name]
    draw = bench.jax_noise

    def planted(model, key, steps):
        return draw(model, jax.random.PRNGKey(seed), steps)

    monkeypatch.setattr(bench, "jax_noise", planted)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(torch_costs(), reference, rtol=RTOL)
