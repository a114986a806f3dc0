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
    backward2(params, cache, d2A, dA, need_d2A_prev) -> (d2A_prev, d2params)
                                  optional: the *second* derivatives, diagonal Gauss–Newton
                                  (LeCun et al. 1998, Appendix C), for the stochastic
                                  diagonal Levenberg–Marquardt optimizer (``jaxnn.optim``)

The second-order backward mirrors the first: ``d2A`` is ``∂²E/∂A²`` at the layer's output
(one number per unit and example, the Hessian's diagonal), and each layer returns it at its
input and for its parameters. With the Hessian's off-diagonal terms and the second
derivatives of the layers' own functions dropped, every rule is the first-order one with its
factors squared: a linear connection ``z += u·x`` gives ``∂²E/∂u² = x² ∂²E/∂z²`` and
``∂²E/∂x² = Σ u² ∂²E/∂z²``, an elementwise ``a = g(z)`` gives ``∂²E/∂z² = g′(z)² ∂²E/∂a²``;
a shared weight sums over its connections. ``dA`` (the first derivative at the output) is
given only to the network's last layer: the RBF output keeps its own curvature (its
penalties are the loss's; ``jaxnn.layers.lenet1998.rbf_backward2``); others ignore it.

A layer with *state* (batch norm's running statistics: not learned, not updated by the
optimizer) adds two functions; ``forward``/``backward`` are then its training mode:

    init_state(in_shape, dtype) -> state
    forward_state(params, state, A_prev, train) -> (A, cache, new_state)
                                  train=True: as forward, and the updated state;
                                  train=False: evaluation mode (cache None, state unchanged)

``need_dA_prev=False`` (the first layer) skips the input gradient nobody uses.
The factories ``batch_norm``, ``layer_norm`` and ``dense`` share their names with the modules
of their formulas; import those functions by their full path
(``from jaxnn.layers.batch_norm import batch_norm_forward``).
``jaxnn.layers.sequential`` composes layers into a network; ``jaxnn.models`` builds the
architectures from them. Images are ``(m, n_H, n_W, n_C)``; after ``flatten``, columns
``(n, m)`` as in the notes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import activations, initializers
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import autotune
from jaxnn.layers import batch_norm as bn_ops
from jaxnn.layers import conv as conv_ops
from jaxnn.layers import dense as dense_ops
from jaxnn.layers import layer_norm as ln_ops
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
    init_state: Callable[[tuple, Any], dict] | None = None  # layers with state (batch norm)
    forward_state: Callable[[dict, dict, Array, bool], tuple[Array, Any, dict]] | None = None

    # stochastic layers (dropout): ``forward(params, A_prev, key)``; ``key=None`` is
    # evaluation (deterministic), a key is a training step's (``jaxnn.layers.sequential``)
    stochastic: bool = False
    # the second-order backward (see the module docstring); None: not derived for this layer
    backward2: (
        Callable[[dict, Any, Array, Array | None, bool], tuple[Array | None, dict]] | None
    ) = None


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
FORMS = ("auto", *BACKWARDS)  # auto: each part's form measured per device and shape (autotune)


def conv2d(
    n_C: int, f: int, stride: int = 1, padding: str | int = "valid", init: str = "glorot",
    backward: str = "auto", bias: bool = True,
) -> Layer:  # fmt: skip
    """``Z = W ⋆ A_prev + b``: kernel ``W (f, f, n_C_prev, n_C)``, bias ``b (1, 1, 1, n_C)``
    (``jaxnn.layers.conv``). ``backward``: "auto" (forward, dW and dA_prev each in the form
    measured fastest on this device for this shape, ``jaxnn.layers.autotune``), "fast" (the
    fixed choice of ``conv.conv_forward``/``conv.conv_backward``) or "explicit" (the loop over
    kernel offsets). ``bias=False``: no b (a conv followed by batch norm, whose β already
    shifts every channel: ResNet's convs)."""
    if n_C < 1:
        raise ConfigError(f"a convolution needs ≥ 1 output channel; got {n_C}")
    conv_ops.conv_geometry(f, f, stride, padding)  # checks f, stride, padding
    weight_init = initializers.get(init)
    if backward not in FORMS:
        raise ConfigError(f"conv backward {backward!r}: choose one of {', '.join(FORMS)}")
    backward_fn = BACKWARDS.get(backward)

    def shape(in_shape):
        n_H, n_W, _ = _image(in_shape, "conv2d")
        return (conv_ops.conv_geometry(n_H, f, stride, padding).n_out,
                conv_ops.conv_geometry(n_W, f, stride, padding).n_out, n_C)  # fmt: skip

    def init_fn(key, in_shape, dtype):
        n_C_prev = _image(in_shape, "conv2d")[2]
        W = weight_init(key, (f, f, n_C_prev, n_C), dtype, fans=(f * f * n_C, f * f * n_C_prev))
        return {"W": W, "b": jnp.zeros((1, 1, 1, n_C), dtype)} if bias else {"W": W}

    def forward(params, A_prev):
        W = params["W"]
        b = params["b"] if bias else jnp.zeros((1, 1, 1, n_C), W.dtype)
        if backward_fn is not None:
            return conv_ops.conv_forward(A_prev, W, b, stride, padding)
        form = autotune.conv_forms("forward", A_prev.shape, W.shape, stride, padding, W.dtype)
        return conv_ops.conv_forward_form(A_prev, W, b, stride, padding, form)

    def backward_(params, cache, dZ, need_dA_prev):
        if backward_fn is not None:
            dA_prev, dW, db = backward_fn(dZ, cache, need_dA_prev)
        else:
            A_shape = (dZ.shape[0], *in_shape_of(cache))
            dW_form, dP_form = (
                autotune.conv_forms(part, A_shape, cache.W.shape, stride, padding, dZ.dtype)
                if part == "dW" or need_dA_prev else "xla" for part in ("dW", "dP")
            )  # fmt: skip
            dA_prev, dW, db = conv_ops.conv_backward_forms(dZ, cache, need_dA_prev, dW_form,
                                                           dP_form)  # fmt: skip
        return dA_prev, ({"W": dW, "b": db} if bias else {"W": dW})

    def macs(in_shape):
        n_H, n_W, _ = shape(in_shape)
        return n_H * n_W * n_C * f * f * in_shape[2]

    def backward2(params, cache, d2Z, dA, need_d2A_prev):
        d2A_prev, d2W, d2b = conv_ops.conv_backward2(d2Z, cache, need_d2A_prev)
        return d2A_prev, ({"W": d2W, "b": d2b} if bias else {"W": d2W})

    pad_text = padding if isinstance(padding, str) else f"pad {padding}"
    pad_text += "" if bias else ", no bias"
    return Layer("conv", f"conv {f}×{f}/{stride} {pad_text}, {n_C}", shape, init_fn, forward,
                 backward_, macs, backward2=backward2)  # fmt: skip


def in_shape_of(cache: conv_ops.ConvCache) -> tuple[int, int, int]:
    """A conv layer's per-example input shape, from its cache (the padded input)."""
    (top, bottom), (left, right) = cache.pads
    _, H, W, C = cache.P.shape
    return H - top - bottom, W - left - right, C


def _pool(kind: str, f: int, stride: int | None, backward: str = "auto") -> Layer:
    stride = f if stride is None else stride
    conv_ops.conv_geometry(f, f, stride, "valid")
    if backward not in FORMS:
        raise ConfigError(f"pool backward {backward!r}: choose one of {', '.join(FORMS)}")
    op = kind.split("_")[0]
    forward_op, backward_op = {
        "max_pool": (pool_ops.max_pool_forward, pool_ops.max_pool_backward),
        "avg_pool": (pool_ops.avg_pool_forward, pool_ops.avg_pool_backward),
    }[kind]
    if backward == "explicit":  # the f² strided slices, whatever the stride
        backward_op = functools.partial(pool_ops.pool_backward_form, op=op, form="slices")
    tuned = backward == "auto"

    def shape(in_shape):
        n_H, n_W, n_C = _image(in_shape, kind)
        return (conv_ops.conv_geometry(n_H, f, stride, "valid").n_out,
                conv_ops.conv_geometry(n_W, f, stride, "valid").n_out, n_C)  # fmt: skip

    def forward(params, A_prev):
        if not tuned:
            return forward_op(A_prev, f, stride)
        form = autotune.pool_forms("forward", op, A_prev.shape, f, stride, A_prev.dtype)
        return pool_ops.pool_forward_form(A_prev, f, stride, op, form)

    def backward(params, cache, dA, need_dA_prev):
        if not need_dA_prev:
            return None, {}
        if not tuned:
            return backward_op(dA, cache), {}
        A_prev = cache.A_prev
        form = autotune.pool_forms("backward", op, A_prev.shape, f, stride, A_prev.dtype)
        return pool_ops.pool_backward_form(dA, cache, op, form), {}

    name = "max pool" if kind == "max_pool" else "avg pool"
    return Layer(kind, f"{name} {f}×{f}/{stride}", shape, _no_params, forward, backward, _no_macs)


def max_pool(f: int = 2, stride: int | None = None, backward: str = "auto") -> Layer:
    """Max pooling, window f×f, stride s (default f); ties go to the first maximum
    (``jaxnn.layers.pool``). ``backward``: "auto" (forms measured per device and shape),
    "fast" (the fixed choice of ``pool.max_pool_backward``) or "explicit" (f² slices)."""
    return _pool("max_pool", f, stride, backward)


def avg_pool(f: int = 2, stride: int | None = None, backward: str = "auto") -> Layer:
    """Average pooling, window f×f, stride s (default f); ``backward`` as for ``max_pool``."""
    return _pool("avg_pool", f, stride, backward)


def flatten() -> Layer:
    """Images ``(m, n_H, n_W, n_C)`` to columns ``(n_H·n_W·n_C, m)``."""

    def shape(in_shape):
        return (math.prod(_image(in_shape, "flatten")),)

    def forward(params, A_prev):
        return dense_ops.flatten_forward(A_prev), A_prev.shape

    def backward(params, cache, dA, need_dA_prev):
        return (dense_ops.flatten_backward(dA, cache) if need_dA_prev else None), {}

    def backward2(params, cache, d2A, dA, need_d2A_prev):  # a reshape: every weight is 1
        return (dense_ops.flatten_backward(d2A, cache) if need_d2A_prev else None), {}

    return Layer("flatten", "flatten", shape, _no_params, forward, backward, _no_macs,
                 backward2=backward2)  # fmt: skip


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

    def backward2(params, A_prev, d2Z, dA, need_d2A_prev):
        d2A_prev, d2W, d2b = dense_ops.dense_backward2(d2Z, A_prev, params["W"], need_d2A_prev)
        return d2A_prev, {"W": d2W, "b": d2b}

    def macs(in_shape):
        return n * in_shape[0]

    return Layer("dense", f"dense {n}", shape, init_fn, forward, backward, macs,
                 backward2=backward2)  # fmt: skip


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

    def backward2(params, Z, d2A, dA, need_d2A_prev):
        return (activation_backward2(d2A, Z, g_prime) if need_d2A_prev else None), {}

    return Layer("activation", name, lambda in_shape: in_shape, _no_params, forward, backward,
                 _no_macs, backward2=backward2)  # fmt: skip


def activation_backward2(d2A: Array, Z: Array, g_prime) -> Array:
    """``d2Z = g′(Z)² ⊙ d2A``: the Gauss–Newton form of LeCun et al. (1998, Appendix C),
    ``∂²E/∂a_i² = f′(a_i)² ∂²E/∂x_i²``. Exactly, ``∂²E/∂z² = g′(z)² ∂²E/∂a² + g″(z) ∂E/∂a``;
    the second term is dropped (it can be negative, and the estimate must stay ≥ 0 for
    ``η / (μ + h)`` to be a step size)."""
    G = g_prime(Z)
    return G * G * d2A


def _norm_shape(in_shape: tuple, kind: str) -> tuple[int, ...]:
    """γ's and β's shape: ``(n, 1)`` for vectors, ``(1, 1, 1, n_C)`` for images."""
    if len(in_shape) == 1:
        return (in_shape[0], 1)
    if len(in_shape) == 3 and kind == "batch norm":
        return (1, 1, 1, in_shape[2])
    takes = "vectors (n,) or images (n_H, n_W, n_C)" if kind == "batch norm" else "vectors (n,)"
    raise ShapeError(f"{kind} takes {takes} per example; got {in_shape}")


def _gamma_beta(kind: str):
    def init(key, in_shape, dtype):
        shape = _norm_shape(in_shape, kind)
        return {"gamma": jnp.ones(shape, dtype), "beta": jnp.zeros(shape, dtype)}

    return init


def batch_norm(momentum: float = 0.1, eps: float = 1e-5, backward: str = "compact") -> Layer:
    """Batch normalization (``jaxnn.layers.batch_norm``): per unit over the batch for vectors,
    per channel over m·n_H·n_W for images; γ, β learned; running mean and variance in the
    layer's *state* (``momentum``: the new batch's weight). ``backward``: "compact" or
    "explicit" (the step-by-step graph form)."""
    if not 0 < momentum <= 1:
        raise ConfigError(f"batch norm momentum must be in (0, 1]; got {momentum}")
    if not eps > 0:
        raise ConfigError(f"batch norm eps must be > 0; got {eps}")
    backwards = {"compact": bn_ops.batch_norm_backward,
                 "explicit": bn_ops.batch_norm_backward_explicit}  # fmt: skip
    if backward not in backwards:
        raise ConfigError(f"batch norm backward {backward!r}: choose compact or explicit")

    def forward(params, A_prev):
        return bn_ops.batch_norm_forward(A_prev, params["gamma"], params["beta"], eps)

    def backward_(params, cache, dA, need_dA_prev):
        dA_prev, dgamma, dbeta = backwards[backward](dA, cache)
        return (dA_prev if need_dA_prev else None), {"gamma": dgamma, "beta": dbeta}

    def init_state(in_shape, dtype):
        shape = _norm_shape(in_shape, "batch norm")
        return {"mean": jnp.zeros(shape, dtype), "var": jnp.ones(shape, dtype)}

    def forward_state(params, state, A_prev, train):
        if not train:
            A = bn_ops.batch_norm_eval(A_prev, params["gamma"], params["beta"], state["mean"],
                                       state["var"], eps)  # fmt: skip
            return A, None, state
        A, cache = forward(params, A_prev)
        mean, var = bn_ops.running_update(state["mean"], state["var"], cache, momentum)
        return A, cache, {"mean": mean, "var": var}

    return Layer("batch_norm", "batch norm", lambda in_shape: in_shape, _gamma_beta("batch norm"),
                 forward, backward_, _no_macs, init_state, forward_state)  # fmt: skip


def layer_norm(eps: float = 1e-5) -> Layer:
    """Layer normalization of each example's vector (``jaxnn.layers.layer_norm``, axis 0 of
    the columns ``(n, m)``); the same at training and evaluation, no state."""

    def forward(params, A_prev):
        return ln_ops.layer_norm_forward(A_prev, params["gamma"], params["beta"], 0, eps)

    def backward(params, cache, dA, need_dA_prev):
        dA_prev, dgamma, dbeta = ln_ops.layer_norm_backward(dA, cache)
        return (dA_prev if need_dA_prev else None), {"gamma": dgamma, "beta": dbeta}

    return Layer("layer_norm", "layer norm", lambda in_shape: in_shape,
                 _gamma_beta("layer norm"), forward, backward, _no_macs)  # fmt: skip


def global_avg_pool() -> Layer:
    """Images ``(m, n_H, n_W, n_C)`` to columns ``(n_C, m)``: each channel's mean over its
    n_H·n_W positions (ResNet's last pool; ``jaxnn.layers.pool.global_avg_pool_forward``)."""

    def shape(in_shape):
        return (_image(in_shape, "global_avg_pool")[2],)

    def forward(params, A_prev):
        return pool_ops.global_avg_pool_forward(A_prev)

    def backward(params, cache, dA, need_dA_prev):
        return (pool_ops.global_avg_pool_backward(dA, cache) if need_dA_prev else None), {}

    return Layer("global_avg_pool", "global avg pool", shape, _no_params, forward, backward,
                 _no_macs)  # fmt: skip


__all__ = ["Layer", "activation", "avg_pool", "batch_norm", "conv2d", "dense", "flatten",
           "global_avg_pool", "layer_norm", "max_pool"]  # fmt: skip
