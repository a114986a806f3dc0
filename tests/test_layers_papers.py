"""The papers' layers: dropout, random shifts, random affine distortions, grouped conv, LRN,
LeNet-5 1998's subsampling, partial conv and RBF output. Each: hand backward vs jax.grad
(float64 ≤ 1e-10, float32 ≤ 1e-5) over hypothesis-drawn shapes with batch 1 included, and vs
central differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import compilation_cache, gradcheck
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import distort, dropout, grouped_conv, lenet1998, lrn, shift

KEY = jax.random.PRNGKey(7)  # dropout's mask, the shifts' offsets in every check: fixed


def _apply(layer, params, X):
    if layer.stochastic:
        return layer.forward(params, X, KEY)
    return layer.forward(params, X)


def _point(layer, in_shape, m, dtype, seed):
    """A random point ``(params, X, dA)``: params N(0.3, 0.3²) (nonzero biases and
    coefficients), X and dA N(0, 1), drawn with numpy. (Through ``jax.random`` inside each
    case's program, threefry was most of its compile time: 4.1 s → 1.6 s over the seven
    layers.)"""
    rng = np.random.default_rng(seed)

    def draw(shape, loc=0.0, scale=1.0):
        return jnp.asarray(rng.normal(loc, scale, shape), dtype)

    shapes = jax.eval_shape(lambda key: layer.init(key, in_shape, dtype), KEY)
    params = jax.tree.map(lambda leaf: draw(leaf.shape, 0.3, 0.3), shapes)
    X = draw((m, *in_shape) if len(in_shape) == 3 else (*in_shape, m))
    A = jax.eval_shape(lambda p, X: _apply(layer, p, X)[0], params, X)
    return params, X, draw(A.shape)


def _objective(layer, dA):
    return lambda p, X: jnp.sum(_apply(layer, p, X)[0] * dA)


def _compared(layer, in_shape, m, dtype, seed=0):
    """(hand (dX, dparams), jax.grad's (dX, dparams), (params, X, dA)) of
    J = Σ forward(params, X) ⊙ dA at a random point (``_point``); the two gradients are one
    compiled program per case, not op by op."""

    def hand_and_auto(params, X, dA):
        _, cache = _apply(layer, params, X)
        dX, dparams = layer.backward(params, cache, dA, True)
        auto_dparams, auto_dX = jax.grad(_objective(layer, dA), argnums=(0, 1))(params, X)
        return (dX, dparams), (auto_dX, auto_dparams)

    point = _point(layer, in_shape, m, dtype, seed)  # another seed: the same program
    return (*compilation_cache.call(jax.jit(hand_and_auto), *point), point)


def _assert_close(layer, in_shape, m, dtype, tol, seed=0):
    (dX, dp), (adX, adp), _ = _compared(layer, in_shape, m, dtype, seed)
    assert dX.shape == adX.shape
    assert gradcheck.relative_error(dX, adX) <= tol
    for name in adp:
        assert gradcheck.relative_error(dp[name], adp[name]) <= tol, name


def _layers(c, groups):
    return {
        "dropout": (dropout.dropout(0.5), None),
        "shift": (shift.random_shift(2), None),
        "distort": (distort.random_affine(0.3), None),
        "grouped": (grouped_conv.grouped_conv2d(2 * groups, 3, groups, 1, 1), c * groups),
        "grouped_xla_s2": (grouped_conv.grouped_conv2d(groups, 2, groups, 2, "same"), c * groups),
        "lrn": (lrn.lrn(), None),
        "lrn_n3": (lrn.lrn(k=1.0, n=3, alpha=0.3, beta=0.75), None),
        "subsample": (lenet1998.subsample(2), None),
        "partial": (lenet1998.partial_conv(3, ((0, 1), (1, 2), (0, 2), (0, 1, 2))), 3),
    }


shapes = st.tuples(st.integers(1, 3), st.integers(4, 8), st.integers(4, 7), st.integers(1, 6),
                   st.integers(1, 3))  # m, n_H, n_W, n_C, groups  # fmt: skip
NAMES = (
    "dropout",
    "shift",
    "distort",
    "grouped",
    "grouped_xla_s2",
    "lrn",
    "lrn_n3",
    "subsample",
    "partial",
)


@settings(max_examples=3)
@given(case=shapes)
@pytest.mark.parametrize("name", NAMES)
def test_hand_equals_autodiff_float64(name, case, x64):
    m, h, w, c, groups = case
    layer, channels = _layers(c, groups)[name]
    _assert_close(layer, (h, w, channels or c), m, jnp.float64, 1e-10)


@settings(max_examples=1)
@given(case=shapes)
@pytest.mark.parametrize("name", NAMES)
def test_hand_equals_autodiff_float32(name, case):
    m, h, w, c, groups = case
    layer, channels = _layers(c, groups)[name]
    _assert_close(layer, (h, w, channels or c), m, jnp.float32, 1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_vs_central_differences(name, x64):
    layer, channels = _layers(3, 2)[name]
    (dX, dp), _, (params, X, dA) = _compared(layer, (7, 6, channels or 3), 2, jnp.float64)
    objective = _objective(layer, dA)
    report = gradcheck.check(lambda p: objective(p["params"], p["X"]),
                             {"params": params, "X": X}, {"params": dp, "X": dX})  # fmt: skip
    assert report.ok, report.format()


def test_rbf_hand_equals_autodiff_and_numeric(x64):
    layer = lenet1998.rbf(10)
    (dX, _), (adX, _), (params, X, dA) = _compared(layer, (84,), 3, jnp.float64)
    objective = _objective(layer, dA)
    assert gradcheck.relative_error(dX, adX) <= 1e-10
    report = gradcheck.check(lambda p: objective({}, p["X"]), {"X": X}, {"X": dX})
    assert report.ok, report.format()


def test_a_planted_bug_is_caught(x64):
    """The checks can fail: LRN's backward without its cross-channel term, dropout's without
    the 1/keep_prob, each disagree with jax.grad for every seed tried."""
    layer = lrn.lrn(alpha=0.1)
    for seed in range(3):
        (dX, _), (adX, _), (params, X, _) = _compared(layer, (4, 4, 5), 2, jnp.float64, seed)
        cache = lrn.lrn_forward(X, 2.0, 5, 0.1, 0.75)[1]
        dA = jax.random.normal(jax.random.PRNGKey(99), X.shape, jnp.float64)
        buggy = dA * cache.S ** (-0.75)  # the planted bug: the window term dropped
        right = lrn.lrn_backward(dA, cache, 5, 0.1, 0.75)
        assert gradcheck.relative_error(buggy, right) > 1e-3
        assert gradcheck.relative_error(dX, adX) <= 1e-10
        D = dropout.dropout_forward(X, 0.5, jax.random.PRNGKey(seed))[1]
        assert (
            gradcheck.relative_error(jnp.where(D, dA, 0), dropout.dropout_backward(dA, D, 0.5))
            > 0.1
        )


def test_a_planted_shift_bug_is_caught(x64):
    """The shift's backward with the forward's offsets (not their opposite) disagrees with
    jax.grad for every seed, where the derived one agrees to 1e-12."""
    for seed in range(3):
        X = jax.random.normal(jax.random.PRNGKey(seed), (4, 7, 6, 2), jnp.float64)
        dA = jax.random.normal(jax.random.PRNGKey(seed + 10), X.shape, jnp.float64)
        key = jax.random.PRNGKey(seed + 20)
        A, offsets = shift.shift_forward(X, 2, key)
        auto = jax.grad(lambda X, key, dA: jnp.sum(shift.shift_forward(X, 2, key)[0] * dA))(
            X, key, dA
        )
        right = shift.shift_backward(dA, offsets, 2)
        buggy = shift.shift_images(dA, offsets, 2)  # the planted bug: the forward shift again
        assert gradcheck.relative_error(right, auto) <= 1e-12
        assert gradcheck.relative_error(buggy, auto) > 0.1


# ---- the layers' own properties -------------------------------------------------------------


def test_dropout_is_inverted_and_deterministic_without_a_key():
    X = jnp.ones((1000, 50))
    A, D = dropout.dropout_forward(X, 0.5, jax.random.PRNGKey(0))
    assert set(np.unique(np.asarray(A))) <= {0.0, 2.0}  # kept units scaled by 1/keep_prob
    assert abs(float(A.mean()) - 1.0) < 0.02 and abs(float(D.mean()) - 0.5) < 0.02
    same, none = dropout.dropout_forward(X, 0.5, None)
    assert none is None and same is X  # evaluation: the identity
    np.testing.assert_array_equal(A, dropout.dropout_forward(X, 0.5, jax.random.PRNGKey(0))[0])
    with pytest.raises(ConfigError, match="dropout rate"):
        dropout.dropout(1.0)


def test_shift_moves_each_image_by_its_offset_and_is_the_identity_in_evaluation():
    """One bright pixel per image lands at (y + δy, x + δx); the offsets cover −k..k and no
    more; no key (evaluation) or k = 0 changes nothing; the same key, the same shifts."""
    m, k = 400, 2
    X = np.zeros((m, 9, 9, 1), np.float32)
    X[:, 4, 4, 0] = 1.0  # the centre: every shift keeps it inside
    A, offsets = shift.shift_forward(jnp.asarray(X), k, jax.random.PRNGKey(0))
    A, offsets = np.asarray(A), np.asarray(offsets)
    assert set(np.unique(offsets)) == set(range(-k, k + 1))
    for i in range(m):
        assert A[i, 4 + offsets[i, 0], 4 + offsets[i, 1], 0] == 1.0 and A[i].sum() == 1.0
    edge = np.zeros((1, 5, 5, 1), np.float32)
    edge[0, :, 0, 0] = 1.0  # the left column, shifted right by 1: zeros come in at the left
    moved = np.asarray(shift.shift_images(jnp.asarray(edge), jnp.array([[0, 1]]), 1))
    np.testing.assert_array_equal(moved[0, :, :, 0], np.roll(edge[0, :, :, 0], 1, axis=1))
    assert shift.shift_forward(jnp.asarray(X), k, None)[1] is None
    assert shift.shift_forward(jnp.asarray(X), k, None)[0] is not None
    np.testing.assert_array_equal(shift.shift_forward(jnp.asarray(X), 0, KEY)[0], X)
    np.testing.assert_array_equal(
        A, shift.shift_forward(jnp.asarray(X), k, jax.random.PRNGKey(0))[0]
    )
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="whole number of pixels"):
            shift.random_shift(bad)


def test_dropout_mask_does_not_depend_on_the_x64_mode():
    """The same key gives the same mask in float32 and x64 mode, and it is float32
    ``jax.random.bernoulli``'s mask (trained runs unchanged); issue 33: the float64 finite
    differences of a float32 gradient check saw another mask."""
    from jaxnn import compat

    key, X = jax.random.PRNGKey(3), np.ones((3, 5, 5, 8), np.float32)
    expected = np.asarray(jax.random.bernoulli(key, 0.75, X.shape))
    masks = []
    for x64 in (False, True):
        with compat.enable_x64(x64):
            masks.append(np.asarray(dropout.dropout_forward(jnp.asarray(X), 0.25, key)[1]))
    np.testing.assert_array_equal(masks[0], expected)
    np.testing.assert_array_equal(masks[1], expected)


def test_grouped_conv_forms_agree_and_groups_are_independent(x64):
    key = jax.random.PRNGKey(0)
    A_prev = jax.random.normal(key, (2, 9, 9, 6))
    W = jax.random.normal(jax.random.fold_in(key, 1), (3, 3, 3, 4))
    b = jax.random.normal(jax.random.fold_in(key, 2), (1, 1, 1, 4))
    Z_xla = grouped_conv.grouped_conv_forward(A_prev, W, b, 2, 2, 1, "xla")[0]
    Z_groups = grouped_conv.grouped_conv_forward(A_prev, W, b, 2, 2, 1, "groups")[0]
    np.testing.assert_allclose(Z_xla, Z_groups, rtol=1e-12, atol=1e-12)
    # output group 0 does not change when input group 1 does
    Z_other = grouped_conv.grouped_conv_forward(A_prev.at[..., 3:].set(0.0), W, b, 2, 2, 1)[0]
    np.testing.assert_allclose(Z_other[..., :2], Z_xla[..., :2], rtol=1e-12)
    with pytest.raises(ShapeError, match="groups must divide"):
        grouped_conv.grouped_conv_forward(A_prev, W[:, :, :2], b, 4)


def test_lrn_matches_the_papers_formula_by_hand(x64):
    A = jax.random.normal(jax.random.PRNGKey(3), (1, 2, 2, 7)) * 10
    B = lrn.lrn_forward(A, 2.0, 5, 1e-4, 0.75)[0]
    a = np.asarray(A)
    for c in range(7):
        lo, hi = max(0, c - 2), min(6, c + 2)
        S = 2.0 + 1e-4 * np.sum(a[..., lo : hi + 1] ** 2, axis=-1)
        np.testing.assert_allclose(B[..., c], a[..., c] / S**0.75, rtol=1e-12)
    with pytest.raises(ConfigError, match="odd"):
        lrn.lrn(n=4)


def test_table_i_and_the_codes():
    """Table I: 6 triples, 9 quadruples, 1 sextuple, 60 pairs; C3 has 1,516 parameters. The
    codes: ±1, orthogonal (84 = 42 agreements + 42 disagreements)."""
    sizes = [len(row) for row in lenet1998.TABLE_I]
    assert sizes == [3] * 6 + [4] * 9 + [6] and sum(sizes) == 60
    assert all(len(set(row)) == len(row) for row in lenet1998.TABLE_I)
    codes = lenet1998.hadamard_codes(10)
    assert set(np.unique(codes)) == {-1.0, 1.0}
    np.testing.assert_array_equal(codes @ codes.T, 84 * np.eye(10))


def test_partial_conv_weights_outside_the_table_stay_zero():
    """The dense kernel has zeros exactly where Table I has no entry, after SGD steps too."""
    layer = lenet1998.partial_conv(5)
    params = layer.init(jax.random.PRNGKey(0), (14, 14, 6), jnp.float32)
    assert params["W"].shape == (5, 5, 60)
    X = jax.random.normal(jax.random.PRNGKey(1), (2, 14, 14, 6))
    for _ in range(3):
        A, cache = layer.forward(params, X)
        _, grads = layer.backward(params, cache, A, True)
        params = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    full = np.asarray(lenet1998.full_kernel(params["W"], lenet1998.TABLE_I, 6))
    for k, row in enumerate(lenet1998.TABLE_I):
        for i in range(6):
            assert (np.any(full[:, :, i, k] != 0)) == (i in row)
