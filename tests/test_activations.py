import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import activations
from jaxnn.errors import ConfigError

POINTS = np.array([-3.0, -1.5, -0.2, 0.3, 1.0, 2.5])


@pytest.mark.parametrize("name", activations.ELEMENTWISE)
def test_g_prime_equals_jax_grad_away_from_kinks(x64, name):
    g, g_prime = activations.get(name)
    Z = jnp.asarray(POINTS.reshape(2, 3), jnp.float64)
    auto = jax.vmap(jax.grad(lambda z: g(z)))(Z.ravel()).reshape(Z.shape)
    np.testing.assert_allclose(g_prime(Z), auto, rtol=1e-12, atol=1e-15)
    # and the jvp with a unit tangent gives the same diagonal
    _, tangent = jax.jvp(g, (Z,), (jnp.ones_like(Z),))
    np.testing.assert_allclose(g_prime(Z), tangent, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, expected", [("relu", 0.0), ("leaky_relu", 0.01), ("linear", 1.0)])
def test_kink_convention_matches_autodiff(name, expected):
    """At z = 0 jaxnn uses relu'(0) = 0 and leaky_relu'(0) = 0.01, what jax.grad returns."""
    g, g_prime = activations.get(name)
    zero = jnp.zeros((1, 1))
    assert float(g_prime(zero)[0, 0]) == pytest.approx(expected, rel=1e-6)
    assert float(jax.grad(lambda z: g(z).sum())(zero)[0, 0]) == float(g_prime(zero)[0, 0])


def test_values_worked_by_hand():
    Z = jnp.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(activations.relu(Z), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(activations.leaky_relu(Z), [[-0.02, 0.0, 3.0]])
    np.testing.assert_allclose(activations.sigmoid(jnp.zeros((1, 1))), [[0.5]])
    np.testing.assert_allclose(activations.tanh(jnp.zeros((1, 1))), [[0.0]])
    np.testing.assert_allclose(activations.sigmoid_prime(jnp.zeros((1, 1))), [[0.25]])


def test_softmax_columns_sum_to_one_and_are_stable():
    Z = jnp.array([[1.0, 1000.0, -1e9], [2.0, 1001.0, 0.0], [3.0, -5.0, 1e9]])
    A = activations.softmax(Z)
    assert A.shape == (3, 3)
    assert np.all(np.isfinite(A))
    np.testing.assert_allclose(A.sum(axis=0), np.ones(3), rtol=1e-6)
    np.testing.assert_allclose(A[:, 0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(), rtol=1e-6)


def test_sigmoid_is_softmax_with_two_classes(x64):
    z = jnp.array([[-2.0, 0.5, 4.0]])
    two = activations.softmax(jnp.concatenate([z, jnp.zeros_like(z)]))
    np.testing.assert_allclose(two[0], activations.sigmoid(z)[0], rtol=1e-12)


def test_softmax_prime_is_the_jacobian(x64):
    Z = jnp.array([[0.1, -1.0], [2.0, 0.3], [-0.5, 0.7]])
    J = activations.softmax_prime(Z)
    assert J.shape == (3, 3, 2)
    for i in range(2):
        auto = jax.jacobian(lambda z: activations.softmax(z[:, None])[:, 0])(Z[:, i])
        np.testing.assert_allclose(J[:, :, i], auto, rtol=1e-12, atol=1e-15)


def test_unknown_name_lists_choices():
    with pytest.raises(ConfigError, match="relu.*tanh|tanh.*relu"):
        activations.get("swish")
