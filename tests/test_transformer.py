"""The decoder-only Transformer: hand-derived backward through every block (residual forks,
layer norms, attention, GELU MLP, embeddings) = jax.grad = central differences, over sizes,
T from 1, batch 1, padded inputs and masked targets; causality; sampling; training through
the one path; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import gradcheck, models
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.models import transformer


def _case(T, layers, d_k, heads, m, dtype, seed=0, remat=False, pad=True):
    net = models.build("transformer", (T,), 5, n_layers=layers, d_model=d_k * heads, heads=heads,
                       d_ff=3, remat=remat)  # fmt: skip
    key = jax.random.PRNGKey(seed)
    params = jax.tree.map(lambda p: p + 0.05, net.init(key, dtype))
    X, Y = models.example(net, jax.random.fold_in(key, 1), m, dtype)
    if pad and T > 1:  # the first example's last step is padding
        X = X.at[-1, 0].set(-1)
    return net, params, X, Y


def _relative(a, b):
    a, b = np.ravel(np.asarray(a)), np.ravel(np.asarray(b))
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else np.linalg.norm(a - b) / denominator


@given(T=st.integers(1, 8), layers=st.integers(1, 2), d_k=st.integers(1, 2),
       heads=st.integers(1, 2), m=st.integers(1, 3), remat=st.booleans())  # fmt: skip
@settings(max_examples=5)  # each drawn shape compiles two programs: kept few for the suite
def test_hand_equals_autodiff_float64(T, layers, d_k, heads, m, remat, x64):
    net, params, X, Y = _case(T, layers, d_k, heads, m, jnp.float64, remat=remat)
    J, hand = jax.jit(net.cost_and_grads)(params, X, Y, 0.01)
    J_auto, auto = jax.jit(net.autodiff_cost_and_grads)(params, X, Y, 0.01)
    assert abs(float(J) - float(J_auto)) <= 1e-12 * max(1.0, abs(float(J)))
    for name in params:
        assert _relative(hand[name], auto[name]) <= 1e-10, name


def test_hand_equals_autodiff_float32():
    net, params, X, Y = _case(6, 2, 2, 2, 2, jnp.float32)
    _, hand = jax.jit(net.cost_and_grads)(params, X, Y)
    _, auto = jax.jit(net.autodiff_cost_and_grads)(params, X, Y)
    for name in params:
        assert _relative(hand[name], auto[name]) <= 1e-5, name


def test_hand_vs_central_differences(x64):
    """Every leaf, the default gradient-check model (2 blocks, 2 heads) with a padded step."""
    assert gradcheck.check_model("transformer", x64=True).ok
    net, params, X, Y = _case(5, 1, 2, 2, 1, jnp.float64, seed=3)
    _, hand = jax.jit(net.cost_and_grads)(params, X, Y, 0.01)
    report = gradcheck.check(lambda p: net.cost(p, X, Y, 0.01), params, hand)
    assert report.ok, report.format()


def test_causal_and_padding(x64):
    """Changing a later token changes no earlier prediction; a padded step changes nothing
    the other steps predict about the future of other examples."""
    net, params, X, _ = _case(6, 2, 2, 2, 2, jnp.float64, pad=False)
    A = net.forward(params, X)
    B = net.forward(params, X.at[4, 0].set((X[4, 0] + 1) % 5))
    np.testing.assert_allclose(A[:4], B[:4], rtol=1e-13)
    assert not np.allclose(A[4:, :, 0], B[4:, :, 0])
    np.testing.assert_allclose(A[:, :, 1], B[:, :, 1], rtol=1e-13)  # the other example


def test_sample_is_reproducible_and_slides():
    net, params, _, _ = _case(4, 1, 2, 2, 1, jnp.float32)
    drawn = transformer.sample(params, jax.random.PRNGKey(0), jnp.array([1, 2]), 7, 0.8, heads=2)
    again = transformer.sample(params, jax.random.PRNGKey(0), jnp.array([1, 2]), 7, 0.8, heads=2)
    assert drawn.shape == (7,) and int(drawn.min()) >= 0 and int(drawn.max()) < 5
    np.testing.assert_array_equal(drawn, again)  # past the context of 4: the window slid
    with pytest.raises(ConfigError, match="prime must hold"):
        transformer.sample(params, jax.random.PRNGKey(0), jnp.arange(5), 3, heads=2)


def test_trains_through_the_one_path(tmp_path):
    """--model transformer on the text dataset through train_and_evaluate (one epoch of a
    tiny model: below the 6.7 bits of a uniform guess over 103 characters)."""
    from jaxnn.run import TrainConfig, train_and_evaluate

    config = TrainConfig(dataset="text", model="transformer", optimizer="adam", lr=1e-2,
                         options={"n_layers": 1, "d_model": 16, "heads": 2, "d_ff": 32},
                         batch_size=128, epochs=1, checkpoint_secs=0)  # fmt: skip
    metrics = train_and_evaluate(config, str(tmp_path / "lm"), progress=False)
    assert 0 < metrics["test_bits_per_char"] < 6.0 and "transformer" in metrics["describe"]


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match="heads=3 must divide d_model=8"):
        models.build("transformer", (5,), 4, d_model=8, heads=3)
    with pytest.raises(ConfigError, match="context=4 is shorter"):
        models.build("transformer", (5,), 4, context=4)
    with pytest.raises(ShapeError, match=r"\(T,\) token ids"):
        models.build("transformer", (5, 2), 4)
    net = models.build("transformer", (5,), 4, d_model=8, heads=2)
    with pytest.raises(ShapeError, match=r"token ids X \(T, m\) = \(5, m\)"):
        net.forward(net.init(jax.random.PRNGKey(0)), jnp.zeros((5, 3)))


def test_the_check_catches_planted_bugs(x64, monkeypatch):
    """The comparison can fail: GELU′ of the tanh approximation in an exact-GELU network (off
    by ~1e-3 at most), and a residual fork that drops the attention branch, are both caught,
    at seeds 0, 1 and 2 (each bug one program, traced with the bug planted, for all seeds)."""
    from jaxnn.layers import attention, feedforward

    cases = [_case(5, 1, 2, 2, 2, jnp.float64, seed=seed) for seed in range(3)]
    net = cases[0][0]
    autodiff = jax.jit(net.autodiff_cost_and_grads)
    tanh_gelu = jax.vmap(jax.grad(lambda z: jax.nn.gelu(z, approximate=True)))
    monkeypatch.setattr(feedforward, "gelu_prime", lambda Z: tanh_gelu(Z.ravel()).reshape(Z.shape))
    hand_with_bug = jax.jit(lambda *data: net.cost_and_grads(*data))  # traced with the bug
    for _, params, X, Y in cases:
        _, auto = autodiff(params, X, Y)
        _, hand = hand_with_bug(params, X, Y)
        assert _relative(hand["W_1.0"], auto["W_1.0"]) > 1e-8
    monkeypatch.undo()
    right = attention.multi_head_rows_backward  # what the blocks call (rows)
    monkeypatch.setattr(attention, "multi_head_rows_backward",
                        lambda *a: {**right(*a), "dX": 0.0 * right(*a)["dX"]})  # fmt: skip
    hand_with_bug = jax.jit(lambda *data: net.cost_and_grads(*data))
    for _, params, X, Y in cases:
        _, auto = autodiff(params, X, Y)
        _, hand = hand_with_bug(params, X, Y)
        assert _relative(hand["E"], auto["E"]) > 1e-3
