import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import initializers, mlp
from jaxnn.errors import ConfigError


def test_glorot_bound_and_variance():
    fan_out, fan_in = 300, 500
    W = initializers.glorot_uniform(jax.random.PRNGKey(0), (fan_out, fan_in))
    limit = np.sqrt(6) / np.sqrt(fan_in + fan_out)
    assert float(jnp.abs(W).max()) <= limit
    # 150 000 samples: the sample variance is within 2% of 2/(fan_in+fan_out) (≈ 9σ of its
    # own sampling error, so this fails only if the formula is wrong).
    np.testing.assert_allclose(float(W.var()), 2 / (fan_in + fan_out), rtol=0.02)


def test_he_and_small_variances():
    W = initializers.he_normal(jax.random.PRNGKey(1), (400, 300))
    np.testing.assert_allclose(float(W.var()), 2 / 300, rtol=0.02)
    W = initializers.small_normal(jax.random.PRNGKey(2), (400, 300))
    np.testing.assert_allclose(float(W.std()), 0.01, rtol=0.02)


@pytest.mark.parametrize("scheme", list(initializers.SCHEMES))
def test_mlp_init_shapes_and_zero_biases(scheme):
    params = mlp.init(jax.random.PRNGKey(0), [4, 3, 2], scheme)
    assert params["W1"].shape == (3, 4) and params["b1"].shape == (3, 1)
    assert params["W2"].shape == (2, 3) and params["b2"].shape == (2, 1)
    assert float(jnp.abs(params["b1"]).sum() + jnp.abs(params["b2"]).sum()) == 0.0


def test_same_seed_same_weights():
    a = mlp.init(jax.random.PRNGKey(7), [5, 4, 3])
    b = mlp.init(jax.random.PRNGKey(7), [5, 4, 3])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_unknown_scheme():
    with pytest.raises(ConfigError, match="glorot"):
        initializers.get("orthogonal")
