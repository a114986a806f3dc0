"""jaxnn.gradcheck.check_layer: passes a correct layer, names the leaf of a wrong backward,
and refuses gradients that do not match the params."""

import jax.numpy as jnp
import pytest

from jaxnn import gradcheck, layers
from jaxnn.errors import GradcheckError


def test_jaxnn_layers_pass_in_float64_and_float32():
    for x64 in (True, False):
        report = gradcheck.check_layer(layers.dense(3), (4,), m=2, x64=x64)
        assert report.ok and {r.name for r in report.rows} == {"input", "params.W", "params.b"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_wrong_bias_gradient_is_named(seed):
    dense = layers.dense(3)

    def backward(params, A_prev, dZ, need):
        dA_prev, grads = dense.backward(params, A_prev, dZ, need)
        return dA_prev, {**grads, "b": jnp.mean(dZ, axis=1, keepdims=True)}  # 1/m too many

    report = gradcheck.check_layer(dense._replace(backward=backward), (4,), m=3, seed=seed)
    assert [r.name for r in report.rows if not r.ok] == ["params.b"]


def test_gradients_of_another_structure_are_refused():
    dense = layers.dense(3)
    wrong = dense._replace(backward=lambda p, c, d, n: (dense.backward(p, c, d, n)[0], {}))
    with pytest.raises(GradcheckError, match="one per parameter leaf"):
        gradcheck.check_layer(wrong, (4,))
