import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import gradcheck, logistic
from jaxnn.errors import ShapeError


def _problem(n_x=6, m=11):
    X = jax.random.normal(jax.random.PRNGKey(0), (n_x, m), jnp.float64)
    Y = (jax.random.uniform(jax.random.PRNGKey(1), (1, m)) > 0.5).astype(jnp.float64)
    params = {
        "w": jax.random.normal(jax.random.PRNGKey(2), (n_x, 1), jnp.float64),
        "b": jnp.asarray(-0.3, jnp.float64),
    }
    return params, X, Y


def test_loop_equals_vectorized_equals_autodiff(x64):
    params, X, Y = _problem()
    vectorized = logistic.grads(params, X, Y)
    loop = logistic.grads_loop(params, X, Y)
    auto = jax.grad(logistic.cost)(params, X, Y)
    for key in params:
        assert vectorized[key].shape == params[key].shape
        assert gradcheck.relative_error(loop[key], vectorized[key]) <= 1e-12
        assert gradcheck.relative_error(vectorized[key], auto[key]) <= 1e-12
    numeric = gradcheck.numerical_grad(lambda p: logistic.cost(p, X, Y), params, 1e-6)
    assert gradcheck.relative_error(vectorized, numeric) <= 1e-7


def test_init_is_zeros_and_predicts_half():
    params = logistic.init(3)
    assert params["w"].shape == (3, 1) and params["b"].shape == ()
    np.testing.assert_allclose(logistic.forward(params, jnp.ones((3, 2))), [[0.5, 0.5]])
    np.testing.assert_array_equal(logistic.predict(params, jnp.ones((3, 2))), [[1, 1]])


def test_cost_at_zero_is_log_two():
    params = logistic.init(3)
    X = jnp.ones((3, 4))
    Y = jnp.array([[0.0, 1.0, 1.0, 0.0]])
    assert float(logistic.cost(params, X, Y)) == pytest.approx(np.log(2), rel=1e-6)


def test_wrong_shapes():
    params = logistic.init(3)
    with pytest.raises(ShapeError, match="n_x"):
        logistic.forward(params, jnp.ones((4, 2)))
    with pytest.raises(ShapeError, match="Y must be"):
        logistic.grads(params, jnp.ones((3, 2)), jnp.ones((2,)))
