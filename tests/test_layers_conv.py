"""conv2d: geometry, forward = lax and the explicit loop, hand backward (explicit and fast)
= jax.grad = central differences, over kernel sizes, strides, paddings, channels, sizes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import gradcheck
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import conv


@pytest.mark.parametrize(
    "n, f, s, padding, expected",
    [(28, 5, 1, "same", (2, 2, 28)),   # odd kernel: even split
     (28, 4, 1, "same", (1, 2, 28)),   # even kernel: the odd pixel at the bottom/right
     (7, 3, 2, "same", (1, 1, 4)),     # ceil(7/2) = 4
     (8, 3, 2, "same", (0, 1, 4)),
     (10, 3, 3, "valid", (0, 0, 3)),   # stride does not divide: the last row is unused
     (224, 11, 4, 2, (2, 2, 55)),      # AlexNet's first conv
     (5, 5, 1, "valid", (0, 0, 1))],
)  # fmt: skip
def test_geometry(n, f, s, padding, expected):
    assert tuple(conv.conv_geometry(n, f, s, padding)) == expected


def test_geometry_errors():
    with pytest.raises(ShapeError, match="does not fit"):
        conv.conv_geometry(4, 5, 1, "valid")
    with pytest.raises(ConfigError, match="padding"):
        conv.conv_geometry(8, 3, 1, "full")
    with pytest.raises(ConfigError, match="≥ 1"):
        conv.conv_geometry(8, 3, 0, "valid")


def test_forward_by_hand_tiny():
    """A 3×3 input, a 2×2 kernel of ones, stride 1: each output sums a 2×2 window, plus b."""
    A_prev = jnp.arange(9.0).reshape(1, 3, 3, 1)
    W = jnp.ones((2, 2, 1, 1))
    Z, _ = conv.conv_forward(A_prev, W, jnp.full((1, 1, 1, 1), 0.5))
    np.testing.assert_allclose(Z[0, :, :, 0], [[8.5, 12.5], [20.5, 24.5]])


def test_same_padding_matches_lax():
    """'same' with an even kernel and stride 2 equals XLA's own SAME padding."""
    key = jax.random.PRNGKey(0)
    A_prev = jax.random.normal(key, (2, 7, 8, 3))
    W = jax.random.normal(jax.random.fold_in(key, 1), (4, 4, 3, 5))
    Z, _ = conv.conv_forward(A_prev, W, jnp.zeros((1, 1, 1, 5)), 2, "same")
    ref = jax.lax.conv_general_dilated(A_prev, W, (2, 2), "SAME", dimension_numbers=conv.NHWC)
    np.testing.assert_allclose(Z, ref, rtol=1e-5, atol=1e-5)


def test_bad_shapes_are_named():
    with pytest.raises(ShapeError, match="4-D"):
        conv.conv_forward(jnp.zeros((28, 28, 1)), jnp.zeros((5, 5, 1, 6)), jnp.zeros(6))
    with pytest.raises(ShapeError, match="n_C_prev = 3"):
        conv.conv_forward(jnp.zeros((1, 8, 8, 3)), jnp.zeros((3, 3, 1, 6)), jnp.zeros(6))


conv_cases = st.tuples(
    st.integers(1, 5),  # f
    st.integers(1, 3),  # stride
    st.sampled_from(["valid", "same", 0, 1, 2]),
    st.integers(1, 3),  # n_C_prev
    st.integers(1, 4),  # n_C
    st.integers(5, 11),  # n_H_prev
    st.integers(5, 11),  # n_W_prev
    st.integers(1, 3),  # m
)


def _problem(f, s, padding, c_in, c_out, h, w, m, dtype):
    """``(A_prev, W, b, dZ)``, N(0, 1), drawn with numpy (through jax.random, and a forward
    run op by op for dZ's shape, every drawn case compiled programs of its own)."""
    rng = np.random.default_rng(f * 1000 + s * 100 + h * 10 + w)

    def draw(*shape):
        return jnp.asarray(rng.normal(size=shape), dtype)

    A_prev, W, b = draw(m, h, w, c_in), draw(f, f, c_in, c_out), draw(1, 1, 1, c_out)
    Z = jax.eval_shape(lambda A_prev, W, b: conv.conv_forward(A_prev, W, b, s, padding)[0],
                       A_prev, W, b)  # fmt: skip
    return A_prev, W, b, draw(*Z.shape)


