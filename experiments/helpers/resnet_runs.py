"""Helpers of the ResNet experiments (experiments/resnet_*.py), here so that they are tested:
images padded to 32×32 as He et al.'s CIFAR inputs, and per-layer gradient norms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import data


def padded_32(dataset: str = "fashion_mnist", m_train: int | None = None,
              m_test: int | None = None, data_dir=None):  # fmt: skip
    """``(X_train, Y_train, X_test, Y_test)``: images ``(m, 32, 32, n_C)`` (Fashion-MNIST's
    28×28 with 2 zero pixels on every side, as He et al.'s CIFAR inputs; any smaller square
    images centred likewise), one-hot ``Y (10, m)``; the first ``m_train``/``m_test``."""
    d = data.load(dataset, data_dir=data_dir)
    n_H, _, _ = d.image_shape
    before, after = (32 - n_H) // 2, (32 - n_H + 1) // 2

    def images(X, m):
        X = data.in_layout(X[:, :m], d.image_shape, example_axis=0)
        return np.pad(X, ((0, 0), (before, after), (before, after), (0, 0)))

    C = d.num_classes
    return (images(d.X_train, m_train), data.one_hot(d.labels_train[:m_train], C),
            images(d.X_test, m_test), data.one_hot(d.labels_test[:m_test], C))  # fmt: skip


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
