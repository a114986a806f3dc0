"""Layers as modules: each a forward that keeps a cache and a hand-derived backward beside it.

The notes' summary of backprop (§8) is the design: "the forward pass is a composition of
modules; in the backward pass each module computes the gradient of the loss with respect to
its inputs and parameters from the gradient with respect to its output". A ``Layer`` is that
module, as plain functions:

    shape(in_shape) -> out_shape                        per-example shapes, e.g. (28, 28, 1)
    init(key, in_shape, dtype) -> params                {} for layers without parameters
    forward(params, A_prev) -> (A, cache)
    backward(params, cache, dA, need_dA_prev) -> (dA_prev, dparams)
    macs(in_shape) -> multiply-adds per example          (conv and dense; 0 elsewhere)
    stochastic: forward takes a third argument, the step's key (None: evaluation)

``need_dA_prev=False`` (the first layer) skips the input gradient nobody uses.
``jaxnn.layers.sequential`` composes layers into a network; ``jaxnn.models`` builds the
architectures from them. Images are ``(m, n_H, n_W, n_C)``; after ``flatten``, columns
``(n, m)`` as in the notes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import activations, initializers
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import conv as conv_ops
from jaxnn.layers import dense as dense_ops
from jaxnn.layers import pool as pool_ops

Array = jax.Array


class Layer(NamedTuple):
    kind: str  # conv, max_pool, avg_pool, flatten, dense, activation
    describe: str  # e.g. "conv 5×5/1 same, 6"
    shape: Callable[[tuple], tuple]
    init: Callable[[Array, tuple, Any], dict]
    forward: Callable[[dict, Array], tuple[Array, Any]]
    backward: Callable[[dict, Any, Array, bool], tuple[Array | None, dict]]
    macs: Callable[[tuple], int]
    # stochastic layers (dropout): ``forward(params, A_prev, key)``; ``key=None`` is
    # evaluation (deterministic), a key is a training step's (``jaxnn.layers.sequential``)
    stochastic: bool = False


def _no_params(key, in_shape, dtype) -> dict:
    del key, in_shape, dtype
    return {}


def _no_macs(in_shape) -> int:
    del in_shape
    return 0


def _image(in_shape: tuple, kind: str) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise ShapeError(
            f"{kind} needs images (n_H, n_W, n_C) per example; got {in_shape}: put it before "
            "the flatten, and give the model image data (--input-shape H,W,C)"
        )
    return in_shape


BACKWARDS = {"fast": conv_ops.conv_backward, "explicit": conv_ops.conv_backward_explicit}


def conv2d(
    n_C: int, f: int, stride: int = 1, padding: str | int = "valid", init: str = "glorot",
    backward: str = "fast",
) -> Layer:  # fmt: skip
    """``Z = W ⋆ A_prev + b``: kernel ``W (f, f, n_C_prev, n_C)``, bias ``b (1, 1, 1, n_C)``
    (``jaxnn.layers.conv``). ``backward``: "fast" (XLA convolutions) or "explicit" (the loop
    over kernel offsets)."""
    if n_C < 1:
        raise ConfigError(f"a convolution needs ≥ 1 output channel; got {n_C}")
    conv_ops.conv_geometry(f, f, stride, padding)  # checks f, stride, padding
    weight_init = initializers.get(init)
    if backward not in BACKWARDS:
        raise ConfigError(f"conv backward {backward!r}: choose one of {', '.join(BACKWARDS)}")
    backward_fn = BACKWARDS[backward]

    def shape(in_shape):
        n_H, n_W, _ = _image(in_shape, "conv2d")
        return (conv_ops.conv_geometry(n_H, f, stride, padding).n_out,
                conv_ops.conv_geometry(n_W, f, stride, padding).n_out, n_C)  # fmt: skip

    def init_fn(key, in_shape, dtype):
        n_C_prev = _image(in_shape, "conv2d")[2]
        W = weight_init(key, (f, f, n_C_prev, n_C), dtype, fans=(f * f * n_C, f * f * n_C_prev))
        return {"W": W, "b": jnp.zeros((1, 1, 1, n_C), dtype)}

    def forward(params, A_prev):
        return conv_ops.conv_forward(A_prev, params["W"], params["b"], stride, padding)

    def backward_(params, cache, dZ, need_dA_prev):
        dA_prev, dW, db = backward_fn(dZ, cache, need_dA_prev)
        return dA_prev, {"W": dW, "b": db}

    def macs(in_shape):
        n_H, n_W, _ = shape(in_shape)
        return n_H * n_W * n_C * f * f * in_shape[2]

    pad_text = padding if isinstance(padding, str) else f"pad {padding}"
    return Layer("conv", f"conv {f}×{f}/{stride} {pad_text}, {n_C}", shape, init_fn, forward,
                 backward_, macs)  # fmt: skip


def _pool(kind: str, f: int, stride: int | None) -> Layer:
    stride = f if stride is None else stride
    conv_ops.conv_geometry(f, f, stride, "valid")
    forward_op, backward_op = {
        "max_pool": (pool_ops.max_pool_forward, pool_ops.max_pool_backward),
        "avg_pool": (pool_ops.avg_pool_forward, pool_ops.avg_pool_backward),
    }[kind]

    def shape(in_shape):
        n_H, n_W, n_C = _image(in_shape, kind)
        return (conv_ops.conv_geometry(n_H, f, stride, "valid").n_out,
                conv_ops.conv_geometry(n_W, f, stride, "valid").n_out, n_C)  # fmt: skip

    def forward(params, A_prev):
        return forward_op(A_prev, f, stride)

    def backward(params, cache, dA, need_dA_prev):
        return (backward_op(dA, cache) if need_dA_prev else None), {}

    name = "max pool" if kind == "max_pool" else "avg pool"
    return Layer(kind, f"{name} {f}×{f}/{stride}", shape, _no_params, forward, backward, _no_macs)


def max_pool(f: int = 2, stride: int | None = None) -> Layer:
    """Max pooling, window f×f, stride s (default f); ties go to the first maximum
    (``jaxnn.layers.pool``)."""
    return _pool("max_pool", f, stride)


def avg_pool(f: int = 2, stride: int | None = None) -> Layer:
    """Average pooling, window f×f, stride s (default f)."""
    return _pool("avg_pool", f, stride)


def flatten() -> Layer:
    """Images ``(m, n_H, n_W, n_C)`` to columns ``(n_H·n_W·n_C, m)``."""

    def shape(in_shape):
        return (math.prod(_image(in_shape, "flatten")),)

    def forward(params, A_prev):
        return dense_ops.flatten_forward(A_prev), A_prev.shape

    def backward(params, cache, dA, need_dA_prev):
        return (dense_ops.flatten_backward(dA, cache) if need_dA_prev else None), {}

    return Layer("flatten", "flatten", shape, _no_params, forward, backward, _no_macs)


def dense(n: int, init: str = "glorot") -> Layer:
    """``Z = W A_prev + b`` on columns, ``W (n, n_prev)``, ``b (n, 1)`` (notes §4)."""
    if n < 1:
        raise ConfigError(f"a dense layer needs ≥ 1 unit; got {n}")
    weight_init = initializers.get(init)

    def shape(in_shape):
        if len(in_shape) != 1:
            raise ShapeError(f"dense needs vectors per example; got {in_shape}: flatten first")
        return (n,)

    def init_fn(key, in_shape, dtype):
        return {"W": weight_init(key, (n, in_shape[0]), dtype), "b": jnp.zeros((n, 1), dtype)}

    def forward(params, A_prev):
        return dense_ops.dense_forward(A_prev, params["W"], params["b"])

    def backward(params, A_prev, dZ, need_dA_prev):
        dA_prev, dW, db = dense_ops.dense_backward(dZ, A_prev, params["W"], need_dA_prev)
        return dA_prev, {"W": dW, "b": db}

    def macs(in_shape):
        return n * in_shape[0]

    return Layer("dense", f"dense {n}", shape, init_fn, forward, backward, macs)


def activation(name: str) -> Layer:
    """``A = g(Z)`` elementwise; backward ``dZ = dA ⊙ g′(Z)`` (``jaxnn.activations``)."""
    if name not in activations.ELEMENTWISE:
        raise ConfigError(
            f"unknown activation {name!r}; choose one of: {', '.join(activations.ELEMENTWISE)}"
        )
    g, g_prime = activations.get(name)

    def forward(params, Z):
        return g(Z), Z

    def backward(params, Z, dA, need_dA_prev):
        return (dA * g_prime(Z) if need_dA_prev else None), {}

    return Layer("activation", name, lambda in_shape: in_shape, _no_params, forward, backward,
                 _no_macs)  # fmt: skip


__all__ = ["Layer", "activation", "avg_pool", "conv2d", "dense", "flatten", "max_pool"]
