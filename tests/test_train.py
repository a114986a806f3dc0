import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import gradcheck, logistic, mlp, train
from jaxnn.errors import ConfigError


def _problem(m=30, seed=0):
    key = jax.random.PRNGKey(seed)
    X = jax.random.normal(key, (4, m))
    labels = (X[0] + X[1] > 0).astype(jnp.int32)
    Y = jax.nn.one_hot(labels, 2).T
    return X, Y


def test_one_optax_step_is_the_notes_update():
    """optax.sgd(α) applied to hand-derived grads is exactly w := w − α dw, b := b − α db."""
    X, Y = _problem()
    Yb = Y[1:2]
    params = {"w": jnp.full((4, 1), 0.1), "b": jnp.asarray(0.2)}
    alpha = 0.5
    optimizer = optax.sgd(alpha)
    step = train.make_step(
        lambda p, X, Y: (logistic.cost(p, X, Y), logistic.grads(p, X, Y)), optimizer
    )
    new_params, _, _ = step(params, optimizer.init(params), X, Yb)
    d = logistic.grads(params, X, Yb)
    np.testing.assert_array_equal(new_params["w"], params["w"] - alpha * d["w"])
    np.testing.assert_array_equal(new_params["b"], params["b"] - alpha * d["b"])


@pytest.mark.parametrize("batch_size", [1, 4, 7, 30])
def test_epoch_matches_a_python_loop_over_the_same_batches(batch_size):
    """Full batches by lax.scan, then the last partial batch: every example once per epoch."""
    X, Y = _problem(m=30)
    params = mlp.init(jax.random.PRNGKey(1), [4, 3, 2])
    optimizer = optax.sgd(0.1)
    step = train.make_step(train.make_cost_and_grads("hand", "tanh", "softmax"), optimizer)
    order = train.epoch_order(jax.random.PRNGKey(5), 0, 30)
    assert sorted(order.tolist()) == list(range(30))
    epoch = train.make_epoch(step, 30, batch_size)
    got, _, costs = epoch(params, optimizer.init(params), order, *train.device_rows(X, Y))
    assert costs.shape == (train.steps_per_epoch(30, batch_size),)

    expected, state = params, optimizer.init(params)
    for start in range(0, 30, batch_size):
        idx = order[start : start + batch_size]
        expected, state, _ = jax.jit(step)(expected, state, X[:, idx], Y[:, idx])
    for k in params:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-5, atol=1e-6)


def test_hand_and_autodiff_training_agree():
    X, Y = _problem(m=40)
    params = mlp.init(jax.random.PRNGKey(2), [4, 5, 2])
    optimizer = optax.sgd(0.3)
    results = {}
    for grads in train.GRADIENTS:
        step = train.make_step(train.make_cost_and_grads(grads, "relu", "softmax", 0.01),
                               optimizer)  # fmt: skip
        epoch = train.make_epoch(step, 40, 8)
        rows = train.device_rows(X, Y)
        p, s = params, optimizer.init(params)
        for e in range(5):
            p, s, _ = epoch(p, s, train.epoch_order(jax.random.PRNGKey(0), e, 40), *rows)
        results[grads] = p
    assert gradcheck.relative_error(results["hand"], results["autodiff"]) < 1e-5


def test_toy_problem_converges():
    X, Y = _problem(m=200)
    params = mlp.init(jax.random.PRNGKey(3), [4, 8, 2])
    optimizer = train.make_optimizer(0.5)
    step = train.make_step(train.make_cost_and_grads("hand", "tanh", "softmax"), optimizer)
    epoch = train.make_epoch(step, 200, 20)
    evaluate = train.make_evaluate("tanh", "softmax")
    state = optimizer.init(params)
    J0, _ = evaluate(params, X, Y)
    rows = train.device_rows(X, Y)
    for e in range(30):
        order = train.epoch_order(jax.random.PRNGKey(0), e, 200)
        params, state, _ = epoch(params, state, order, *rows)
    J, accuracy = evaluate(params, X, Y)
    assert float(J) < 0.25 * float(J0)
    assert float(accuracy) > 0.95


def test_decaying_learning_rate_per_epoch():
    optimizer = train.make_optimizer(1.0, decay_rate=0.5, steps_per_epoch=2)
    params = {"w": jnp.zeros(())}
    state = optimizer.init(params)
    sizes = []
    for _ in range(6):
        updates, state = optimizer.update({"w": jnp.ones(())}, state, params)
        sizes.append(-float(updates["w"]))
    assert sizes == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"learning_rate": 0.0}, "> 0"), ({"learning_rate": float("nan")}, "> 0"),
     ({"learning_rate": 0.1, "decay_rate": 1.5}, "decay"),
     ({"learning_rate": 0.1, "beta1": 0.5}, "momentum or adam"),
     ({"learning_rate": 0.1, "name": "adam", "beta1": 1.0}, r"\[0, 1\)")],
)  # fmt: skip
def test_bad_optimizer_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        train.make_optimizer(**kwargs)


def test_beta1_is_adams_first_moment_coefficient():
    """β₁ = 0: Adam's first step is −α g/√(g²) = −α sign(g) either way; the second differs."""
    params, grads = {"w": jnp.zeros(())}, [{"w": jnp.ones(())}, {"w": -jnp.ones(())}]
    steps = {}
    for beta1 in (None, 0.0):
        optimizer = train.make_optimizer(0.1, name="adam", beta1=beta1)
        state, steps[beta1] = optimizer.init(params), []
        for g in grads:
            updates, state = optimizer.update(g, state, params)
            steps[beta1].append(float(updates["w"]))
    assert steps[None][0] == pytest.approx(steps[0.0][0]) == pytest.approx(-0.1, rel=1e-4)
    assert steps[0.0][1] == pytest.approx(0.1, rel=1e-4) and steps[None][1] < 0.1 / 2


def test_batch_size_checks():
    step = train.make_step(train.make_cost_and_grads(), optax.sgd(0.1))
    with pytest.raises(ConfigError, match="larger than the 10"):
        train.make_epoch(step, 10, 11)
    with pytest.raises(ConfigError, match="≥ 1"):
        train.make_epoch(step, 10, 0)
    with pytest.raises(ConfigError, match="hand, autodiff"):
        train.make_cost_and_grads("numeric")


def test_params_finite_catches_a_bad_last_update():
    params = {"W1": jnp.ones((2, 2)), "b1": jnp.zeros((2, 1))}
    assert bool(train.params_finite(params))
    params["b1"] = params["b1"].at[1, 0].set(jnp.inf)
    assert not bool(train.params_finite(params))


def test_epoch_orders_are_reproducible_permutations():
    key = jax.random.PRNGKey(3)
    a, b = train.epoch_order(key, 4, 50), train.epoch_order(key, 4, 50)
    np.testing.assert_array_equal(a, b)
    assert sorted(a.tolist()) == list(range(50))
    assert not np.array_equal(a, train.epoch_order(key, 5, 50))
