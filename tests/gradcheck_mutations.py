"""Planted bugs in the hand-derived backward passes, for the gradient check's mutation test.

Each ``Mutation`` patches one backward function (``unittest.mock.patch``, undone on exit:
shipped code is never edited) with a plausible student's mistake, and names the model that
``jaxnn.gradcheck.check_model`` must then fail on. ``tests/test_gradcheck_trust.py`` runs
them at small sizes; ``experiments/gradcheck_trust.py`` over many seeds, both dtypes.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
from collections.abc import Callable
from typing import NamedTuple
from unittest import mock

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn import activations, layers
from jaxnn.layers import conv as conv_ops
from jaxnn.layers import lstm as lstm_layer
from jaxnn.layers import pool as pool_ops
from jaxnn.layers import residual as residual_layers
from jaxnn.layers import rnn as rnn_layer
from jaxnn.models import dense_stack
from jaxnn.models import mlp as mlp_model

dense_ops = importlib.import_module("jaxnn.layers.dense")  # jaxnn.layers.dense is the layer


class Mutation(NamedTuple):
    name: str
    bug: str  # what is wrong, in words
    model: str  # the model gradcheck is run on
    kwargs: dict  # check_model's arguments (besides seed and x64)
    patch: Callable[[], contextlib.AbstractContextManager]


# small sizes: every check below takes a second or two
LENET = {"input_shape": (12, 12, 1), "width": 0.5, "m": 2, "max_per_leaf": 8}


def _mlp_missing_one_over_m():
    real = mlp_model.linear_backward

    def linear_backward(dZ, A_prev, W):
        dA_prev, dW, db = real(dZ, A_prev, W)
        return dA_prev, dW * A_prev.shape[1], db  # dW = dZ A_prevᵀ, the 1/m forgotten

    return mock.patch.object(mlp_model, "linear_backward", linear_backward)


def _mlp_transposed_weight():
    real = mlp_model.linear_backward

    def linear_backward(dZ, A_prev, W):
        _, dW, db = real(dZ, A_prev, W)
        return (W @ dZ if W.shape[0] == W.shape[1] else W.T @ dZ), dW, db  # W, not Wᵀ

    return mock.patch.object(mlp_model, "linear_backward", linear_backward)


def _wrong_tanh_derivative():
    wrong = activations.Activation(activations.tanh, lambda Z: 1.0 - Z * Z)  # 1 − z², not 1 − tanh²
    return mock.patch.dict(activations._REGISTRY, {"tanh": wrong})


def _dense_dropped_bias_gradient():
    real = dense_ops.dense_backward

    def dense_backward(dZ, A_prev, W, need_dA_prev=True):
        dA_prev, dW, db = real(dZ, A_prev, W, need_dA_prev)
        return dA_prev, dW, jnp.zeros_like(db)  # db = Σ dZ dropped

    return mock.patch.object(dense_ops, "dense_backward", dense_backward)


@contextlib.contextmanager
def _every_max_pool_backward(max_pool_backward):
    """The max-pool backward replaced in every form a layer may use: the fixed
    ``max_pool_backward`` and each measured form of ``pool.BACKWARD_FORMS["max"]`` (the
    default "auto" layers pick one of those)."""
    forms = pool_ops.BACKWARD_FORMS["max"]
    with (
        mock.patch.object(pool_ops, "max_pool_backward", max_pool_backward),
        mock.patch.dict(forms, dict.fromkeys(forms, max_pool_backward)),
    ):
        yield


def _conv_unflipped_kernel():
    real = conv_ops.conv_backward

    def conv_backward(dZ, cache, need_dA_prev=True):
        _, dW, db = real(dZ, cache, False)
        if not need_dA_prev:
            return None, dW, db
        flipped = cache._replace(W=cache.W[::-1, ::-1])  # the kernel not rotated by 180°
        return real(dZ, flipped, True)[0], dW, db

    # every conv layer's backward: the fixed form ("fast") and the measured one ("auto",
    # the default, which otherwise picks dW and dA_prev forms of jaxnn.layers.conv)
    return mock.patch.dict(layers.BACKWARDS, {"fast": conv_backward, "auto": conv_backward})


def _pool_to_window_corner():
    def max_pool_backward(dA, cache):
        A_prev, _, f, stride = cache  # every window's gradient to its top-left entry
        n_H, n_W = dA.shape[1], dA.shape[2]
        corner = jnp.zeros_like(A_prev)
        return corner.at[
            :, 0 : (n_H - 1) * stride + 1 : stride, 0 : (n_W - 1) * stride + 1 : stride
        ].add(dA)

    return _every_max_pool_backward(max_pool_backward)


def _lstm_dropped_output_path():
    def step_backward(dh, dc_next, c, c_prev, i, f, o, g):
        tanh_c = jnp.tanh(c)
        do = dh * tanh_c
        dc = dc_next  # + dh ⊙ o ⊙ (1 − tanh² c) dropped
        dz = jnp.concatenate([dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f),
                              do * o * (1.0 - o), dc * i * (1.0 - g * g)])  # fmt: skip
        return dz, dc * f

    return mock.patch.object(lstm_layer, "_step_backward", step_backward)


def _lstm_cell_carry_without_forget_gate():
    real = lstm_layer._step_backward

    def step_backward(dh, dc_next, c, c_prev, i, f, o, g):
        dz, dc_prev = real(dh, dc_next, c, c_prev, i, f, o, g)
        return dz, dc_prev / f  # dc_prev = dc, the ⊙ f of c_t = f ⊙ c_{t−1} + … forgotten

    return mock.patch.object(lstm_layer, "_step_backward", step_backward)


def _rnn_carry_skips_a_step():
    real_scan = lax.scan

    def scan(f, init, xs, length=None, reverse=False, **kw):
        if not reverse:
            return real_scan(f, init, xs, length=length, reverse=reverse, **kw)
        T = jax.tree.leaves(xs)[0].shape[0]

        def step(carry, inputs):  # BPTT's dh_next dropped at the middle step
            t, inputs = inputs
            carry = jax.tree.map(lambda c: jnp.where(t == T // 2, jnp.zeros_like(c), c), carry)
            return f(carry, inputs)

        return real_scan(step, init, (jnp.arange(T), xs), length=length, reverse=True, **kw)

    real = rnn_layer.rnn_backward

    def rnn_backward(*args, **kwargs):
        with mock.patch.object(jax.lax, "scan", scan):
            return real(*args, **kwargs)

    return mock.patch.object(rnn_layer, "rnn_backward", rnn_backward)


def _vae_kl_gradient_sign():
    real = dense_stack.backward

    def backward(net, params, caches, dZ_L, need_dX=True):
        if need_dX is False:  # the encoder's backward: d(KL)/dμ = +μ/m turned into −μ/m
            name, _ = net[-1]
            out = params[name]["W"] @ caches[-1] + params[name]["b"]
            latent = out.shape[0] // 2
            dZ_L = dZ_L.at[:latent].add(-2 * out[:latent] / dZ_L.shape[1])
        return real(net, params, caches, dZ_L, need_dX)

    return mock.patch.object(dense_stack, "backward", backward)


def resnet_block_dgamma_scaled(block: int, blocks: int, factor: float = 1.001):
    """One residual block's second batch norm reports dγ × ``factor`` (1.001: a relative
    error of 5e-4 in that one leaf). ``block`` counts the blocks a ResNet builds (0-based,
    modulo its ``blocks``: 27 in resnet56, whose block 13 is ``s2b5``)."""
    real = residual_layers.residual
    built = itertools.count()

    def scaled(layer):
        def backward(params, cache, dA, need_dA_prev):
            dA_prev, grads = layer.backward(params, cache, dA, need_dA_prev)
            return dA_prev, {**grads, "gamma": grads["gamma"] * factor}

        return layer._replace(backward=backward)

    def residual(main, shortcut=(), activation="relu", describe="residual block"):
        if next(built) % blocks == block:
            main = tuple((name, scaled(layer) if name == "bn2" else layer) for name, layer in main)
        return real(main, shortcut, activation, describe)

    return mock.patch.object(residual_layers, "residual", residual)


MUTATIONS = (
    Mutation(
        "missing 1/m",
        "dW without the 1/m of the mean cost",
        "mlp",
        {"layer_dims": (5, 4, 4, 3), "hidden": "tanh"},
        _mlp_missing_one_over_m,
    ),
    Mutation(
        "transposed weight",
        "dA_prev = W dZ instead of Wᵀ dZ (square layer)",
        "mlp",
        {"layer_dims": (5, 4, 4, 3), "hidden": "tanh"},
        _mlp_transposed_weight,
    ),
    Mutation(
        "wrong activation derivative",
        "tanh′(z) = 1 − z² instead of 1 − tanh²(z)",
        "mlp",
        {"layer_dims": (5, 4, 4, 3), "hidden": "tanh"},
        _wrong_tanh_derivative,
    ),
    Mutation(
        "dropped bias term",
        "dense layers' db = 0 (Σ dZ dropped)",
        "lenet5",
        {**LENET, "hidden": "relu"},
        _dense_dropped_bias_gradient,
    ),
    Mutation(
        "unflipped conv kernel",
        "conv input gradient with W, not W rotated 180°",
        "lenet5",
        {**LENET, "hidden": "relu"},
        _conv_unflipped_kernel,
    ),
    Mutation(
        "pool gradient to the wrong entry",
        "each window's dA to its top-left entry, not its maximum",
        "lenet5",
        {**LENET, "hidden": "relu"},
        _pool_to_window_corner,
    ),
    Mutation(
        "LSTM dropped term",
        "dc_t without the path through h_t = o ⊙ tanh(c_t)",
        "lstm",
        {},
        _lstm_dropped_output_path,
    ),
    Mutation(
        "LSTM carry without forget gate",
        "dc_{t−1} = dc_t instead of dc_t ⊙ f_t",
        "lstm",
        {},
        _lstm_cell_carry_without_forget_gate,
    ),
    Mutation(
        "BPTT carry skips a step",
        "RNN's dh_next reset to 0 at t = T/2",
        "rnn",
        {},
        _rnn_carry_skips_a_step,
    ),
    Mutation(
        "KL gradient sign", "VAE's ∂KL/∂μ = −μ/m instead of +μ/m", "vae", {}, _vae_kl_gradient_sign
    ),
)


def tie_to_last_maximum():
    """Max-pool ties to the *last* maximum of a window instead of the first (jax.grad's and
    PyTorch's convention). Only ``jax.grad`` can catch this one: at a tie the pool is not
    differentiable, every tied entry's stencil crosses a kink, and finite differences are
    (rightly) excluded there."""
    real = pool_ops.max_pool_backward

    def max_pool_backward(dA, cache):
        flipped = cache._replace(A_prev=cache.A_prev[:, ::-1, ::-1])
        return real(dA[:, ::-1, ::-1], flipped)[:, ::-1, ::-1]

    return _every_max_pool_backward(max_pool_backward)


def patched(mutation: Mutation):
    """The mutation's patch as a context manager."""
    return mutation.patch()
