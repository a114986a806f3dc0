"""Bad input gets a typed error that names the problem and the fix."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import logistic, mlp
from jaxnn.data import one_hot
from jaxnn.errors import ConfigError, DataError, LabelError, ShapeError

PARAMS = mlp.init(jax.random.PRNGKey(0), [4, 3, 2])
X = jnp.ones((4, 5))
Y = jnp.asarray(one_hot(np.array([0, 1, 0, 1, 1]), 2))


def test_wrong_rank():
    with pytest.raises(ShapeError, match="2-D"):
        mlp.cost(PARAMS, jnp.ones((4, 5, 1)), Y)


def test_features_not_fan_in_names_layer_and_both_sizes():
    with pytest.raises(ShapeError, match=r"X has 6 features.*layer 1.*expects 4"):
        mlp.cost(PARAMS, jnp.ones((6, 5)), Y)


def test_X_and_Y_with_different_m():
    with pytest.raises(ShapeError, match=r"\(2, 5\)"):
        mlp.cost(PARAMS, X, Y[:, :4])


def test_empty_batch():
    with pytest.raises(ShapeError, match="m = 0"):
        mlp.cost(PARAMS, jnp.ones((4, 0)), jnp.ones((2, 0)))


@pytest.mark.parametrize("labels", [[0, 2], [-1, 1], [0.5, 1.0]])
def test_bad_labels(labels):
    """optax would return a finite, wrong loss for label −1; jaxnn refuses."""
    with pytest.raises(LabelError, match="labels"):
        one_hot(np.array(labels), 2)


def test_one_hot_columns_must_sum_to_one():
    bad = Y.at[:, 2].set(0.0)
    with pytest.raises(LabelError, match="column 2 sums to 0"):
        mlp.cost(PARAMS, X, bad)
    with pytest.raises(LabelError, match="one-hot"):
        mlp.cost_and_grads(PARAMS, X, 2 * Y)


def test_bce_targets_outside_0_1():
    params = mlp.init(jax.random.PRNGKey(0), [4, 1])
    with pytest.raises(LabelError, match=r"\[0, 1\]"):
        mlp.cost(params, X, jnp.array([[0.0, 1.0, 2.0, 0.0, 1.0]]), output="sigmoid")


def test_nan_and_inf_in_X_give_count_and_first_index():
    bad = X.at[1, 3].set(jnp.nan).at[2, 0].set(jnp.inf)
    with pytest.raises(DataError, match=r"2 NaN/Inf value\(s\), the first at index \(1, 3\)"):
        mlp.forward(PARAMS, bad)


def test_integer_X_is_cast_not_rejected():
    pixels = np.arange(20, dtype=np.uint8).reshape(4, 5)
    A_int, _ = mlp.forward(PARAMS, pixels)
    A_float, _ = mlp.forward(PARAMS, jnp.asarray(pixels, jnp.float32))
    np.testing.assert_array_equal(A_int, A_float)
    assert A_int.dtype == jnp.float32


def test_float64_without_x64():
    with pytest.raises(ConfigError, match="jax_enable_x64"):
        mlp.init(jax.random.PRNGKey(0), [2, 2], dtype=jnp.float64)
    with pytest.raises(ConfigError, match="enable_x64"):
        logistic.init(3, dtype=jnp.float64)


def test_float64_with_x64_is_fine(x64):
    assert mlp.init(jax.random.PRNGKey(0), [2, 2], dtype=jnp.float64)["W1"].dtype == jnp.float64


def test_value_checks_are_skipped_under_jit():
    """Inside jit the values are not known; the shape checks still run."""
    J = jax.jit(mlp.cost)(PARAMS, X, Y)
    assert np.isfinite(J)
    with pytest.raises(ShapeError):
        jax.jit(mlp.cost)(PARAMS, jnp.ones((6, 5)), Y)


@pytest.mark.parametrize("dims", [[4, 0, 2], [0, 2]])
def test_hidden_size_zero(dims):
    with pytest.raises(ConfigError, match="at least one unit"):
        mlp.init(jax.random.PRNGKey(0), dims)
