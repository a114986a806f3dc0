import jax.numpy as jnp
import pytest

from jaxnn import gradcheck


def test_relative_error_formula():
    a = jnp.array([3.0, 4.0])
    b = jnp.array([0.0, 0.0])
    assert gradcheck.relative_error(a, b) == pytest.approx(1.0)
    assert gradcheck.relative_error(a, a) == 0.0
    assert gradcheck.relative_error(b, b) == 0.0
    # ‖(1,0)‖ / (‖(3,4)‖ + ‖(2,4)‖)
    expected = 1.0 / (5.0 + jnp.sqrt(20.0))
    assert gradcheck.relative_error(a, jnp.array([2.0, 4.0])) == pytest.approx(float(expected))


def test_numerical_grad_of_a_known_function(x64):
    params = {"x": jnp.array([1.0, -2.0]), "y": jnp.array(3.0)}

    def f(p):
        return jnp.sum(p["x"] ** 3) * p["y"]

    grad = gradcheck.numerical_grad(f, params, 1e-6)
    assert grad["x"] == pytest.approx([9.0, 36.0], rel=1e-8)
    assert float(grad["y"]) == pytest.approx(-7.0, rel=1e-8)


def test_check_catches_a_wrong_hand_gradient(x64):
    params = {"x": jnp.array([1.0, 2.0])}

    def f(p):
        return jnp.sum(p["x"] ** 2)

    good = gradcheck.check(f, params, {"x": 2 * params["x"]})
    assert good.ok
    bad = gradcheck.check(f, params, {"x": 3 * params["x"]})  # wrong derivative
    assert not bad.ok
    assert "NO" in bad.format()


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_check_model_passes(model):
    assert gradcheck.check_model(model, (5, 4, 3), "relu", "softmax", x64=True).ok


@pytest.mark.parametrize("name", ["transformer", "gru"])
def test_float32_check_of_token_models_requests_no_int64(name):
    # The point is drawn under x64 (token ids int64); the float32 check used to pass those ids
    # on as int64, which JAX without x64 truncates with a UserWarning on every call.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = gradcheck.check_any(name, x64=False)
    assert report.ok


@pytest.mark.parametrize("m", [0, -1])
def test_no_examples_is_refused_not_passed(m):
    """Issue 33: ``gradcheck --m 0`` passed having compared nothing (every gradient is 0)."""
    from jaxnn.errors import ConfigError

    for check in (lambda: gradcheck.check_model("mlp", m=m),
                  lambda: gradcheck.check_model("lenet5", m=m),
                  lambda: gradcheck.check_any("rnn", m=m)):  # fmt: skip
        with pytest.raises(ConfigError, match="at least one example") as raised:
            check()
        assert "\n" not in str(raised.value)
