"""The VAE: the hand-derived negative-ELBO gradient (hypothesis over sizes), values by hand,
the importance-weighted bound, bad settings, and a tiny run (and its resume) on digits."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from generative_checks import assert_three_way
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jaxnn import models
from jaxnn.errors import ConfigError
from jaxnn.models import vae
from jaxnn.run import TrainConfig, train_and_evaluate


@settings(max_examples=4)
@given(n_x=st.integers(1, 5), units=st.lists(st.integers(1, 4), max_size=2),
       latent=st.integers(1, 3), m=st.integers(1, 4),
       hidden=st.sampled_from(["tanh", "relu", "leaky_relu"]),
       binarize=st.sampled_from(list(vae.BINARIZATIONS)),
       l2=st.sampled_from([0.0, 0.1]))  # fmt: skip
@example(n_x=3, units=[2], latent=2, m=1, hidden="tanh", binarize="sample", l2=0.0)
def test_gradients_hand_vs_autodiff_vs_numeric(n_x, units, latent, m, hidden, binarize, l2):
    options = {"latent": latent, "units": units, "hidden": hidden, "binarize": binarize}
    assert_three_way("vae", (n_x,), options, m, l2=l2)


def _zero_params(model, mu=0.0, logvar=0.0):
    """All weights zero: the encoder outputs (μ, log σ²) = (its biases), the decoder ℓ = 0."""
    params = jax.tree.map(jnp.zeros_like, model.init(jax.random.PRNGKey(0)))
    latent = model.options["latent"]
    last = f"fc{len(model.options['units']) + 1}"
    bias = jnp.concatenate([jnp.full((latent, 1), mu), jnp.full((latent, 1), logvar)])
    params["encoder"][last]["b"] = bias
    return params


def test_negative_elbo_by_hand():
    """ℓ = 0 scores every pixel log 2; KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²)."""
    model = models.build("vae", (5,), 0, latent=3, units=[4])
    X = np.random.default_rng(0).uniform(size=(5, 7)).astype(np.float32)
    key = jax.random.PRNGKey(1)
    metrics = jax.jit(model.metrics)(_zero_params(model), X, key=key)
    assert float(metrics["kl"]) == pytest.approx(0.0, abs=1e-6)
    assert float(metrics["reconstruction"]) == pytest.approx(5 * math.log(2), rel=1e-6)
    mu, logvar = 0.5, math.log(2.0)
    metrics = jax.jit(model.metrics)(_zero_params(model, mu, logvar), X, key=key)
    assert float(metrics["kl"]) == pytest.approx(3 * 0.5 * (mu**2 + 2 - 1 - logvar), rel=1e-5)
    assert float(metrics["cost"]) == pytest.approx(
        float(metrics["kl"] + metrics["reconstruction"]), rel=1e-6)  # fmt: skip


def test_noise_comes_from_the_key_only():
    model = models.build("vae", (6,), 0, latent=2, units=[4])
    params = model.init(jax.random.PRNGKey(0))
    X = np.random.default_rng(0).uniform(size=(6, 5)).astype(np.float32)
    one, two = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    assert float(model.cost(params, X, key=one)) == float(model.cost(params, X, key=one))
    assert float(model.cost(params, X, key=one)) != float(model.cost(params, X, key=two))
    pixels = vae.binarized(jnp.asarray(X), one, "sample")
    assert set(np.unique(pixels)) <= {0.0, 1.0}
    np.testing.assert_array_equal(vae.binarized(jnp.asarray(X), one, "threshold"), X > 0.5)
    with pytest.raises(ConfigError, match="key="):
        model.cost(params, X)


def test_importance_weighted_bound():
    """log (1/k) Σ w_k ≥ (1/k) Σ log w_k for the same samples (Jensen): −log p̂ ≤ the
    k-sample negative ELBO, with equality at k = 1."""
    model = models.build("vae", (6,), 0, latent=2, units=[4])
    params = model.init(jax.random.PRNGKey(0))
    X = np.random.default_rng(0).uniform(size=(6, 9)).astype(np.float32)
    k100 = vae.log_likelihood(model, params, X, jax.random.PRNGKey(3), k=100)
    assert 0 < float(k100["nll"]) < float(k100["elbo"])
    k1 = vae.log_likelihood(model, params, X, jax.random.PRNGKey(3), k=1)
    assert float(k1["nll"]) == pytest.approx(float(k1["elbo"]), rel=1e-6)
    assert vae.sample(model, params, jax.random.PRNGKey(4), 3).shape == (6, 3)


@pytest.mark.parametrize("options, match", [
    ({"latent": 0}, "latent=0"),
    ({"latent": None}, "latent=None"),
    ({"units": [0]}, "whole number"),
    ({"binarize": "otsu"}, "binarize='otsu'"),
])  # fmt: skip
def test_bad_settings_are_one_line_errors(options, match):
    with pytest.raises(ConfigError, match=match) as info:
        models.build("vae", (6,), 0, **options)
    assert "\n" not in str(info.value)


def test_trains_on_digits_and_resumes_exactly(tmp_path):
    """Per-step keys from the run's seed: 1 epoch + --resume 1 = 2 epochs, to the bit."""
    config = TrainConfig(dataset="digits", model="vae", epochs=2, batch_size=256,
                         optimizer="adam", lr=0.01, options={"latent": 2, "units": [16]},
                         checkpoint_secs=0)  # fmt: skip
    straight = train_and_evaluate(config, str(tmp_path / "a"), progress=False)
    assert straight["test_cost"] < 64 * math.log(2)  # better than ℓ = 0
    assert {"test_kl", "test_reconstruction"} <= set(straight)
    short = dataclasses.replace(config, epochs=1)
    train_and_evaluate(short, str(tmp_path / "b"), progress=False)
    resumed = train_and_evaluate(config, str(tmp_path / "b"), resume=True, progress=False)
    assert resumed["resumed_from_epoch"] == 1
    assert resumed["test_cost"] == straight["test_cost"]
