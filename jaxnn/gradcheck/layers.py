"""The three-way check of one layer: hand-derived backward vs ``jax.grad`` vs central
differences, for any ``jaxnn.layers.Layer`` — jaxnn's own or one a user writes
(docs/custom_layers.md). ``jaxnn.gradcheck.check_layer`` is this function.

The layer is checked alone, as the backward sees it inside a network: a random upstream
gradient ``dA`` makes the scalar ``J = Σ A ⊙ dA`` whose gradient with respect to the layer's
input and parameters is exactly what ``backward(params, cache, dA)`` must return.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn import compat, compilation_cache
from jaxnn.gradcheck.compare import check


def random_input(key, in_shape: tuple, m: int, dtype) -> jax.Array:
    """m examples of ``in_shape`` in the layers' layout: columns ``(n, m)`` for vectors,
    examples first ``(m, …)`` for images."""
    shape = (in_shape[0], m) if len(in_shape) == 1 else (m, *in_shape)
    return jax.random.normal(key, shape, dtype)


def check_layer(layer, input_shape, m: int = 2, seed: int = 0, x64: bool = True,
                max_per_leaf: int | None = None, params: dict | None = None):  # fmt: skip
    """``jaxnn.gradcheck.Report`` (print ``.format()``) of ``layer`` at ``input_shape`` (one
    example's shape) on m random examples: rows ``input`` (dA_prev) and ``params.<leaf>``.

    The params are the layer's ``init`` plus 0.1·N(0, 1) noise (so that no bias or β sits at
    zero and no unit exactly at a kink), unless given. ``x64``: float64 with the tight
    tolerances (``jaxnn.gradcheck.TOLERANCES``: 1e-10 hand vs jax.grad, 1e-6 vs the float64
    differences). ``max_per_leaf``: finite differences on that many random entries of each
    leaf (``None``: all)."""

    input_shape = tuple(input_shape)
    with compat.enable_x64(x64), jax.default_matmul_precision("highest"):
        dtype = jnp.float64 if x64 else jnp.float32
        key_p, key_noise, key_x, key_d = jax.random.split(jax.random.PRNGKey(seed), 4)
        if params is None:
            params = layer.init(key_p, input_shape, dtype)
            leaves, treedef = jax.tree.flatten(params)
            keys = jax.random.split(key_noise, max(len(leaves), 1))
            params = jax.tree.unflatten(treedef, [
                leaf + 0.1 * jax.random.normal(k, leaf.shape, dtype)
                for leaf, k in zip(leaves, keys, strict=False)])  # fmt: skip
        X = random_input(key_x, input_shape, m, dtype)
        A = jax.eval_shape(lambda params, X: layer.forward(params, X)[0], params, X)
        dA = jax.random.normal(key_d, A.shape, dtype)

        @jax.jit
        def hand_gradients(params, X, dA):  # one program, not op by op
            return layer.backward(params, layer.forward(params, X)[1], dA, True)

        dX, dparams = compilation_cache.call(hand_gradients, params, X, dA)

        def cost(tree):
            return jnp.sum(layer.forward(tree["params"], tree["input"])[0] * dA)

        point = {"input": X, "params": params}
        hand = {"input": dX, "params": dparams}
        if jax.tree.structure(dparams) != jax.tree.structure(params):
            from jaxnn.errors import GradcheckError

            raise GradcheckError(
                f"{layer.kind}'s backward returned gradients {jax.tree.structure(dparams)} "
                f"for params {jax.tree.structure(params)}: return one per parameter leaf"
            )
        return check(jax.jit(cost), point, hand, max_per_leaf=max_per_leaf)
