import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from jaxnn import activations, gradcheck, logistic, mlp
from jaxnn.errors import ConfigError, ShapeError

# 6 hidden activations x 3 outputs already multiply the drawn cases: 2 drawn per pair (36 per
# check, was 90), besides width 1 and m = 1 (EDGE, below) in every pair
MAX_EXAMPLES = 2


@st.composite
def problems(draw):
    """Depth 1–4, widths 1–6 (1 included), m 1–7 (1 included), with or without L2."""
    depth = draw(st.integers(1, 4))
    dims = [draw(st.integers(1, 6)) for _ in range(depth + 1)]
    m = draw(st.sampled_from([1, 2, 5, 7]))
    l2 = draw(st.sampled_from([0.0, 0.05]))
    seed = draw(st.integers(0, 2**16))
    return dims, m, l2, seed


def _setup(dims, output, m, seed, dtype):
    """Random params — Glorot-scaled weights, biases N(0, 0.3²) so that the check does not
    only cover b = 0 — and a random problem of ``output``'s kind (as
    ``gradcheck.random_problem``'s), drawn with numpy: they are the checks' inputs, not their
    subject (``mlp.init`` and ``random_problem`` are tested on their own), and through
    ``jax.random`` every drawn shape compiled its threefry programs (145 programs, 18.6 s of
    this file's 46 s of compiling)."""
    if output == "softmax":
        dims = dims[:-1] + [max(dims[-1], 2)]  # at least two classes
    rng = np.random.default_rng(seed)
    params = {}
    for layer in range(1, len(dims)):
        fan_in, fan_out = dims[layer - 1], dims[layer]
        params[f"W{layer}"] = rng.normal(0.0, np.sqrt(2 / (fan_in + fan_out)), (fan_out, fan_in))
        params[f"b{layer}"] = rng.normal(0.0, 0.3, (fan_out, 1))
    n_x, n_y = dims[0], dims[-1]
    X = rng.normal(size=(n_x, m))
    if output == "softmax":
        Y = np.eye(n_y)[rng.integers(0, n_y, m)].T
    elif output == "sigmoid":
        Y = rng.integers(0, 2, (n_y, m))
    else:
        Y = rng.normal(size=(n_y, m))
    as_jax = functools.partial(jnp.asarray, dtype=dtype)
    return {k: as_jax(v) for k, v in params.items()}, as_jax(X), as_jax(Y)


@functools.cache
def _compiled(hidden, output):
    """One jit-compiled program per activation pair and shape (not one per primitive):
    ``compare`` gives (J_hand, hand, J_auto, auto), ``versus_numeric`` gives (the smallest
    |Z| of a hidden layer, hand, numeric). The random problem stays outside (``_setup``)."""

    def compare(params, X, Y, l2):
        J_hand, hand = mlp.cost_and_grads(params, X, Y, hidden, output, l2)
        J_auto, auto = mlp.autodiff_cost_and_grads(params, X, Y, hidden, output, l2)
        return J_hand, hand, J_auto, auto

    def versus_numeric(params, X, Y, l2):
        _, caches = mlp.forward(params, X, hidden, output)
        hidden_Z = [jnp.abs(c.Z).min() for c in caches[:-1]]
        min_abs_Z = jnp.min(jnp.stack(hidden_Z)) if hidden_Z else jnp.inf
        _, hand = mlp.cost_and_grads(params, X, Y, hidden, output, l2)
        numeric = gradcheck.numerical_grad(  # ε = 1e-5 in float64
            lambda p: mlp.cost(p, X, Y, hidden, output, l2), params
        )
        return min_abs_Z, hand, numeric

    return jax.jit(compare), jax.jit(versus_numeric)


# width 1 (input and hidden) and m = 1 in every pair, besides the drawn cases
EDGE = ([1, 1, 3], 1, 0.05, 7)


@pytest.mark.parametrize("output", mlp.OUTPUTS)
@pytest.mark.parametrize("hidden", activations.ELEMENTWISE)
@settings(max_examples=MAX_EXAMPLES)
@example(problem=EDGE)
@given(problem=problems())
def test_hand_grads_equal_autodiff_float64(x64, hidden, output, problem):
    dims, m, l2, seed = problem
    params, X, Y = _setup(dims, output, m, seed, jnp.float64)
    J_hand, hand, J_auto, auto = _compiled(hidden, output)[0](params, X, Y, l2)
    assert float(J_hand) == pytest.approx(float(J_auto), rel=1e-12)
    assert set(hand) == set(params)
    for key in params:
        assert hand[key].shape == params[key].shape
        assert gradcheck.relative_error(hand[key], auto[key]) <= 1e-10, key


