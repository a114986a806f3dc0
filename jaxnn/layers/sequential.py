"""A network as a sequence of named layers: forward in order, backward in reverse.

``layers`` is a tuple of ``(name, Layer)``; params are ``{name: {"W": …, "b": …}}`` for the
layers that have parameters, and the gradients have the same structure. The backward walks
the layers in reverse, passing ``dA`` down and collecting each layer's ``dparams`` under its
name — the notes' summary of backprop (§8), literally.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from jaxnn.layers import Layer

Array = jax.Array
Layers = tuple[tuple[str, Layer], ...]


class Row(NamedTuple):
    """One line of a network's summary."""

    name: str
    describe: str
    out_shape: tuple
    params: int
    macs: int


def shapes(layers: Layers, input_shape: tuple) -> list[tuple]:
    """The per-example output shape of every layer (raises ShapeError where one cannot fit)."""
    out, shape = [], tuple(input_shape)
    for _, layer in layers:
        shape = layer.shape(shape)
        out.append(shape)
    return out


def init(layers: Layers, key: Array, input_shape: tuple, dtype) -> dict:
    """Params ``{name: {...}}``: one key per layer, folded in by position."""
    params, shape = {}, tuple(input_shape)
    for index, (name, layer) in enumerate(layers):
        layer_params = layer.init(jax.random.fold_in(key, index), shape, dtype)
        if layer_params:
            params[name] = layer_params
        shape = layer.shape(shape)
    return params


def _apply(layer, params: dict, A: Array, key, index: int):
    """One layer's forward; a stochastic layer (dropout) gets ``fold_in(key, index)`` — its
    own key of the step — or ``None`` (evaluation) when ``key`` is None."""
    if not layer.stochastic:
        return layer.forward(params, A)
    return layer.forward(params, A, None if key is None else jax.random.fold_in(key, index))


def forward(layers: Layers, params: dict, X: Array, key: Array | None = None
            ) -> tuple[Array, list]:  # fmt: skip
    """``A[L]`` and the caches of every layer. ``key``: a training step's key for the
    stochastic layers (dropout); ``None`` evaluates them deterministically."""
    caches, A = [], X
    for index, (name, layer) in enumerate(layers):
        A, cache = _apply(layer, params.get(name, {}), A, key, index)
        caches.append(cache)
    return A, caches


def has_state(layers: Layers) -> bool:
    """True when some layer keeps state (batch norm's running statistics)."""
    return any(layer.init_state is not None for _, layer in layers)


def init_state(layers: Layers, input_shape: tuple, dtype) -> dict:
    """The state ``{name: {...}}`` of the layers that keep one (running statistics)."""
    state, shape = {}, tuple(input_shape)
    for name, layer in layers:
        if layer.init_state is not None:
            state[name] = layer.init_state(shape, dtype)
        shape = layer.shape(shape)
    return state


def forward_state(
    layers: Layers, params: dict, state: dict, X: Array, train: bool
) -> tuple[Array, list, dict]:
    """``(A[L], caches, new_state)``: training mode (``train=True``: batch statistics, the
    caches ``backward`` takes, the updated state) or evaluation mode (running statistics;
    caches of the stateful layers are None)."""
    caches, new_state, A = [], {}, X
    for name, layer in layers:
        if layer.forward_state is None:
            A, cache = layer.forward(params.get(name, {}), A)
        else:
            A, cache, new_state[name] = layer.forward_state(params.get(name, {}), state[name],
                                                            A, train)  # fmt: skip
        caches.append(cache)
    return A, caches, new_state


def activations(layers: Layers, params: dict, X: Array) -> list[tuple[str, Array]]:
    """Every layer's output, by name: what the feature-map pictures show (evaluation:
    stochastic layers are deterministic)."""
    out, A = [], X
    for index, (name, layer) in enumerate(layers):
        A, _ = _apply(layer, params.get(name, {}), A, None, index)
        out.append((name, A))
    return out


def stochastic(layers: Layers) -> bool:
    """Whether any layer draws noise in training (the model then takes a step's key)."""
    return any(layer.stochastic for _, layer in layers)


def backward(layers: Layers, params: dict, caches: list, dA: Array) -> dict:
    """The gradients of every parameter from ``dA``, the gradient at the network's output."""
    return backward_to_input(layers, params, caches, dA, need_dX=False)[1]


def backward_to_input(
    layers: Layers, params: dict, caches: list, dA: Array, need_dX: bool = True
) -> tuple[Array | None, dict]:
    """``(dX, grads)``: ``backward``'s gradients and the gradient at the network's input,
    for a network whose input is itself computed (a decoder fed by an encoder's code, a
    discriminator fed by a generator's samples)."""
    grads = {}
    for index in range(len(layers) - 1, -1, -1):
        name, layer = layers[index]
        dA, dparams = layer.backward(params.get(name, {}), caches[index], dA,
                                     need_dX or index > 0)  # fmt: skip
        if dparams:
            grads[name] = dparams
    return dA, {name: grads[name] for name in params}


def has_backward2(layers: Layers) -> bool:
    """Whether every layer has a second-order backward (``Layer.backward2``)."""
    return all(layer.backward2 is not None for _, layer in layers)


def backward2(layers: Layers, params: dict, caches: list, d2A: Array, dA: Array) -> dict:
    """The diagonal second derivatives (Gauss–Newton, LeCun et al. 1998, Appendix C) of every
    parameter from ``d2A`` (``∂²E/∂A²`` at the network's output, the loss's diagonal) and
    ``dA`` (``∂E/∂A`` there): ``backward``'s walk, each layer's ``backward2`` in reverse.
    Only the last layer sees ``dA`` (its own curvature, kept where the loss is its output's:
    the RBF units); every other layer's second derivative is dropped (Gauss–Newton)."""
    d2grads = {}
    for index in range(len(layers) - 1, -1, -1):
        name, layer = layers[index]
        d2A, d2params = layer.backward2(params.get(name, {}), caches[index], d2A,
                                        dA if index == len(layers) - 1 else None,
                                        index > 0)  # fmt: skip
        if d2params:
            d2grads[name] = d2params
    return {name: d2grads[name] for name in params}


def summary(layers: Layers, input_shape: tuple) -> list[Row]:
    """Per layer: output shape, parameter count and multiply-adds per example."""
    params = jax.eval_shape(lambda: init(layers, jax.random.PRNGKey(0), input_shape, "float32"))
    rows, shape = [], tuple(input_shape)
    for name, layer in layers:
        count = sum(leaf.size for leaf in jax.tree.leaves(params.get(name, {})))
        rows.append(Row(name, layer.describe, layer.shape(shape), count, layer.macs(shape)))
        shape = layer.shape(shape)
    return rows
