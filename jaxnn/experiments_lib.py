"""Helpers shared by several experiments (kept in the library so they are tested)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn import data, mlp, train


def digits_arrays():
    """The bundled digits as device arrays: (X, Y one-hot, X_test, Y_test)."""
    ds = data.load("digits")
    return (jnp.asarray(ds.X_train), jnp.asarray(data.one_hot(ds.labels_train, 10)),
            jnp.asarray(ds.X_test), jnp.asarray(data.one_hot(ds.labels_test, 10)))  # fmt: skip


def train_digits(layers, hidden="relu", scheme="glorot", l2=0.0, lr=0.05, batch_size=32,
                 epochs=30, seed=0, train_examples=None) -> dict:  # fmt: skip
    """Train a softmax MLP on the digits; returns accuracies, costs and the cost history."""
    X, Y, X_test, Y_test = digits_arrays()
    if train_examples is not None:
        X, Y = X[:, :train_examples], Y[:, :train_examples]
    params = mlp.init(jax.random.PRNGKey(seed), list(layers), scheme)
    params, history = train.fit(
        params, X, Y, train.make_cost_and_grads("hand", hidden, "softmax", l2),
        train.make_optimizer(lr), epochs, batch_size, jax.random.PRNGKey(seed + 1),
    )  # fmt: skip
    return {
        "train_accuracy": float(mlp.accuracy(params, X, Y, hidden)),
        "test_accuracy": float(mlp.accuracy(params, X_test, Y_test, hidden)),
        "final_train_cost": float(mlp.cost(params, X, Y, hidden)),
        "final_test_cost": float(mlp.cost(params, X_test, Y_test, hidden)),
        "history": history,
        "params": params,
    }
