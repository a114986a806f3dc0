"""Max and average pooling: values, ties (the first maximum, as jax.grad of reduce_window),
overlapping windows, and hand backward = jax.grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import gradcheck
from jaxnn.errors import ShapeError
from jaxnn.layers import pool


def _grad_of(forward, A_prev, dA):
    return jax.grad(lambda x: jnp.sum(forward(x)[0] * dA))(A_prev)


@pytest.mark.parametrize(
    "window, expected",
    [([0.0, 0.0, 0.0, 0.0], [1, 0, 0, 0]),   # all tied (a ReLU's zeros): the first
     ([1.0, 3.0, 3.0, 0.0], [0, 1, 0, 0]),   # tied maximum: the first in row-major order
     ([1.0, 2.0, 5.0, 0.0], [0, 0, 1, 0])],
)  # fmt: skip
def test_max_pool_ties_go_to_the_first_maximum(window, expected):
    A_prev = jnp.asarray(window).reshape(1, 2, 2, 1)
    A, cache = pool.max_pool_forward(A_prev, 2, 2)
    dA = jnp.ones_like(A)
    hand = pool.max_pool_backward(dA, cache)
    np.testing.assert_array_equal(hand.ravel(), expected)
    np.testing.assert_array_equal(_grad_of(lambda x: pool.max_pool_forward(x, 2, 2), A_prev, dA),
                                  hand)  # fmt: skip


def test_relu_zeros_everywhere_agree_with_autodiff():
    """Many tied windows (ReLU output of mostly negative values), overlapping 3×3/2 windows."""
    key = jax.random.PRNGKey(3)
    A_prev = jax.nn.relu(jax.random.normal(key, (2, 9, 9, 3)) - 1.0)
    A, cache = pool.max_pool_forward(A_prev, 3, 2)
    dA = jax.random.normal(jax.random.fold_in(key, 1), A.shape)
    want = _grad_of(lambda x: pool.max_pool_forward(x, 3, 2), A_prev, dA)
    hand = pool.max_pool_backward(dA, cache)
    np.testing.assert_array_equal(hand != 0, want != 0)  # the same positions receive
    np.testing.assert_allclose(hand, want, rtol=1e-6)  # overlapping sums: rounding order


def test_values_by_hand():
    A_prev = jnp.arange(16.0).reshape(1, 4, 4, 1)
    A, _ = pool.max_pool_forward(A_prev, 2, 2)
    np.testing.assert_array_equal(A[0, :, :, 0], [[5, 7], [13, 15]])
    A, _ = pool.avg_pool_forward(A_prev, 2, 2)
    np.testing.assert_array_equal(A[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


pool_cases = st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(4, 10),
                       st.integers(4, 10), st.integers(1, 3), st.integers(1, 3))  # fmt: skip


@settings(max_examples=5)
@given(case=pool_cases)
def test_backward_equals_autodiff(case, x64):
    f, s, h, w, c, m = case
    pools = ((pool.max_pool_forward, pool.max_pool_backward),
             (pool.avg_pool_forward, pool.avg_pool_backward))  # fmt: skip

    key = jax.random.PRNGKey(f * 100 + s * 10 + h)
    A_prev = jax.random.normal(key, (m, h, w, c), jnp.float64)
    A_shape = jax.eval_shape(lambda x: pool.max_pool_forward(x, f, s)[0], A_prev).shape
    dA = jax.random.normal(jax.random.fold_in(key, 1), A_shape, jnp.float64)

    @jax.jit  # one program per case for both poolings, not op by op
    def both(A_prev, dA):
        return [(backward(dA, forward(A_prev, f, s)[1]),
                 _grad_of(lambda x, forward=forward: forward(x, f, s), A_prev, dA))
                for forward, backward in pools]  # fmt: skip

    for hand, want in both(A_prev, dA):
        assert gradcheck.relative_error(hand, want) <= 1e-12


def test_avg_pool_vs_finite_differences(x64):
    A_prev = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 7, 2), jnp.float64)
    A, cache = pool.avg_pool_forward(A_prev, 3, 2)
    dA = jax.random.normal(jax.random.PRNGKey(1), A.shape, jnp.float64)
    report = gradcheck.check(lambda p: jnp.sum(pool.avg_pool_forward(p["A"], 3, 2)[0] * dA),
                             {"A": A_prev}, {"A": pool.avg_pool_backward(dA, cache)})  # fmt: skip
    assert report.ok, report.format()


def test_window_larger_than_input():
    with pytest.raises(ShapeError, match="does not fit"):
        pool.max_pool_forward(jnp.zeros((1, 1, 1, 3)), 2, 2)


@pytest.mark.parametrize("f, s", [(2, 2), (3, 3), (3, 2)])
def test_every_candidate_form_equals_autodiff(f, s, x64):
    """Each form autotune may pick (forward and backward, max and avg) = reduce_window's
    forward and its jax.grad: ReLU'd input (ties in many windows), rows no window covers."""
    key = jax.random.PRNGKey(f * 10 + s)
    A_prev = jax.nn.relu(jax.random.normal(key, (2, 9, 8, 3), jnp.float64) - 0.5)
    forward_names, backward_names = pool.candidate_forms(f, s)
    assert ("tiles" in forward_names) == ("tiled" in backward_names) == (f == s)

    @jax.jit
    def everything(A_prev, dA):  # one compiled program per case
        out = {}
        for op, forward in (("max", pool.max_pool_forward), ("avg", pool.avg_pool_forward)):
            A, cache = forward(A_prev, f, s)
            out[op, "A"] = A
            out[op, "grad"] = _grad_of(lambda x, forward=forward: forward(x, f, s), A_prev, dA)
            for name in forward_names:
                out[op, "forward", name] = pool.pool_forward_form(A_prev, f, s, op, name)[0]
            for name in backward_names:
                out[op, "backward", name] = pool.pool_backward_form(dA, cache, op, name)
        return out

    dA = jax.random.normal(jax.random.fold_in(key, 1), pool.max_pool_forward(A_prev, f, s)[0].shape,
                           jnp.float64)  # fmt: skip
    out = everything(A_prev, dA)
    for op in ("max", "avg"):
        for name in forward_names:
            np.testing.assert_allclose(out[op, "forward", name], out[op, "A"], rtol=1e-14)
        for name in backward_names:
            got = out[op, "backward", name]
            assert got.shape == A_prev.shape
            assert gradcheck.relative_error(got, out[op, "grad"]) <= 1e-12, (op, name)
