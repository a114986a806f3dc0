"""The L-layer MLP with hand-derived backprop (notes §3, §4).

Column convention: ``X (n_x, m)``, ``Y (n_y, m)``; layer ``l`` has ``W{l} (n_l, n_{l-1})`` and
``b{l} (n_l, 1)``; ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = g[l](Z[l])``, ``A[0] = X``.
Params are the flat dict ``{"W1", "b1", …, "WL", "bL"}``; gradients use the same keys.

The output activation fixes the loss (the pairs for which ``dZ[L] = A[L] − Y``):

| output          | loss (``jaxnn.losses``)                                 |
|-----------------|---------------------------------------------------------|
| ``"sigmoid"``   | ``binary_cross_entropy_with_logits`` (Y in {0, 1})      |
| ``"softmax"``   | ``softmax_cross_entropy`` (Y one-hot, (C, m))           |
| ``"linear"``    | ``squared_error`` (regression)                          |

The L2 term follows the notes (§5): ``J + λ Σ_k ‖W⁽ᵏ⁾‖_F²``, gradient ``2λW``, biases exempt.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import activations, initializers, losses, validate
from jaxnn.errors import ConfigError, ShapeError

Array = jax.Array

OUTPUT_LOSSES = {
    "sigmoid": losses.binary_cross_entropy_with_logits,
    "softmax": losses.softmax_cross_entropy,
    "linear": losses.squared_error,
}
OUTPUTS = tuple(OUTPUT_LOSSES)


class LayerCache(NamedTuple):
    """What the forward pass keeps for layer l: its input A[l-1], W[l], b[l] and Z[l]."""

    A_prev: Array
    W: Array
    b: Array
    Z: Array


def init(
    key: Array,
    layer_dims: list[int] | tuple[int, ...],
    scheme: str = "glorot",
    dtype=jnp.float32,
) -> dict[str, Array]:
    """Weights from ``scheme`` (see ``jaxnn.initializers``), biases zero.

    ``layer_dims = [n_x, n_1, …, n_L]``; returns ``{"W1": (n_1, n_x), "b1": (n_1, 1), …}``.
    """
    dims = [int(d) for d in layer_dims]
    if len(dims) < 2:
        raise ConfigError(
            f"layer_dims {dims} needs at least an input and an output size, e.g. [784, 500, 10]"
        )
    for position, size in enumerate(dims):
        if size < 1:
            raise ConfigError(
                f"layer size {size} at position {position} of layer_dims {dims}: "
                "every layer needs at least one unit"
            )
    validate.dtype_available(dtype)
    initializers.get(scheme)  # an unknown scheme is a ConfigError here, not in the trace
    return _init(key, tuple(dims), scheme, jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _init(key: Array, dims: tuple[int, ...], scheme: str, dtype) -> dict[str, Array]:
    """``init`` as one compiled program (eagerly, each random op compiled on its own)."""
    weight_init = initializers.get(scheme)
    keys = jax.random.split(key, len(dims) - 1)
    params = {}
    for layer in range(1, len(dims)):
        shape = (dims[layer], dims[layer - 1])
        params[f"W{layer}"] = weight_init(keys[layer - 1], shape, dtype)
        params[f"b{layer}"] = jnp.zeros((dims[layer], 1), dtype)
    return params


def num_layers(params: dict) -> int:
    """L, the number of weight layers in ``params``."""
    L = sum(1 for key in params if key.startswith("W"))
    expected = {f"{p}{layer}" for layer in range(1, L + 1) for p in "Wb"}
    if L == 0 or set(params) != expected:
        raise ShapeError(
            f"MLP params must be the keys W1, b1, …, WL, bL; got {sorted(params)}. "
            "Build them with jaxnn.mlp.init(key, layer_dims)."
        )
    return L


def layer_dims(params: dict) -> list[int]:
    """``[n_x, n_1, …, n_L]`` read off the weights' shapes."""
    L = num_layers(params)
    return [params["W1"].shape[1]] + [params[f"W{layer}"].shape[0] for layer in range(1, L + 1)]


def _check_output(output: str) -> None:
    if output not in OUTPUT_LOSSES:
        raise ConfigError(
            f"unknown output activation {output!r}; choose one of: {', '.join(OUTPUTS)} "
            "(sigmoid pairs with binary cross-entropy, softmax with cross-entropy, "
            "linear with squared error)"
        )


def _check_hidden(hidden: str) -> None:
    if hidden not in activations.ELEMENTWISE:
        raise ConfigError(
            f"unknown hidden activation {hidden!r}; choose one of: "
            f"{', '.join(activations.ELEMENTWISE)}"
        )


