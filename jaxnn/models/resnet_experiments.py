"""Helpers of the ResNet experiments (experiments/resnet_*.py), here so that they are tested:
Fashion-MNIST padded to 32×32 as in He et al.'s CIFAR inputs, and per-layer gradient norms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import data


def fashion_mnist_32(m_train: int | None = None, m_test: int | None = None, data_dir=None):
    """``(X_train, Y_train, X_test, Y_test)``: images ``(m, 32, 32, 1)`` (28×28 with 2 zero
    pixels on every side), one-hot ``Y (10, m)``; the first ``m_train``/``m_test`` examples."""
    d = data.load("fashion_mnist", data_dir=data_dir)

    def images(X, m):
        X = data.in_layout(X[:, :m], (28, 28, 1), example_axis=0)
        return np.pad(X, ((0, 0), (2, 2), (2, 2), (0, 0)))

    return (images(d.X_train, m_train), data.one_hot(d.labels_train[:m_train], 10),
            images(d.X_test, m_test), data.one_hot(d.labels_test[:m_test], 10))  # fmt: skip


def weight_gradient_norms(model, variables, X, Y) -> list[tuple[str, float]]:
    """``[(path, ‖dW‖)]`` of every conv kernel and dense matrix, input to output, from the
    model's hand-derived backward in training mode."""
    _, grads = jax.jit(model.cost_and_grads)(variables, X, Y)
    grads = grads.get("params", grads) if isinstance(grads, dict) else grads
    order = {name: i for i, (name, _) in enumerate(model.net)}
    rows = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(grads)[0]:
        keys = [str(getattr(k, "key", k)) for k in path]
        if keys[-1] == "W":
            rows.append((order[keys[0]], keys, float(jnp.linalg.norm(leaf))))
    # within a block: conv1, conv2, then the shortcut's; blocks in network order
    rank = {"conv1": 0, "conv2": 1, "proj": 2}
    rows.sort(key=lambda r: (r[0], rank.get(r[1][1], 0) if len(r[1]) > 2 else 0))
    return [(".".join(keys[:-1]), norm) for _, keys, norm in rows]
