"""Attention and the position-wise MLP: hand-derived backwards = jax.grad (float64 ≤ 1e-10,
float32 ≤ 1e-5) = central differences, over sizes (T from 1, batch 1), causal and padding
masks, heads, the recompute option; values worked out by hand; a planted bug caught."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import gradcheck
from jaxnn.errors import ShapeError
from jaxnn.layers import attention, feedforward


def _relative(a, b):
    a, b = np.ravel(np.asarray(a)), np.ravel(np.asarray(b))
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else np.linalg.norm(a - b) / denominator


def _mha_case(T, d_k, heads, m, dtype, seed=0):
    """``(W, X, dY, valid)``: weights N(0, 1/d), X and dY N(0, 1), 70% of the positions valid;
    drawn with numpy (seven jax.random draws inside each case's program were a third of its
    compile time)."""
    rng, d = np.random.default_rng(seed), d_k * heads
    W = [jnp.asarray(rng.normal(size=(d, d)) / np.sqrt(d), dtype) for _ in range(4)]
    X, dY = (jnp.asarray(rng.normal(size=(T, d, m)), dtype) for _ in range(2))
    return W, X, dY, jnp.asarray(rng.random((T, m)) < 0.7)


def _mask(masks, valid):
    mask = None
    if masks in ("causal", "both"):
        mask = attention.causal_mask(valid.shape[0])[None]
    if masks in ("padding", "both"):
        pad = attention.padding_mask(valid)
        mask = pad if mask is None else mask & pad
    return mask


def _mha_grads(W, X, dY, mask, heads, remat):
    def loss(X, *W):
        return jnp.sum(attention.multi_head_forward(X, *W, heads, mask)[0] * dY)

    auto = jax.grad(loss, argnums=(0, 1, 2, 3, 4))(X, *W)
    _, cache = attention.multi_head_forward(X, *W, heads, mask, remat)
    back = attention.multi_head_backward(dY, cache, *W)
    hand = (back["dX"], back["dW_Q"], back["dW_K"], back["dW_V"], back["dW_O"])
    return hand, auto, loss


MASKS = st.sampled_from([None, "causal", "padding", "both"])


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _mha_compiled(W, X, dY, valid, masks, heads, remat):
    """(hand, jax.grad's) at one case as one compiled program per drawn shape (op by op,
    every primitive compiled anew per shape: ~5 s a case)."""
    return _mha_grads(W, X, dY, _mask(masks, valid), heads, remat)[:2]


def _mha_compared(T, d_k, heads, m, masks, dtype, remat, seed=0):
    return _mha_compiled(*_mha_case(T, d_k, heads, m, dtype, seed), masks, heads, remat)


@given(T=st.integers(1, 9), d_k=st.integers(1, 3), heads=st.integers(1, 3),
       m=st.integers(1, 3), masks=MASKS, remat=st.booleans())  # fmt: skip
@settings(max_examples=8)
def test_multi_head_hand_equals_autodiff_float64(T, d_k, heads, m, masks, remat, x64):
    hand, auto = _mha_compared(T, d_k, heads, m, masks, jnp.float64, remat)
    for h, a in zip(hand, auto, strict=True):
        assert np.all(np.isfinite(h)) and _relative(h, a) <= 1e-10


@pytest.mark.parametrize("masks", [None, "both"])
def test_multi_head_hand_equals_autodiff_float32(masks):
    hand, auto = _mha_compared(6, 2, 2, 2, masks, jnp.float32, False)
    for h, a in zip(hand, auto, strict=True):
        assert _relative(h, a) <= 1e-5


def test_multi_head_vs_central_differences(x64):
    W, X, dY, valid = _mha_case(5, 2, 2, 2, jnp.float64, seed=3)
    mask = _mask("both", valid)
    _, _, loss = _mha_grads(W, X, dY, mask, 2, True)
    hand = jax.jit(lambda *case: _mha_grads(*case, 2, True)[0])(W, X, dY, mask)
    params = {"X": X, "W_Q": W[0], "W_K": W[1], "W_V": W[2], "W_O": W[3]}
    report = gradcheck.check(lambda p: loss(p["X"], p["W_Q"], p["W_K"], p["W_V"], p["W_O"]),
                             params, dict(zip(params, hand, strict=True)))  # fmt: skip
    assert report.ok, report.format()


def test_attention_by_hand():
    """One query, two keys (d_k = 1): weights softmax([q k_1, q k_2]), output their mix of V;
    with the causal mask the first query reads only the first key."""
    Q = jnp.array([[[1.0]], [[2.0]]])  # (T=2, d_k=1, m=1)
    K = jnp.array([[[0.5]], [[-1.0]]])
    V = jnp.array([[[3.0]], [[5.0]]])
    O, cache = attention.attention_forward(Q, K, V, attention.causal_mask(2))
    p = np.exp([2 * 0.5, 2 * -1.0]) / np.exp([2 * 0.5, 2 * -1.0]).sum()
    np.testing.assert_allclose(O[:, 0, 0], [3.0, p @ [3.0, 5.0]], rtol=1e-6)
    np.testing.assert_allclose(cache["P"][0], [[1.0, 0.0], p], rtol=1e-6)


def test_fully_masked_row_is_zero_not_nan(x64):
    """A query with no readable key (its example all padding) outputs 0 and passes back 0."""
    W, X, dY, _ = _mha_case(4, 2, 2, 2, jnp.float64)
    valid = jnp.array([[True, False]] * 4)  # example 1 is all padding
    mask = attention.causal_mask(4)[None] & attention.padding_mask(valid)
    Y, cache = attention.multi_head_forward(X, *W, 2, mask)
    back = attention.multi_head_backward(dY, cache, *W)
    assert np.all(np.isfinite(Y)) and not np.any(np.asarray(Y[:, :, 1]))
    assert not np.any(np.asarray(back["dX"][:, :, 1]))


def test_softmax_backward_check_catches_a_planted_bug(x64, monkeypatch):
    """The comparison can fail: dS = P ⊙ dP (the Jacobian's diagonal only, a common slip) is
    caught at every seed."""
    right = attention.attention_rows_backward  # what multi-head attention calls (rows)

    def wrong(dO, cache):
        P = cache["P"]
        dP = jnp.einsum("...td,...sd->...ts", dO, cache["V"])
        dQ = jnp.einsum("...ts,...sd->...td", P * dP, cache["K"]) / np.sqrt(cache["Q"].shape[-1])
        return (dQ, *right(dO, cache)[1:])

    monkeypatch.setattr(attention, "attention_rows_backward", wrong)
    # a fresh program, traced here with the bug planted (one compile for the three seeds)
    compared = jax.jit(lambda W, X, dY, valid: _mha_grads(W, X, dY, _mask("causal", valid), 2,
                                                          False)[:2])  # fmt: skip
    for seed in range(3):
        hand, auto = compared(*_mha_case(5, 2, 2, 2, jnp.float64, seed))
        assert _relative(hand[1], auto[1]) > 1e-3  # dW_Q
    monkeypatch.setattr(attention, "attention_rows_backward", right)


def test_gelu_exact_and_feedforward(x64):
    """GELU is the exact z Φ(z) (jax.nn.gelu(approximate=False)); its derivative and the
    MLP's backward equal jax.grad."""
    Z = jnp.linspace(-5, 5, 41)
    np.testing.assert_allclose(feedforward.gelu(Z), jax.nn.gelu(Z, approximate=False),
                               rtol=1e-14, atol=1e-15)  # fmt: skip
    np.testing.assert_allclose(feedforward.gelu_prime(Z), jax.vmap(jax.grad(feedforward.gelu))(Z),
                               rtol=1e-13, atol=1e-15)  # fmt: skip

    @jax.jit  # one compiled program, not op by op (the key an argument XLA cannot fold)
    def compared(key):
        keys = jax.random.split(key, 6)
        X, dY = (jax.random.normal(k, (3, 4, 2), jnp.float64) for k in keys[:2])
        shapes = {"W_1": (5, 4), "b_1": (5, 1), "W_2": (4, 5), "b_2": (4, 1)}
        p = {
            name: jax.random.normal(k, shape)
            for k, (name, shape) in zip(keys[2:], shapes.items(), strict=True)
        }

        def loss(X, p):
            return jnp.sum(feedforward.feedforward_forward(X, **p)[0] * dY)

        _, cache = feedforward.feedforward_forward(X, **p)
        back = feedforward.feedforward_backward(dY, cache, p["W_1"], p["W_2"])
        return p, back, jax.grad(loss, argnums=(0, 1))(X, p)

    p, back, (dX, dp) = compared(jax.random.PRNGKey(0))
    assert _relative(back["dX"], dX) <= 1e-12
    for name in p:
        assert _relative(back["d" + name], dp[name]) <= 1e-12, name


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(ShapeError, match="heads dividing"):
        attention.multi_head_forward(jnp.zeros((3, 4, 1)), *([jnp.zeros((4, 4))] * 4), heads=3)
    with pytest.raises(ShapeError, match="same batch axes"):
        attention.attention_forward(
            jnp.zeros((3, 2, 1)), jnp.zeros((3, 3, 1)), jnp.zeros((3, 2, 1))
        )
