"""The autoencoder: hand-derived gradients (hypothesis over sizes), values by hand, bad
settings, and one tiny run through the training path."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from generative_checks import assert_three_way
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jaxnn import models
from jaxnn.errors import ConfigError, JaxnnError, ShapeError
from jaxnn.models import autoencoder
from jaxnn.run import TrainConfig, train_and_evaluate

# not sigmoid: through several sigmoid layers (g' ≤ 1/4 each) the gradient is so small that
# the finite differences' round-off alone exceeds the 1e-7 relative tolerance
HIDDEN = ("tanh", "relu", "leaky_relu")


@settings(max_examples=4)
@given(n_x=st.integers(1, 5), units=st.lists(st.integers(1, 4), max_size=2),
       code=st.integers(1, 3), m=st.integers(1, 4), hidden=st.sampled_from(HIDDEN),
       loss=st.sampled_from(list(autoencoder.LOSSES)), l2=st.sampled_from([0.0, 0.1]))  # fmt: skip
@example(n_x=3, units=[2], code=1, m=1, hidden="tanh", loss="bce", l2=0.0)
def test_gradients_hand_vs_autodiff_vs_numeric(n_x, units, code, m, hidden, loss, l2):
    options = {"code": code, "units": units, "hidden": hidden, "loss": loss}
    assert_three_way("autoencoder", (n_x,), options, m, l2=l2)


def test_cost_and_metrics_by_hand():
    """One linear layer each way: x̂ = σ(W_d (W_e x + b_e) + b_d); BCE summed over pixels."""
    model = models.build("autoencoder", (3,), 0, code=2, units=[])
    rng = np.random.default_rng(0)
    W_e, W_d = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    b_e, b_d = rng.normal(size=(2, 1)), rng.normal(size=(3, 1))
    params = {"encoder": {"fc1": {"W": W_e, "b": b_e}}, "decoder": {"fc1": {"W": W_d, "b": b_d}}}
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    X = rng.uniform(size=(3, 4)).astype(np.float32)
    X_hat = 1 / (1 + np.exp(-(W_d @ (W_e @ X + b_e) + b_d)))
    bce = -np.sum(X * np.log(X_hat) + (1 - X) * np.log(1 - X_hat)) / 4
    assert float(model.cost(params, X)) == pytest.approx(bce, rel=1e-5)
    metrics = model.metrics(params, X)
    assert float(metrics["bce"]) == pytest.approx(bce / 3, rel=1e-5)
    assert float(metrics["squared_error"]) == pytest.approx(np.sum((X_hat - X) ** 2) / 4,
                                                            rel=1e-5)  # fmt: skip
    np.testing.assert_allclose(model.forward(params, X), X_hat, rtol=1e-5)
    np.testing.assert_allclose(autoencoder.encode(model, params, X), W_e @ X + b_e, rtol=1e-5)


@pytest.mark.parametrize("options, error, match", [
    ({"code": 0}, ConfigError, "code=0"),
    ({"units": [8, 0]}, ConfigError, "whole number"),
    ({"decoder": [8, 5]}, ShapeError, "must end at the data size 6"),
    ({"loss": "l1"}, ConfigError, "bce"),
    ({"hidden": "swish"}, ConfigError, "unknown hidden activation"),
])  # fmt: skip
def test_bad_settings_are_one_line_errors(options, error, match):
    with pytest.raises(error, match=match) as info:
        models.build("autoencoder", (6,), 0, **options)
    assert "\n" not in str(info.value)


def test_bad_inputs():
    model = models.build("autoencoder", (4,), 0, code=2, units=[])
    params = model.init(jax.random.PRNGKey(0))
    with pytest.raises(ShapeError, match=r"\(4, m\)"):
        model.cost(params, np.zeros((5, 2), np.float32))
    with pytest.raises(JaxnnError, match=r"\[0, 1\]"):  # BCE scores pixels in [0, 1]
        model.cost(params, np.full((4, 2), 3.0, np.float32))


def test_trains_on_digits_through_the_one_training_path(tmp_path):
    config = TrainConfig(dataset="digits", model="autoencoder", epochs=2, batch_size=128,
                         optimizer="adam", lr=0.01, options={"code": 4, "units": [16]})  # fmt: skip
    metrics = train_and_evaluate(config, str(tmp_path), progress=False)
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert history[1]["test_bce"] < history[0]["test_bce"]
    assert metrics["test_bce"] == history[1]["test_bce"] and "test_accuracy" not in metrics
    assert 0 < metrics["test_squared_error"] < 64
    assert not (tmp_path / "accuracy.png").exists()
    with pytest.raises(ConfigError, match="--output sigmoid: autoencoder has no such setting"):
        train_and_evaluate(dataclasses.replace(config, output="sigmoid"),
                           str(tmp_path / "other"), progress=False)  # fmt: skip
