"""The MLP as a stack of ``jaxnn.layers``: the part the generative models compose.

An encoder, a decoder, a generator and a discriminator are each the notes' MLP (§3, §4)
without its loss: ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = g(Z[l])`` for the hidden layers,
and the last layer's pre-activation ``Z[L]`` (logits, a code, μ and log σ²) as the output.
Built from ``jaxnn.layers.dense`` and ``jaxnn.layers.activation``, so the forward keeps
the caches and the backward is the layers' own hand-derived one, walked in reverse
(``jaxnn.layers.sequential.backward_to_input``), which also returns the gradient at the
stack's input — the link from a decoder down into an encoder, or from a discriminator
back into a generator.

Columns: ``X (n_0, m)``. Params ``{"fc1": {"W": (n_1, n_0), "b": (n_1, 1)}, …}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxnn import activations, layers, losses, validate
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import sequential

Array = jax.Array


def sizes(value, option: str, model: str) -> tuple[int, ...]:
    """An option's layer sizes as a tuple of ints ≥ 1 (one int is one layer; ``[]`` none)."""
    items = [value] if isinstance(value, (int, float, str)) else list(value or ())
    try:
        numbers = tuple(int(n) for n in items)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{model} option {option}={value!r} must be layer sizes, e.g. {option}=[256]"
        ) from None
    if any(n < 1 or n != float(item) for n, item in zip(numbers, items, strict=True)):
        raise ConfigError(
            f"{model} option {option}={list(items)}: every layer needs a whole number ≥ 1 of units"
        )
    return numbers


def size(value, option: str, model: str) -> int:
    """One size ≥ 1 (a code, latent or noise size): ``latent=0`` names itself."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = None
    if n is None or n < 1 or n != value:
        raise ConfigError(
            f"{model} option {option}={value!r} must be a whole number ≥ 1 (the size of "
            f"its {option} layer)"
        )
    return n


def check_choice(value, choices: dict[str, str], option: str, model: str) -> None:
    """``value`` one of ``choices`` (name -> what it means), else a ConfigError listing them."""
    if value not in choices:
        listed = ", ".join(f"{name} ({meaning})" for name, meaning in choices.items())
        raise ConfigError(f"{model} {option}={value!r}: choose {listed}")


def check_hidden(hidden: str, model: str) -> None:
    if hidden not in activations.ELEMENTWISE:
        raise ConfigError(
            f"{model}: unknown hidden activation {hidden!r}; choose one of: "
            f"{', '.join(activations.ELEMENTWISE)}"
        )


def stack(dims: Sequence[int], hidden: str = "relu", init: str = "glorot") -> sequential.Layers:
    """``dims = [n_0, n_1, …, n_L]``: dense layers ``fc1 … fcL``, each hidden one followed by
    ``g = hidden`` (``fc1_relu``); the last one's output is its pre-activation ``Z[L]``."""
    net = []
    for index, n in enumerate(dims[1:], start=1):
        net.append((f"fc{index}", layers.dense(n, init)))
        if index < len(dims) - 1:
            net.append((f"fc{index}_{hidden}", layers.activation(hidden)))
    return tuple(net)


def init(net: sequential.Layers, key: Array, n_in: int, dtype) -> dict:
    validate.dtype_available(dtype)
    return sequential.init(net, key, (n_in,), jnp.dtype(dtype))


def params_init(stacks: dict) -> Callable:
    """``init(key, dtype=float32) -> {name: that stack's params}`` for ``stacks = {name: (net,
    n_in)}``, one compiled program (eagerly, each random op would compile on its own)."""

    @functools.partial(jax.jit, static_argnums=1)
    def init_all(key, dtype=jnp.float32):
        keys = jax.random.split(key, len(stacks))
        return {name: init(net, keys[index], n_in, dtype)
                for index, (name, (net, n_in)) in enumerate(stacks.items())}  # fmt: skip

    return init_all


def vector_size(input_shape: tuple, model: str) -> int:
    """n_x of a model that takes one vector per example (ShapeError for images)."""
    if len(input_shape) != 1:
        raise ShapeError(
            f"the {model} takes one vector per example; got examples of shape {input_shape}. "
            "Load the data as columns (jaxnn.data's default layout)"
        )
    return int(input_shape[0])


def pixels_example(n_x: int) -> Callable:
    """``example(key, m, dtype) -> (X, Y)`` for models that learn from X alone: pixels
    ``X ~ U(0, 1) (n_x, m)`` and no targets, ``Y (0, m)``."""

    def example(key, m, dtype=jnp.float32):
        return jax.random.uniform(key, (n_x, m), dtype), jnp.zeros((0, m), dtype)

    return example


def forward(net: sequential.Layers, params: dict, X: Array) -> tuple[Array, list]:
    """``(Z[L], caches)``."""
    return sequential.forward(net, params, X)


def backward(net: sequential.Layers, params: dict, caches: list, dZ_L: Array,
             need_dX: bool = True) -> tuple[Array | None, dict]:  # fmt: skip
    """``(dX, grads)`` from ``dZ_L``, the gradient of the (already 1/m-averaged) cost at the
    last layer's pre-activation: the dense and activation layers' backward, in reverse."""
    return sequential.backward_to_input(net, params, caches, dZ_L, need_dX)


def columns(X: Array, n_x: int, model: str, dtype=None) -> Array:
    """``X (n_x, m)`` as floats (the params' dtype for integer pixels), its shape checked."""
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(dtype or jnp.float32)
    if X.ndim != 2 or X.shape[0] != n_x:
        raise ShapeError(
            f"{model} takes X (n_x, m) = ({n_x}, m), one example per column; got "
            f"{tuple(X.shape)}. Load the data as columns (jaxnn.data's default layout)"
        )
    if X.shape[1] == 0:
        raise ShapeError(f"{model}: X has no examples (m = 0): pass at least one column")
    validate.finite(X)
    return X


def _is_weight(path) -> bool:
    return str(getattr(path[-1], "key", path[-1])) == "W"


def l2_penalty(params: dict, l2) -> Array:
    """``λ Σ ‖W‖_F²`` over every weight matrix in nested params, never the biases (§5)."""
    if losses.l2_is_zero(l2):
        return jnp.zeros((), jax.tree.leaves(params)[0].dtype)
    weights = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
               if _is_weight(path)]  # fmt: skip
    return l2 * sum(jnp.sum(W**2) for W in weights)


def add_l2_grads(grads: dict, params: dict, l2) -> dict:
    """``grads`` plus ``2λ W`` on every weight (the gradient of ``l2_penalty``)."""
    if losses.l2_is_zero(l2):
        return grads
    return jax.tree_util.tree_map_with_path(
        lambda path, g, W: g + 2 * l2 * W if _is_weight(path) else g, grads, params
    )


def describe(dims: Sequence[int]) -> str:
    return "-".join(map(str, dims))
