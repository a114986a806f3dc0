"""Layer normalization: values, hand backward vs jax.grad (float64 and float32) vs central
differences, over column and sequence layouts with batches of 1 and 2, and a planted bug the
check catches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import gradcheck
from jaxnn.errors import ShapeError
from jaxnn.layers.layer_norm import NormCache, layer_norm_backward, layer_norm_forward


def _problem(key, shape, axis, dtype):
    k_x, k_g, k_b, k_d = jax.random.split(key, 4)
    n = shape[axis]
    X = 3.0 * jax.random.normal(k_x, shape, dtype) + 1.0
    gamma = 1.0 + 0.5 * jax.random.normal(k_g, (n, 1), dtype)
    beta = jax.random.normal(k_b, (n, 1), dtype)
    dY = jax.random.normal(k_d, shape, dtype)
    return {"X": X, "gamma": gamma, "beta": beta}, dY


def _cost(axis, dY):
    def cost(p):
        return jnp.sum(layer_norm_forward(p["X"], p["gamma"], p["beta"], axis)[0] * dY)

    return cost


def _hand(params, dY, axis, backward=layer_norm_backward):
    _, cache = layer_norm_forward(params["X"], params["gamma"], params["beta"], axis)
    dX, dgamma, dbeta = backward(dY, cache)
    return {"X": dX, "gamma": dgamma, "beta": dbeta}


def test_values_each_example_normalised_over_its_features():
    X = jnp.asarray([[1.0, 0.0], [2.0, 0.0], [3.0, 6.0]])  # (n=3, m=2)
    Y, _ = layer_norm_forward(X, jnp.ones((3, 1)), jnp.zeros((3, 1)), eps=0.0)
    want = np.array([[-1.0, -1.0], [0.0, -1.0], [1.0, 2.0]]) / np.sqrt([2 / 3, 2.0])
    np.testing.assert_allclose(Y, want, rtol=1e-6)
    Y, _ = layer_norm_forward(X, 2 * jnp.ones((3, 1)), jnp.arange(3.0)[:, None], eps=0.0)
    np.testing.assert_allclose(Y, 2 * want + np.arange(3.0)[:, None], rtol=1e-6)


def test_sequence_layout_normalises_each_time_step_and_example():
    X = jax.random.normal(jax.random.PRNGKey(0), (4, 5, 3))  # (T, d, m)
    Y, _ = layer_norm_forward(X, jnp.ones((5, 1)), jnp.zeros((5, 1)), axis=1, eps=0.0)
    np.testing.assert_allclose(Y.mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(Y.var(axis=1), 1.0, rtol=1e-5)
    Y_step, _ = layer_norm_forward(X[2], jnp.ones((5, 1)), jnp.zeros((5, 1)), axis=0, eps=0.0)
    np.testing.assert_allclose(Y[2], Y_step, rtol=1e-6)


def _compared(shape, axis, dtype, seed):
    """(params, dY, hand, jax.grad's) at one case: hand and jax.grad one compiled program,
    not op by op."""
    params, dY = _problem(jax.random.PRNGKey(seed), shape, axis, dtype)
    compared = jax.jit(lambda p, dY: (_hand(p, dY, axis), jax.grad(_cost(axis, dY))(p)))
    return params, dY, *compared(params, dY)


def _layouts(n_min):
    return st.one_of(
        st.tuples(st.integers(n_min, 6), st.integers(1, 2)).map(lambda s: (s, 0)),  # (n, m)
        st.tuples(st.integers(1, 3), st.integers(n_min, 6), st.integers(1, 2))
        .map(lambda s: (s, 1)),  # (T, d, m)
    )  # fmt: skip


@settings(max_examples=4)
@given(layout=_layouts(2), seed=st.integers(0, 3))
def test_hand_equals_autodiff_and_finite_differences_float64(layout, seed, x64):
    shape, axis = layout
    params, dY, hand, auto = _compared(shape, axis, jnp.float64, seed)
    assert gradcheck.relative_error(hand, auto) <= 1e-10
    if shape[axis] > 2:  # two features: dX = O(ε), below what differences resolve
        report = gradcheck.check(_cost(axis, dY), params, hand)
        assert report.ok, report.format()


@settings(max_examples=3)
@given(layout=_layouts(3), seed=st.integers(0, 3))
def test_hand_equals_autodiff_float32(layout, seed):
    """n ≥ 3: with two features x̂ = ±(1 − O(ε/σ²)) whatever x is, the true dX is O(ε) and
    float32's cancellation in it dominates any comparison."""
    shape, axis = layout
    params, _, hand, auto = _compared(shape, axis, jnp.float32, seed)
    for name, leaf in hand.items():
        assert leaf.dtype == jnp.float32 and leaf.shape == params[name].shape
    assert gradcheck.relative_error(hand, auto) <= 1e-5


def test_gradient_has_no_shift_or_scale_component(x64):
    """y is unchanged when one example's x shifts or scales: Σ dx = Σ dx ⊙ x̂ = 0."""
    params, dY = _problem(jax.random.PRNGKey(5), (7, 3), 0, jnp.float64)
    _, cache = layer_norm_forward(params["X"], params["gamma"], params["beta"], eps=0.0)
    dX = layer_norm_backward(dY, cache)[0]
    np.testing.assert_allclose(dX.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose((dX * cache.X_hat).sum(axis=0), 0.0, atol=1e-12)


def test_one_feature_gives_beta_and_no_gradient(x64):
    """n = 1: x − μ = 0, so y = β whatever x is, and dX = dγ = 0 (no NaN: ε keeps σ > 0)."""
    params, dY = _problem(jax.random.PRNGKey(0), (1, 2), 0, jnp.float64)
    Y, _ = layer_norm_forward(params["X"], params["gamma"], params["beta"])
    np.testing.assert_array_equal(Y, jnp.broadcast_to(params["beta"], (1, 2)))
    hand = _hand(params, dY, 0)
    np.testing.assert_array_equal(hand["X"], 0.0)
    np.testing.assert_array_equal(hand["gamma"], 0.0)


def _forgets_sigma(dY, cache):
    """A planted bug: the backward that treats σ as a constant (drops the x̂ Σ dx̂ x̂ term)."""
    X_hat, inv_sigma, gamma, axes, shape = cache[:5]
    n = X_hat.shape[axes[0]]
    dX_hat = dY * gamma.reshape(shape)
    dX = inv_sigma / n * (n * dX_hat - jnp.sum(dX_hat, axis=axes, keepdims=True))
    return (dX, *layer_norm_backward(dY, cache)[1:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_catches_a_backward_that_forgets_sigma(seed, x64):
    params, dY = _problem(jax.random.PRNGKey(seed), (5, 2), 0, jnp.float64)
    report = gradcheck.check(_cost(0, dY), params, _hand(params, dY, 0, _forgets_sigma))
    assert not report.ok
    assert [r.name for r in report.rows if not r.ok] == ["X"]


def test_gamma_of_the_wrong_size_is_a_one_line_error():
    with pytest.raises(ShapeError, match=r"give gamma and beta shape \(4, 1\)"):
        layer_norm_forward(jnp.zeros((4, 2)), jnp.ones((3, 1)), jnp.zeros((3, 1)))
    with pytest.raises(ShapeError, match="outside"):
        layer_norm_forward(jnp.zeros((4, 2)), jnp.ones((4, 1)), jnp.zeros((4, 1)), axis=2)


def test_cache_is_a_named_tuple_with_the_axis():
    _, cache = layer_norm_forward(jnp.ones((2, 3, 1)), jnp.ones((3, 1)), jnp.zeros((3, 1)), -2)
    assert isinstance(cache, NormCache) and cache.axes == (1,)