@pytest.mark.parametrize("output", mlp.OUTPUTS)
@pytest.mark.parametrize("hidden", activations.ELEMENTWISE)
@settings(max_examples=MAX_EXAMPLES)
@example(problem=EDGE)
@given(problem=problems())
def test_hand_grads_equal_autodiff_float32(hidden, output, problem):
    dims, m, l2, seed = problem
    params, X, Y = _setup(dims, output, m, seed, jnp.float32)
    _, hand, _, auto = _compiled(hidden, output)[0](params, X, Y, l2)
    for key in params:
        assert hand[key].dtype == jnp.float32
        assert gradcheck.relative_error(hand[key], auto[key]) <= 1e-5, key


@pytest.mark.parametrize("output", mlp.OUTPUTS)
@pytest.mark.parametrize("hidden", activations.ELEMENTWISE)
@settings(max_examples=MAX_EXAMPLES)
@example(problem=EDGE)
@given(problem=problems())
def test_hand_grads_equal_finite_differences_float64(x64, hidden, output, problem):
    dims, m, l2, seed = problem
    params, X, Y = _setup(dims, output, m, seed, jnp.float64)
    min_abs_Z, hand, numeric = _compiled(hidden, output)[1](params, X, Y, l2)
    # central differences with eps = 1e-6 must not straddle a kink of ReLU / leaky ReLU
    assume(float(min_abs_Z) > 1e-3)
    # relative error over the whole gradient (per leaf, a leaf whose gradient is ~1e-4 of
    # the others would measure the finite differences' round-off, not the formula)
    assert gradcheck.relative_error(hand, numeric) <= 1e-7


def test_forward_shapes_and_caches():
    params = mlp.init(jax.random.PRNGKey(0), [4, 3, 2])
    X = jnp.ones((4, 5))
    A, caches = mlp.forward(params, X, "relu", "softmax")
    assert A.shape == (2, 5)
    assert [c.Z.shape for c in caches] == [(3, 5), (2, 5)]
    assert caches[0].A_prev is X
    np.testing.assert_allclose(A.sum(axis=0), np.ones(5), rtol=1e-6)


def test_linear_backward_worked_by_hand():
    dZ = jnp.array([[1.0, -1.0]])
    A_prev = jnp.array([[2.0, 4.0], [1.0, 1.0]])
    W = jnp.array([[3.0, 5.0]])
    dA_prev, dW, db = mlp.linear_backward(dZ, A_prev, W)
    np.testing.assert_allclose(dW, [[(2 - 4) / 2, 0.0]])
    np.testing.assert_allclose(db, [[0.0]])
    np.testing.assert_allclose(dA_prev, [[3.0, -3.0], [5.0, -5.0]])


def test_one_layer_sigmoid_mlp_is_logistic_regression(x64):
    key = jax.random.PRNGKey(3)
    X = jax.random.normal(key, (4, 9), jnp.float64)
    Y = (jax.random.uniform(jax.random.PRNGKey(4), (1, 9)) > 0.5).astype(jnp.float64)
    w = jax.random.normal(jax.random.PRNGKey(5), (4, 1), jnp.float64)
    lr_params = {"w": w, "b": jnp.asarray(0.2)}
    mlp_params = {"W1": w.T, "b1": jnp.full((1, 1), 0.2)}
    np.testing.assert_allclose(
        mlp.cost(mlp_params, X, Y, output="sigmoid"), logistic.cost(lr_params, X, Y), rtol=1e-12
    )
    _, g = mlp.cost_and_grads(mlp_params, X, Y, output="sigmoid")
    g_lr = logistic.grads(lr_params, X, Y)
    np.testing.assert_allclose(g["W1"], g_lr["w"].T, rtol=1e-12)
    np.testing.assert_allclose(g["b1"][0, 0], g_lr["b"], rtol=1e-12)


