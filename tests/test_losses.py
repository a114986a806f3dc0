import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import losses


def test_bce_with_logits_matches_printed_formula(x64):
    Z = jnp.array([[-3.0, -0.5, 0.0, 0.7, 4.0]])
    Y = jnp.array([[0.0, 1.0, 1.0, 0.0, 1.0]])
    A = jax.nn.sigmoid(Z)
    np.testing.assert_allclose(
        losses.binary_cross_entropy_with_logits(Z, Y),
        losses.binary_cross_entropy(A, Y),
        rtol=1e-12,
    )


def test_softmax_ce_matches_naive_formula(x64):
    Z = jnp.array([[1.0, -2.0, 0.5], [0.0, 3.0, 0.5], [-1.0, 0.1, 0.5]])
    Y = jax.nn.one_hot(jnp.array([0, 1, 2]), 3).T
    A = jax.nn.softmax(Z, axis=0)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(Z, Y), losses.cross_entropy(A, Y), rtol=1e-12
    )


@pytest.mark.parametrize("z", [0.0, 1.0, -1.0, 20.0, -20.0, 88.0, -88.0, 1e4, -1e4, 1e9, -1e9])
def test_stable_losses_stay_finite(z):
    Z = jnp.array([[z, -z]], dtype=jnp.float32)
    Y = jnp.array([[1.0, 0.0]], dtype=jnp.float32)
    J, dZ = jax.value_and_grad(losses.binary_cross_entropy_with_logits)(Z, Y)
    assert np.isfinite(J) and np.all(np.isfinite(dZ))
    np.testing.assert_allclose(dZ, (jax.nn.sigmoid(Z) - Y) / 2, atol=1e-6)
    Zc = jnp.array([[z], [0.0], [-z]], dtype=jnp.float32)
    Yc = jnp.array([[0.0], [0.0], [1.0]], dtype=jnp.float32)
    J, dZ = jax.value_and_grad(losses.softmax_cross_entropy)(Zc, Yc)
    assert np.isfinite(J) and np.all(np.isfinite(dZ))
    np.testing.assert_allclose(dZ, jax.nn.softmax(Zc, axis=0) - Yc, atol=1e-6)


def test_squared_error_by_hand():
    A = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    Y = jnp.array([[0.0, 0.0], [1.0, 2.0]])
    # example 1: ½(1+1) = 1, example 2: ½(4+4) = 4, mean 2.5
    assert float(losses.squared_error(A, Y)) == pytest.approx(2.5)


def test_multiclass_hinge_by_hand():
    # cs231n's worked example: scores for 3 examples, labels cat=0, car=1, frog=2
    S = jnp.array([[3.2, 1.3, 2.2], [5.1, 4.9, 2.5], [-1.7, 2.0, -3.1]])
    y = jnp.array([0, 1, 2])
    # losses 2.9, 0, 12.9 -> mean 5.27
    assert float(losses.multiclass_hinge(S, y)) == pytest.approx(5.2666667, rel=1e-6)


def test_multiclass_hinge_grad_equals_autodiff(x64):
    S = jax.random.normal(jax.random.PRNGKey(1), (4, 6), jnp.float64)
    y = jnp.array([0, 1, 2, 3, 0, 1])
    auto = jax.grad(losses.multiclass_hinge)(S, y)
    np.testing.assert_allclose(losses.multiclass_hinge_grad(S, y), auto, atol=1e-15)


def test_l2_on_weights_only():
    params = {"W1": jnp.ones((2, 3)), "b1": jnp.ones((2, 1)), "W2": 2 * jnp.ones((1, 2))}
    # Ω = 6·1 + 2·4 = 14
    assert float(losses.l2_penalty(params, 0.5)) == pytest.approx(7.0)
    grads = losses.l2_penalty_grad(params, 0.5)
    auto = jax.grad(losses.l2_penalty)(params, 0.5)
    for key in params:
        np.testing.assert_allclose(grads[key], auto[key])
    assert float(jnp.abs(grads["b1"]).sum()) == 0.0


LOGITS = [0.0, 1.0, -1.0, 20.0, -20.0, 88.0, -88.0, 1e4, -1e4, 1e9, -1e9]


