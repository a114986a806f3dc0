"""Batch normalization: compact and step-by-step backward vs jax.grad vs central
differences (dense and spatial, batches of 1 and 2 where the layer allows them), running
statistics, evaluation mode, the batch-of-one error, and planted bugs the check catches."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnn.layers.batch_norm  # noqa: F401  (the module; jaxnn.layers.batch_norm is the Layer)
from jaxnn import gradcheck, layers
from jaxnn.errors import ConfigError, ShapeError

bn = sys.modules["jaxnn.layers.batch_norm"]
BACKWARDS = (bn.batch_norm_backward, bn.batch_norm_backward_explicit)


def _problem(key, X_shape, dtype):
    k_x, k_g, k_b, k_d = jax.random.split(key, 4)
    shape = (X_shape[0], 1) if len(X_shape) == 2 else (1, 1, 1, X_shape[3])
    params = {"X": 2.0 * jax.random.normal(k_x, X_shape, dtype) - 1.0,
              "gamma": 1.0 + 0.5 * jax.random.normal(k_g, shape, dtype),
              "beta": jax.random.normal(k_b, shape, dtype)}  # fmt: skip
    return params, jax.random.normal(k_d, X_shape, dtype)


def _cost(dY):
    return lambda p: jnp.sum(bn.batch_norm_forward(p["X"], p["gamma"], p["beta"])[0] * dY)


def _hand(params, dY, backward):
    _, cache = bn.batch_norm_forward(params["X"], params["gamma"], params["beta"])
    return dict(zip(("X", "gamma", "beta"), backward(dY, cache), strict=True))


@jax.jit
def _grads(params, dY):
    """(jax.grad's, each backward's): one compiled program per shape, not op by op."""
    return jax.grad(_cost(dY))(params), [_hand(params, dY, backward) for backward in BACKWARDS]


def _compared(X_shape, dtype, seed):
    params, dY = _problem(jax.random.PRNGKey(seed), X_shape, dtype)
    return params, dY, *_grads(params, dY)


shapes = st.one_of(
    st.tuples(st.integers(1, 4), st.integers(3, 5)),  # dense (n, m): N = m ≥ 3 (see below)
    st.tuples(st.integers(1, 2), st.integers(2, 3), st.integers(1, 3), st.integers(1, 3)),
)  # spatial (m, n_H, n_W, n_C), batch of 1 included


@settings(max_examples=5)
@given(X_shape=shapes, seed=st.integers(0, 3))
def test_both_backwards_equal_autodiff_and_finite_differences(X_shape, seed, x64):
    params, dY, want, hands = _compared(X_shape, jnp.float64, seed)
    for backward, hand in zip(BACKWARDS, hands, strict=True):
        assert gradcheck.relative_error(hand, want) <= 1e-10, backward.__name__
    report = gradcheck.check(_cost(dY), params, hands[1])
    assert report.ok, report.format()


@pytest.mark.parametrize("X_shape", [(4, 2), (3, 5), (1, 3, 3, 2), (2, 2, 2, 3)])
def test_float32_within_1e_5(X_shape):
    _, _, want, hands = _compared(X_shape, jnp.float32, 1)
    for hand in hands:
        assert gradcheck.relative_error(hand, want) <= 1e-5


def test_batch_of_two_hand_equals_autodiff(x64):
    """N = 2 (dense, batch 2): x̂ = ±1 + O(ε), dX = O(ε), too small for differences; the hand
    backward still equals jax.grad."""
    _, _, want, hands = _compared((3, 2), jnp.float64, 2)
    for hand in hands:
        assert gradcheck.relative_error(hand, want) <= 1e-10


def test_dense_batch_of_one_is_a_one_line_error_not_nan():
    with pytest.raises(ShapeError, match="batch size ≥ 2"):
        bn.batch_norm_forward(jnp.ones((3, 1)), jnp.ones((3, 1)), jnp.zeros((3, 1)))
    A, _ = bn.batch_norm_forward(jnp.arange(8.0).reshape(1, 2, 2, 2), jnp.ones((1, 1, 1, 2)),
                                 jnp.zeros((1, 1, 1, 2)))  # fmt: skip
    assert jnp.isfinite(A).all()  # one image: n_H·n_W values per channel


def _forgets_mean_path(dY, cache):
    """Planted bug: dx = γ dy / σ (the normalisation's statistics treated as constants)."""
    X_hat, inv_sigma, gamma, axes, shape = cache[:5]
    return (dY * gamma.reshape(shape) * inv_sigma, *bn.batch_norm_backward(dY, cache)[1:])


def _sums_gamma_over_units(dY, cache):
    """Planted bug: dγ summed over every axis (one number broadcast to each unit)."""
    dX, dgamma, dbeta = bn.batch_norm_backward(dY, cache)
    return dX, jnp.full_like(dgamma, jnp.sum(dY * cache.X_hat)), dbeta


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "bug, leaf", [(_forgets_mean_path, "X"), (_sums_gamma_over_units, "gamma")]
)
def test_the_check_catches_planted_bugs(bug, leaf, seed, x64):
    params, dY = _problem(jax.random.PRNGKey(seed), (3, 4), jnp.float64)
    report = gradcheck.check(_cost(dY), params, _hand(params, dY, bug))
    assert [r.name for r in report.rows if not r.ok] == [leaf], report.format()


def test_running_statistics_and_evaluation_mode(x64):
    X = jax.random.normal(jax.random.PRNGKey(0), (2, 5), jnp.float64) * 3 + 1
    gamma, beta = jnp.full((2, 1), 2.0), jnp.full((2, 1), 0.5)
    _, cache = bn.batch_norm_forward(X, gamma, beta)
    mean, var = bn.running_update(jnp.zeros((2, 1)), jnp.ones((2, 1)), cache, momentum=0.25)
    np.testing.assert_allclose(mean, 0.25 * X.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(var, 0.75 + 0.25 * X.var(axis=1, ddof=1, keepdims=True))
    Y = bn.batch_norm_eval(X, gamma, beta, mean, var, eps=1e-5)
    np.testing.assert_allclose(Y, 2.0 * (X - mean) / np.sqrt(var + 1e-5) + 0.5)


def test_layer_carries_state_train_and_eval():
    layer = layers.batch_norm(momentum=0.5)
    params = layer.init(jax.random.PRNGKey(0), (3, 3, 2), jnp.float32)
    state = layer.init_state((3, 3, 2), jnp.float32)
    assert params["gamma"].shape == state["mean"].shape == (1, 1, 1, 2)
    X = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 3, 2)) + 4.0
    A_train, cache, new_state = layer.forward_state(params, state, X, True)
    np.testing.assert_allclose(A_train, layer.forward(params, X)[0])
    np.testing.assert_allclose(new_state["mean"].ravel(), 0.5 * X.mean(axis=(0, 1, 2)), rtol=1e-6)
    A_eval, none, same = layer.forward_state(params, new_state, X, False)
    assert none is None and same is new_state
    assert not np.allclose(A_eval, A_train)  # running, not batch, statistics


def test_options_are_checked():
    with pytest.raises(ConfigError, match="momentum"):
        layers.batch_norm(momentum=0.0)
    with pytest.raises(ConfigError, match="compact or explicit"):
        layers.batch_norm(backward="graph")
