"""The GAN: hand-derived gradients of both players' losses (hypothesis over sizes), values
by hand, the minimax loss's saturation, the alternating step, bad settings, a tiny run."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from generative_checks import assert_three_way
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jaxnn import compat, gradcheck, models
from jaxnn.errors import ConfigError
from jaxnn.models import gan
from jaxnn.run import TrainConfig, train_and_evaluate


@settings(max_examples=4)
@given(n_x=st.integers(1, 5), generator=st.lists(st.integers(1, 4), max_size=2),
       discriminator=st.lists(st.integers(1, 4), max_size=2), noise=st.integers(1, 3),
       m=st.integers(1, 4), hidden=st.sampled_from(["tanh", "relu", "leaky_relu"]),
       loss=st.sampled_from(list(gan.GENERATOR_LOSSES)),
       l2=st.sampled_from([0.0, 0.1]))  # fmt: skip
@example(n_x=3, generator=[2], discriminator=[2], noise=2, m=1, hidden="tanh",
         loss="minimax", l2=0.0)  # fmt: skip
def test_gradients_hand_vs_autodiff_vs_numeric(n_x, generator, discriminator, noise, m,
                                               hidden, loss, l2):  # fmt: skip
    options = {"noise": noise, "generator": generator, "discriminator": discriminator,
               "hidden": hidden, "loss": loss}  # fmt: skip
    assert_three_way("gan", (n_x,), options, m, l2=l2)


def test_gradcheck_command_defaults():
    """``jaxnn gradcheck --model gan``: one block of rows per player's loss."""
    report = gradcheck.check_any("gan", m=2)
    assert report.ok, report.format()
    assert {row.name.split(":")[0] for row in report.rows} == {
        "discriminator loss", "generator loss (non_saturating)"}  # fmt: skip


def _params(model, last_bias):
    params = model.init(jax.random.PRNGKey(0))
    last = f"fc{len(model.options['discriminator']) + 1}"
    params["discriminator"][last]["b"] = jnp.full((1, 1), last_bias)
    return params


def test_losses_by_hand_at_an_undecided_discriminator():
    """D's weights zero: D(x) = ½ everywhere, J_D = 2 log 2, J_G = ± log 2."""
    model = models.build("gan", (4,), 0, noise=2, generator=[3], discriminator=[3])
    params = jax.tree.map(jnp.zeros_like, model.init(jax.random.PRNGKey(0)))
    X = np.random.default_rng(0).uniform(size=(4, 6)).astype(np.float32)
    metrics = jax.jit(model.metrics)(params, X, key=jax.random.PRNGKey(1))
    assert float(metrics["cost"]) == pytest.approx(2 * math.log(2), rel=1e-6)
    assert float(metrics["generator_loss"]) == pytest.approx(math.log(2), rel=1e-6)
    assert float(metrics["d_real"]) == float(metrics["d_fake"]) == 0.5
    minimax = models.build("gan", (4,), 0, noise=2, generator=[3], discriminator=[3],
                           loss="minimax")  # fmt: skip
    metrics = jax.jit(minimax.metrics)(params, X, key=jax.random.PRNGKey(1))
    assert float(metrics["generator_loss"]) == pytest.approx(-math.log(2), rel=1e-6)


def test_minimax_saturates_where_non_saturating_does_not():
    """D sure the samples are fake (ℓ ≈ −8): the minimax gradient −σ(ℓ)/m ≈ 3e-4/m vanishes,
    the non-saturating (σ(ℓ) − 1)/m ≈ −1/m does not."""
    model = models.build("gan", (6,), 0, noise=2, generator=[4], discriminator=[4])
    norms = gan.generator_grad_norms(model, _params(model, -8.0), jax.random.PRNGKey(1), 16)
    assert float(norms["d_fake"]) < 1e-3
    assert float(norms["minimax_grad_norm"]) < 1e-3 * float(norms["non_saturating_grad_norm"])


def test_one_step_discriminator_then_generator_hand_equals_autodiff():
    """The compiled alternating step: D's update, then G's through the updated D."""
    with compat.enable_x64(True):
        model = models.build("gan", (5,), 0, noise=2, generator=[3], discriminator=[4],
                             hidden="tanh")  # fmt: skip
        params = model.init(jax.random.PRNGKey(0), jnp.float64)
        X = jax.random.uniform(jax.random.PRNGKey(1), (5, 8), jnp.float64)
        Y, key, optimizer = jnp.zeros((0, 8)), jax.random.PRNGKey(2), optax.adam(0.1)
        results = {}
        for grads in ("hand", "autodiff"):
            init_opt_state, step = model.make_step(grads, optimizer, 0.0)
            results[grads] = jax.jit(step)(params, init_opt_state(params), X, Y, key)
        (hand, _, J_hand), (auto, _, J_auto) = results["hand"], results["autodiff"]
        assert float(J_hand) == pytest.approx(float(J_auto), rel=1e-12)
        for player in gan.PLAYERS:
            assert gradcheck.relative_error(hand[player], auto[player]) <= 1e-10
            assert gradcheck.relative_error(hand[player], params[player]) > 1e-3  # both moved


@pytest.mark.parametrize("options, match", [
    ({"noise": 0}, "noise=0"),
    ({"noise": None}, "needs a noise size"),
    ({"generator": [4, 0]}, "whole number"),
    ({"loss": "wasserstein"}, "loss='wasserstein'"),
])  # fmt: skip
def test_bad_settings_are_one_line_errors(options, match):
    with pytest.raises(ConfigError, match=match) as info:
        models.build("gan", (6,), 0, **options)
    assert "\n" not in str(info.value)


def test_trains_on_digits_through_the_one_training_path(tmp_path):
    config = TrainConfig(dataset="digits", model="gan", epochs=1, batch_size=128,
                         optimizer="adam", lr=0.001, hidden="leaky_relu",
                         options={"noise": 4, "generator": [16],
                                  "discriminator": [16]})  # fmt: skip
    metrics = train_and_evaluate(config, str(tmp_path), progress=False)
    assert 0 < metrics["test_d_fake"] < metrics["test_d_real"] < 1
    assert np.isfinite(metrics["test_generator_grad_norm"]) and metrics["grads"] == "hand"
