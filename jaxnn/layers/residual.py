"""Residual blocks (He et al. 2016): ``A = g(F(A_prev) + S(A_prev))`` with a hand-derived
backward.

``F`` is the block's main branch (ResNet's conv 3×3 → BN → ReLU → conv 3×3 → BN) and ``S``
the shortcut: the identity where shapes agree; where the main branch halves the map and
doubles the channels, either the paper's option A (``pad_shortcut``: every second position,
zero channels appended — no parameters; the CIFAR nets of §4.2 use it) or option B, a
projection (conv 1×1 with the stride, then BN). ``g`` is the ReLU after the addition.

**Backward.** With ``Z = F(A_prev) + S(A_prev)`` and ``dZ = dA ⊙ g′(Z)``, the addition passes
``dZ`` unchanged to *both* of its inputs (∂Z/∂F = ∂Z/∂S = I), and since A_prev feeds both
branches, its gradient is the sum over the fork:

    dA_prev = F′ᵀ dZ + S′ᵀ dZ        (identity shortcut: S′ᵀ dZ = dZ)

This is why shortcuts help deep nets: the identity term carries dZ to the block's input
whatever F's Jacobian does to it, so gradients reach early layers without passing through
every layer's weights (the per-layer gradient norms in docs/resnets.md).

**Option A's backward**: the padded channels receive nothing, the kept channels' gradients go
back to the positions they were taken from, every other position gets zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn import activations
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import Layer, _image, _no_macs, _no_params, sequential

Array = jax.Array


def pad_shortcut(n_C: int, stride: int = 2) -> Layer:
    """Option A: ``A_prev[:, ::s, ::s, :]`` with zero channels appended up to ``n_C``."""

    def shape(in_shape):
        n_H, n_W, n_C_prev = _image(in_shape, "pad_shortcut")
        if n_C < n_C_prev:
            raise ShapeError(f"a padding shortcut cannot go from {n_C_prev} to {n_C} channels")
        return (-(-n_H // stride), -(-n_W // stride), n_C)

    def forward(params, A_prev):
        kept = A_prev[:, ::stride, ::stride, :]
        pad = ((0, 0), (0, 0), (0, 0), (0, n_C - A_prev.shape[3]))
        return jnp.pad(kept, pad), tuple(A_prev.shape)

    def backward(params, shape_prev, dA, need_dA_prev):
        if not need_dA_prev:
            return None, {}
        dA_prev = jnp.zeros(shape_prev, dA.dtype)
        return dA_prev.at[:, ::stride, ::stride, :].set(dA[..., : shape_prev[3]]), {}

    return Layer("pad_shortcut", f"shortcut /{stride}, pad to {n_C}", shape, _no_params,
                 forward, backward, _no_macs)  # fmt: skip


def _sub(params: dict, part: sequential.Layers) -> dict:
    names = {name for name, _ in part}
    return {name: value for name, value in params.items() if name in names}


def residual(main: sequential.Layers, shortcut: sequential.Layers = (),
             activation: str = "relu", describe: str = "residual block") -> Layer:  # fmt: skip
    """A block ``A = g(F(A_prev) + S(A_prev))``: ``main`` and ``shortcut`` are named layers
    (``()``: the identity); their names must differ. Params and state are the branches',
    under the layers' names."""
    names = [name for name, _ in (*main, *shortcut)]
    if len(set(names)) != len(names):
        raise ConfigError(f"a residual block's layer names must differ; got {names}")
    g, g_prime = activations.get(activation)
    stateful = sequential.has_state(main) or sequential.has_state(shortcut)

    def shape(in_shape):
        out = sequential.shapes(main, in_shape)[-1]
        short = sequential.shapes(shortcut, in_shape)[-1] if shortcut else tuple(in_shape)
        if tuple(out) != tuple(short):
            raise ShapeError(
                f"{describe}: the main branch gives {out} and the shortcut {short}; use a "
                "projection or padding shortcut where the shapes change"
            )
        return tuple(out)

    def init(key, in_shape, dtype):
        short = sequential.init(shortcut, jax.random.fold_in(key, 1), in_shape, dtype)
        return {**sequential.init(main, key, in_shape, dtype), **short}

    def branches(params, state, A_prev, train):
        if state is None:
            Z_main, main_caches = sequential.forward(main, params, A_prev)
            Z_short, short_caches = sequential.forward(shortcut, params, A_prev)
            new_state = None
        else:
            Z_main, main_caches, s1 = sequential.forward_state(main, params, state, A_prev, train)
            Z_short, short_caches, s2 = sequential.forward_state(shortcut, params, state, A_prev,
                                                                 train)  # fmt: skip
            new_state = {**s1, **s2}
        Z = Z_main + Z_short
        return g(Z), (main_caches, short_caches, Z), new_state

    def forward(params, A_prev):
        A, cache, _ = branches(params, None, A_prev, True)
        return A, cache

    def backward(params, cache, dA, need_dA_prev):
        main_caches, short_caches, Z = cache
        dZ = dA * g_prime(Z)
        # the addition is a fork in reverse: dZ goes unchanged to both branches
        dX_main, grads = sequential.backward_to_input(main, _sub(params, main), main_caches,
                                                      dZ, need_dA_prev)  # fmt: skip
        dX_short = dZ
        if shortcut:
            dX_short, short_grads = sequential.backward_to_input(
                shortcut, _sub(params, shortcut), short_caches, dZ, need_dA_prev)  # fmt: skip
            grads = {**grads, **short_grads}
        return (dX_main + dX_short if need_dA_prev else None), grads

    def init_state(in_shape, dtype):
        return {**sequential.init_state(main, in_shape, dtype),
                **sequential.init_state(shortcut, in_shape, dtype)}  # fmt: skip

    def forward_state(params, state, A_prev, train):
        return branches(params, state, A_prev, train)

    def macs(in_shape):
        return sum(r.macs for part in (main, shortcut) for r in _rows(part, in_shape))

    return Layer("residual", describe, shape, init, forward, backward, macs,
                 init_state if stateful else None, forward_state if stateful else None)  # fmt: skip


def _rows(part: sequential.Layers, in_shape) -> list:
    return sequential.summary(part, in_shape) if part else []


__all__ = ["pad_shortcut", "residual"]