def _check_X(params: dict, X: Array) -> None:
    if X.ndim != 2:
        raise ShapeError(
            f"X must be 2-D (n_x, m), one example per column; got shape {tuple(X.shape)}. "
            "Reshape a single example x to (n_x, 1); transpose a row-major batch with X.T."
        )
    n_x = params["W1"].shape[1]
    if X.shape[0] != n_x:
        raise ShapeError(
            f"X has {X.shape[0]} features (rows) but layer 1 (W1 {tuple(params['W1'].shape)}) "
            f"expects {n_x}. Pass X as (n_x, m) with one example per column, or change "
            "layer_dims[0]."
        )
    if X.shape[1] == 0:
        raise ShapeError("X has no examples (m = 0): pass at least one column")
    validate.finite(X)


def _check_Y(params: dict, X: Array, Y: Array) -> None:
    L = num_layers(params)
    n_y = params[f"W{L}"].shape[0]
    if Y.ndim != 2 or Y.shape != (n_y, X.shape[1]):
        raise ShapeError(
            f"Y must be (n_y, m) = ({n_y}, {X.shape[1]}) to match the output layer and X; "
            f"got {tuple(Y.shape)}. One-hot labels with jaxnn.data.one_hot(labels, C)."
        )


def _as_float(params: dict, X: Array) -> Array:
    """Integer inputs (e.g. uint8 pixels) are cast to the params' float dtype, unscaled:
    scale them first (jaxnn.data.features.scale_01) if they are raw intensities."""
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(params["W1"].dtype)
    return X


def forward(
    params: dict, X: Array, hidden: str = "relu", output: str = "softmax"
) -> tuple[Array, list[LayerCache]]:
    """Forward pass: ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = g[l](Z[l])``, ``A[0] = X``.

    Returns ``A[L]`` (n_L, m) and the caches ``[(A[0], W1, b1, Z1), …]`` for ``backward``.
    """
    _check_hidden(hidden)
    _check_output(output)
    L = num_layers(params)
    X = _as_float(params, X)
    _check_X(params, X)
    g_hidden = activations.get(hidden).g
    g_output = activations.get(output).g
    caches = []
    A = X
    for layer in range(1, L + 1):
        W, b = params[f"W{layer}"], params[f"b{layer}"]
        Z = W @ A + b
        caches.append(LayerCache(A, W, b, Z))
        A = g_output(Z) if layer == L else g_hidden(Z)
    return A, caches


def cost_from_logits(Z_L: Array, Y: Array, output: str = "softmax") -> Array:
    """The data cost J from the output pre-activation ``Z[L]`` (stable losses)."""
    _check_output(output)
    if output == "linear":
        return losses.squared_error(Z_L, Y)
    return OUTPUT_LOSSES[output](Z_L, Y)


def cost(
    params: dict,
    X: Array,
    Y: Array,
    hidden: str = "relu",
    output: str = "softmax",
    l2: float = 0.0,
) -> Array:
    """J(θ) = (1/m) Σ_i ℓ(f(x⁽ⁱ⁾; θ), y⁽ⁱ⁾) + λ Σ_k ‖W⁽ᵏ⁾‖_F²."""
    return _forward_cost(params, X, Y, hidden, output, l2)[0]


def _forward_cost(params, X, Y, hidden, output, l2):
    """The forward pass, the target checks and J: shared by ``cost`` and ``cost_and_grads``."""
    _, caches = forward(params, X, hidden, output)
    _check_Y(params, X, Y)
    validate.targets(Y, output)
    J = cost_from_logits(caches[-1].Z, Y, output) + losses.l2_penalty(params, l2)
    return J, caches


def linear_backward(dZ: Array, A_prev: Array, W: Array) -> tuple[Array, Array, Array]:
    """Backward through ``Z = W A_prev + b``.

        dW = (1/m) dZ A_prevᵀ,   db = (1/m) Σ_columns dZ,   dA_prev = Wᵀ dZ

    Shapes: dZ (n_l, m), A_prev (n_{l-1}, m), W (n_l, n_{l-1}).
    """
    m = A_prev.shape[1]
    dW = dZ @ A_prev.T / m
    db = jnp.sum(dZ, axis=1, keepdims=True) / m
    return W.T @ dZ, dW, db


def backward(
    params: dict,
    caches: list[LayerCache],
    Y: Array,
    hidden: str = "relu",
    output: str = "softmax",
    l2: float = 0.0,
) -> dict[str, Array]:
    """Hand-derived gradients of ``cost`` (notes §4), same keys as ``params``.

        dZ[L] = A[L] − Y
        dW[l] = (1/m) dZ[l] A[l-1]ᵀ + 2λ W[l],   db[l] = (1/m) Σ_columns dZ[l]
        dZ[l-1] = W[l]ᵀ dZ[l] * g'(Z[l-1])        (* elementwise)

    Each gradient has the shape of its parameter; ``autodiff_cost_and_grads`` is the reference.
    """
    _check_hidden(hidden)
    _check_output(output)
    g_prime = activations.get(hidden).g_prime
    L = len(caches)
    A_L = activations.get(output).g(caches[-1].Z)
    # sigmoid+BCE, softmax+CE and linear+½‖·‖² all collapse to this; never divide by A(1−A)
    dZ = A_L - Y
    grads = {}
    for layer in range(L, 0, -1):
        cache = caches[layer - 1]
        dA_prev, dW, db = linear_backward(dZ, cache.A_prev, cache.W)
        grads[f"W{layer}"] = dW if losses.l2_is_zero(l2) else dW + 2 * l2 * cache.W
        grads[f"b{layer}"] = db
        if layer > 1:
            dZ = dA_prev * g_prime(caches[layer - 2].Z)
    return {key: grads[key] for key in params}