def _bce_reference(z, y):
    """float64 numpy: softplus(z) − y z, and its gradient σ(z) − y."""
    z = np.float64(z)
    return np.logaddexp(0.0, z) - y * z, 0.5 * (1.0 + np.tanh(z / 2)) - y


@pytest.mark.parametrize("z", LOGITS)
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_bce_value_and_gradient_correct_in_float32(z, y):
    Z = jnp.array([[z]], jnp.float32)
    Y = jnp.array([[y]], jnp.float32)
    J, dZ = jax.value_and_grad(losses.binary_cross_entropy_with_logits)(Z, Y)
    J_ref, dZ_ref = _bce_reference(np.float32(z), y)
    assert np.isfinite(J) and np.isfinite(dZ).all()
    np.testing.assert_allclose(float(J), J_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(float(dZ[0, 0]), dZ_ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("z", LOGITS)
def test_softmax_ce_value_and_gradient_correct_in_float32(z):
    Z = jnp.array([[z], [0.0], [-z / 2]], jnp.float32)
    for label in range(3):
        Y = jnp.eye(3, dtype=jnp.float32)[:, label : label + 1]
        J, dZ = jax.value_and_grad(losses.softmax_cross_entropy)(Z, Y)
        z64 = np.asarray(Z, np.float64)[:, 0]
        log_p = z64 - z64.max() - np.log(np.exp(z64 - z64.max()).sum())
        assert np.isfinite(J) and np.isfinite(dZ).all()
        np.testing.assert_allclose(float(J), -log_p[label], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(dZ[:, 0], np.exp(log_p) - np.eye(3)[label], atol=1e-6)


def test_softmax_ce_is_shift_invariant_in_float32():
    # multiples of 1/8 stay exact after adding 1e6 in float32 (spacing 0.0625 there)
    Z = jnp.asarray(np.random.default_rng(0).integers(-32, 32, (5, 7)) / 8, jnp.float32)
    Y = jax.nn.one_hot(jnp.arange(7) % 5, 5).T
    shifted = Z + jnp.float32(1e6)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(shifted, Y), losses.softmax_cross_entropy(Z, Y), rtol=1e-6
    )


@pytest.mark.parametrize("z", [1e9, -1e9, 1e4])
def test_other_losses_finite_at_extremes(z):
    S = jnp.array([[z], [0.0], [-z]], jnp.float32)
    J, dS = jax.value_and_grad(losses.multiclass_hinge)(S, jnp.array([1]))
    assert np.isfinite(J) and np.isfinite(dS).all()
    J, dA = jax.value_and_grad(losses.squared_error)(S, jnp.zeros_like(S))
    assert np.isfinite(J) and np.isfinite(dA).all()


def test_literal_zero_l2_adds_no_work_and_the_same_value():
    """λ = 0 as a literal skips Ω(θ) entirely; a traced λ = 0 computes it: same results."""
    import jax

    from jaxnn import mlp

    params = mlp.init(jax.random.PRNGKey(0), [4, 3, 2])
    assert losses.l2_is_zero(0.0) and losses.l2_is_zero(0) and not losses.l2_is_zero(1e-3)
    assert not losses.l2_is_zero(jnp.float32(0.0))  # an array may be traced: always computed
    assert float(losses.l2_penalty(params, 0.0)) == 0.0
    X = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    Y = jnp.eye(2)[:, jnp.array([0, 1, 1, 0, 1])]
    literal = jax.jit(lambda p: mlp.cost_and_grads(p, X, Y, l2=0.0))(params)
    traced = jax.jit(lambda p, l2: mlp.cost_and_grads(p, X, Y, l2=l2))(params, 0.0)
    for a, b in zip(jax.tree.leaves(literal), jax.tree.leaves(traced), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    text = jax.jit(lambda p: mlp.cost_and_grads(p, X, Y, l2=0.0)).lower(params).as_text()
    assert text.count("reduce") < jax.jit(lambda p, l2: mlp.cost_and_grads(p, X, Y, l2=l2)).lower(
        params, 0.0
    ).as_text().count("reduce")