def test_jit_equals_eager(x64):
    params, X, Y = _setup([3, 4, 2], "softmax", 5, 0, jnp.float64)
    eager = mlp.cost_and_grads(params, X, Y, "tanh", "softmax", 0.1)
    jitted = jax.jit(mlp.cost_and_grads, static_argnums=(3, 4))(
        params, X, Y, "tanh", "softmax", 0.1
    )
    # Eager and jit run different XLA programs (fusion, reassociated sums, FMA, other
    # tanh/exp/log kernels, all varying by XLA version): they may differ by rounding, not by
    # the maths. Bound: the longest chain of roundings here (W1 X + b1, tanh, W2 A1 + b2,
    # softmax, log, the mean over m = 5, the 20-term L2 sum; back: A - Y, W2^T dZ2, 1 - A1^2,
    # the m-sums of dW, + 2 lambda W) is ~50 ops of <= 2 ulps each, in each of the two
    # programs: <= 200 ulps of the terms' magnitude, x5 for cancellation in sums of
    # mixed-sign terms -> 1000 eps = 2.2e-13, relative and absolute at the leaf's scale.
    # Still 5e5x below float32's eps: float32 anywhere on either path fails.
    tol = 1000 * np.finfo(np.float64).eps
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        assert a.dtype == b.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * float(np.max(np.abs(a))))


def test_predict_and_accuracy():
    params = {"W1": jnp.array([[1.0, 0.0], [0.0, 1.0]]), "b1": jnp.zeros((2, 1))}
    X = jnp.array([[2.0, 0.0, 1.0], [0.0, 3.0, 5.0]])
    Y = jax.nn.one_hot(jnp.array([0, 1, 0]), 2).T
    np.testing.assert_array_equal(mlp.predict(params, X, output="softmax"), [0, 1, 1])
    assert float(mlp.accuracy(params, X, Y, output="softmax")) == pytest.approx(2 / 3)


def test_shape_errors_name_the_problem():
    params = mlp.init(jax.random.PRNGKey(0), [4, 3, 2])
    with pytest.raises(ShapeError, match="4"):
        mlp.forward(params, jnp.ones((5, 3)))
    with pytest.raises(ShapeError, match="2-D"):
        mlp.forward(params, jnp.ones((4,)))
    with pytest.raises(ShapeError, match="Y must be"):
        mlp.cost(params, jnp.ones((4, 3)), jnp.ones((2, 4)))
    with pytest.raises(ConfigError, match="relu"):
        mlp.forward(params, jnp.ones((4, 3)), hidden="swish")
    with pytest.raises(ConfigError, match="softmax"):
        mlp.forward(params, jnp.ones((4, 3)), output="tanh")
    with pytest.raises(ConfigError, match="at least one unit"):
        mlp.init(jax.random.PRNGKey(0), [4, 0, 2])


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("scale", [1e4, 1e8])
def test_hand_backprop_exact_at_extreme_logits(output, scale):
    """dZ = A − Y needs no division: still finite and equal to autodiff when logits ~ ±1e9."""
    n_out = 3 if output == "softmax" else 1
    params = mlp.init(jax.random.PRNGKey(0), [4, 5, n_out])
    params["W2"] = params["W2"] * scale
    X = jax.random.normal(jax.random.PRNGKey(1), (4, 6)) * 10
    _, Y = gradcheck.random_problem(jax.random.PRNGKey(2), [4, 5, n_out], output, 6)
    J, hand = mlp.cost_and_grads(params, X, Y, "tanh", output)
    J_auto, auto = mlp.autodiff_cost_and_grads(params, X, Y, "tanh", output)
    assert np.isfinite(J) and all(np.isfinite(g).all() for g in hand.values())
    np.testing.assert_allclose(J, J_auto, rtol=1e-6)
    for key in params:
        assert gradcheck.relative_error(hand[key], auto[key]) <= 1e-5, key


@settings(max_examples=6)
@given(problem=problems(), hidden=st.sampled_from(activations.ELEMENTWISE),
       output=st.sampled_from(mlp.OUTPUTS))  # fmt: skip
def test_jit_equals_eager_and_inputs_are_not_mutated(problem, hidden, output):
    dims, m, l2, seed = problem
    params, X, Y = _setup(dims, output, m, seed, jnp.float32)
    params_np = {k: np.array(v) for k, v in params.items()}
    X_np, Y_np = np.array(X), np.array(Y)
    copies = ({k: v.copy() for k, v in params_np.items()}, X_np.copy(), Y_np.copy())
    eager = mlp.cost_and_grads(params_np, X_np, Y_np, hidden, output, l2)
    jitted = jax.jit(mlp.cost_and_grads, static_argnums=(3, 4))(
        params_np, X_np, Y_np, hidden, output, l2
    )
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # XLA may fuse and reorder
    for key in params_np:
        np.testing.assert_array_equal(params_np[key], copies[0][key])
    np.testing.assert_array_equal(X_np, copies[1])
    np.testing.assert_array_equal(Y_np, copies[2])
