"""Model families behind one interface, and the registry ``jaxnn train --model`` reads.

A ``Model`` is a bundle of pure functions over a params pytree, with its sizes bound:

    init(key, dtype=float32) -> params
    forward(params, X) -> A_L                       the output layer's activations (n_y, m)
    cost(params, X, Y, l2=0.0) -> J
    cost_and_grads(params, X, Y, l2=0.0) -> (J, grads)            hand-derived backward
    autodiff_cost_and_grads(params, X, Y, l2=0.0) -> (J, grads)   jax.value_and_grad(cost)

``X`` is in the model's layout: ``example_axis = 1`` for column models (``X (n_x, m)``, the
MLP) and ``0`` for image models (``X (m, n_H, n_W, n_C)``); ``Y`` is always ``(n_y, m)``
(one-hot columns for softmax). ``jaxnn.data`` delivers data in either layout; the training
loop (``jaxnn.train``), ``jaxnn.run``, ``jaxnn.sweep`` and ``jaxnn.gradcheck`` take any Model.

``build(name, input_shape, num_classes, **options)`` makes one; ``MODELS`` lists the names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.errors import ConfigError

Array = jax.Array


class Model(NamedTuple):
    name: str
    describe: str  # e.g. "784-500-10" or "lenet5 (28, 28, 1) -> 10"
    input_shape: tuple[int, ...]  # one example's shape: (n_x,) or (n_H, n_W, n_C)
    example_axis: int  # where the m examples sit in X: 1 (columns) or 0 (images)
    num_outputs: int
    output: str  # softmax or sigmoid (or linear for the MLP)
    init: Callable
    forward: Callable
    cost: Callable
    cost_and_grads: Callable
    autodiff_cost_and_grads: Callable
    summary: Callable | None = None  # () -> [jaxnn.layers.sequential.Row]
    net: tuple | None = None  # layer-built models: the named layers (jaxnn.layers.sequential)

    def batch_shape(self, m: int) -> tuple[int, ...]:
        """The shape of X holding m examples in this model's layout."""
        shape = list(self.input_shape)
        shape.insert(self.example_axis, m)
        return tuple(shape)


def predict(model: Model, params, X: Array) -> Array:
    """Class indices (m,) for softmax, 0/1 (1, m) for sigmoid (a ≥ 0.5), A_L for linear."""
    A_L = model.forward(params, X)
    if model.output == "softmax":
        return jnp.argmax(A_L, axis=0)
    if model.output == "sigmoid":
        return (A_L >= 0.5).astype(jnp.int32)
    return A_L


def accuracy(model: Model, params, X: Array, Y: Array) -> Array:
    """Fraction of correct predictions (softmax: argmax vs one-hot Y; sigmoid: a ≥ 0.5)."""
    predictions = predict(model, params, X)
    if model.output == "softmax":
        return jnp.mean(predictions == jnp.argmax(Y, axis=0))
    if model.output == "sigmoid":
        return jnp.mean(predictions == Y)
    raise ConfigError("accuracy needs a classifier output (sigmoid or softmax), not linear")


def _builders() -> dict[str, Callable[..., Model]]:
    from jaxnn.models import convnet, mlp

    return {"mlp": mlp.model, "lenet5": convnet.lenet5, "alexnet": convnet.alexnet,
            "vgg16": convnet.vgg16}  # fmt: skip


MODELS = ("mlp", "lenet5", "alexnet", "vgg16")
IMAGE_MODELS = ("lenet5", "alexnet", "vgg16")


def build(name: str, input_shape, num_classes: int, **options) -> Model:
    """The model ``name`` for examples of ``input_shape`` and ``num_classes`` classes.

    options: ``output`` (softmax | sigmoid), ``hidden`` (the activation), ``init`` (weight
    scheme); MLP: ``layers`` (the full layer_dims); CNNs: ``width`` (channel and hidden-unit
    multiplier), ``conv_backward`` (fast | explicit)."""
    builders = _builders()
    if name not in builders:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return builders[name](tuple(int(n) for n in input_shape), int(num_classes), **options)


__all__ = ["IMAGE_MODELS", "MODELS", "Model", "accuracy", "build", "predict"]