def _everything(case, dtype):
    """One compiled program per case: both forwards, both hand backwards, jax.grad's, and
    dW as one XLA convolution."""
    f, s, padding, c_in, c_out, h, w, m = case
    A_prev, W, b, dZ = _problem(*case, dtype)

    @jax.jit
    def run(A_prev, W, b, dZ):
        Z, cache = conv.conv_forward(A_prev, W, b, s, padding)

        def objective(A_prev, W, b):
            return jnp.sum(conv.conv_forward(A_prev, W, b, s, padding)[0] * dZ)

        return {
            "Z": Z, "Z_explicit": conv.conv_forward_explicit(A_prev, W, b, s, padding),
            "Z_lax": jax.lax.conv_general_dilated(
                conv.pad(A_prev, cache.pads), W, (s, s), "VALID",
                dimension_numbers=conv.NHWC) + b,
            "fast": conv.conv_backward(dZ, cache),
            "explicit": conv.conv_backward_explicit(dZ, cache),
            "autodiff": jax.grad(objective, argnums=(0, 1, 2))(A_prev, W, b),
            "dW_conv": conv._dW_as_convolution(cache.P, dZ, f, s),
            # every candidate form autotune may pick (forward; dW and dP paired by index)
            "forms": {name: conv.conv_forward_form(A_prev, W, b, s, padding, name)[0]
                      for name in conv.FORWARD_FORMS},
            "backward_forms": {(w, p): conv.conv_backward_forms(dZ, cache, True, w, p)
                               for w, p in [*((w, "xla") for w in conv.DW_FORMS),
                                            *(("xla", p) for p in conv.DP_FORMS)]},
        }  # fmt: skip

    return run(A_prev, W, b, dZ)


@given(case=conv_cases)
def test_forward_and_backward_agree_float64(case, x64):
    """float64: the forwards agree to 1e-12; hand (explicit and fast) vs jax.grad ≤ 1e-10."""
    r = _everything(case, jnp.float64)
    np.testing.assert_allclose(r["Z_explicit"], r["Z_lax"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r["Z"], r["Z_lax"], rtol=1e-12, atol=1e-12)
    assert gradcheck.relative_error(r["dW_conv"], r["autodiff"][1]) <= 1e-10
    for name in ("fast", "explicit"):
        for got, want in zip(r[name], r["autodiff"], strict=True):
            assert got.shape == want.shape
            assert gradcheck.relative_error(got, want) <= 1e-10
    _all_forms_agree(r, 1e-12, 1e-10)


def _all_forms_agree(r, z_tol, grad_tol):
    """Every candidate forward form = lax's convolution; every dW and dP form = jax.grad."""
    assert set(r["forms"]) == {"xla", "offsets", "im2col"}
    for Z in r["forms"].values():
        np.testing.assert_allclose(Z, r["Z_lax"], rtol=z_tol, atol=z_tol)
    assert {p for _, p in r["backward_forms"]} == {"xla", "col2im", "offsets"}
    assert {w for w, _ in r["backward_forms"]} == {"xla", "offsets", "im2col", "im2col_cm"}
    for grads in r["backward_forms"].values():
        for got, want in zip(grads, r["autodiff"], strict=True):
            assert got.shape == want.shape
            assert gradcheck.relative_error(got, want) <= grad_tol


@settings(max_examples=4)
@given(case=conv_cases)
def test_backward_float32(case):
    r = _everything(case, jnp.float32)
    for name in ("fast", "explicit"):
        for got, want in zip(r[name], r["autodiff"], strict=True):
            assert gradcheck.relative_error(got, want) <= 1e-5
    _all_forms_agree(r, 1e-4, 1e-5)


@pytest.mark.parametrize("s, padding, f", [(2, "valid", 3), (3, 1, 4), (2, "same", 2)])
def test_backward_vs_finite_differences(s, padding, f, x64):
    """Odd sizes, a stride that does not divide, an even 'same' kernel: ≤ 1e-7 vs numeric."""
    A_prev, W, b, dZ = _problem(f, s, padding, 2, 3, 9, 8, 2, jnp.float64)
    # the hand backward as one compiled program, not op by op
    dA_prev, dW, db = jax.jit(lambda A_prev, W, b, dZ: conv.conv_backward(
        dZ, conv.conv_forward(A_prev, W, b, s, padding)[1]))(A_prev, W, b, dZ)  # fmt: skip
    params = {"A_prev": A_prev, "W": W, "b": b}

    def objective(p):
        return jnp.sum(conv.conv_forward(p["A_prev"], p["W"], p["b"], s, padding)[0] * dZ)

    report = gradcheck.check(objective, params, {"A_prev": dA_prev, "W": dW, "b": db})
    assert report.ok, report.format()


def test_skipping_the_input_gradient():
    A_prev, W, b, dZ = _problem(3, 1, "same", 1, 2, 6, 6, 1, jnp.float32)
    cache = conv.conv_forward(A_prev, W, b, 1, "same")[1]
    for backward in (conv.conv_backward, conv.conv_backward_explicit):
        dA_prev, dW, db = backward(dZ, cache, need_dA_prev=False)
        assert dA_prev is None and dW.shape == W.shape and db.shape == b.shape