def cost_and_grads(
    params: dict,
    X: Array,
    Y: Array,
    hidden: str = "relu",
    output: str = "softmax",
    l2: float = 0.0,
) -> tuple[Array, dict[str, Array]]:
    """``(J, grads)`` with one forward pass and the hand-derived backward pass."""
    J, caches = _forward_cost(params, X, Y, hidden, output, l2)
    return J, backward(params, caches, Y, hidden, output, l2)


def autodiff_cost_and_grads(
    params: dict,
    X: Array,
    Y: Array,
    hidden: str = "relu",
    output: str = "softmax",
    l2: float = 0.0,
) -> tuple[Array, dict[str, Array]]:
    """``(J, grads)`` from ``jax.value_and_grad(cost)``: the reference for ``backward``."""
    return jax.value_and_grad(cost)(params, X, Y, hidden, output, l2)


def predict(params: dict, X: Array, hidden: str = "relu", output: str = "softmax") -> Array:
    """Predictions: class indices (m,) for softmax, 0/1 (n_y, m) for sigmoid (a ≥ 0.5),
    and the outputs A[L] themselves for linear."""
    A_L, _ = forward(params, X, hidden, output)
    if output == "softmax":
        return jnp.argmax(A_L, axis=0)
    if output == "sigmoid":
        return (A_L >= 0.5).astype(jnp.int32)
    return A_L


def accuracy(
    params: dict, X: Array, Y: Array, hidden: str = "relu", output: str = "softmax"
) -> Array:
    """Fraction of correct predictions (softmax: argmax vs one-hot Y; sigmoid: a ≥ 0.5)."""
    predictions = predict(params, X, hidden, output)
    if output == "softmax":
        return jnp.mean(predictions == jnp.argmax(Y, axis=0))
    if output == "sigmoid":
        return jnp.mean(predictions == Y)
    raise ConfigError("accuracy needs a classifier output (sigmoid or softmax), not linear")


init_params = init  # ``model``'s ``init`` option (the scheme) shadows the name below


def model(
    input_shape: tuple[int, ...],
    num_classes: int,
    layers=None,
    hidden: str = "relu",
    output: str = "softmax",
    init: str = "glorot",
):
    """The MLP as a ``jaxnn.models.Model``: ``layers`` is the full ``layer_dims`` (default
    ``[n_x, 64, C]``; one output unit for sigmoid). Examples are columns, ``X (n_x, m)``."""
    from jaxnn.models import Model

    if len(input_shape) != 1:
        raise ShapeError(
            f"the MLP takes one vector per example; got examples of shape {input_shape}. "
            "Load the data as columns (jaxnn.data's default layout)"
        )
    _check_hidden(hidden)
    _check_output(output)
    n_x = input_shape[0]
    n_out = 1 if output == "sigmoid" else num_classes
    dims = [int(d) for d in layers] if layers else [n_x, 64, n_out]
    if dims[0] != n_x:
        raise ShapeError(
            f"--layers starts with {dims[0]} but the data has {n_x} features per example: "
            f"use --layers {','.join(map(str, [n_x, *dims[1:]]))}"
        )
    if dims[-1] != n_out:
        raise ShapeError(
            f"--layers ends with {dims[-1]} but --output {output} on {num_classes} classes "
            f"needs {n_out} output units"
        )
    scheme = init
    initializers.get(scheme)

    def init_fn(key, dtype=jnp.float32):
        return init_params(key, dims, scheme, dtype)

    def forward_fn(params, X):
        return forward(params, X, hidden, output)[0]

    def cost_fn(params, X, Y, l2=0.0):
        return cost(params, X, Y, hidden, output, l2)

    def hand(params, X, Y, l2=0.0):
        return cost_and_grads(params, X, Y, hidden, output, l2)

    def autodiff(params, X, Y, l2=0.0):
        return autodiff_cost_and_grads(params, X, Y, hidden, output, l2)

    return Model("mlp", "-".join(map(str, dims)), (n_x,), 1, n_out, output, init_fn,
                 forward_fn, cost_fn, hand, autodiff)  # fmt: skip
