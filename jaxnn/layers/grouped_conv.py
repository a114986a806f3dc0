"""Grouped convolution (AlexNet's two GPUs; Krizhevsky et al. 2012, §3.2 and Fig. 2).

The input's ``n_C_prev`` channels are split into ``g`` contiguous groups, and so are the
``n_C`` output channels; output group ``k`` is an ordinary convolution of input group ``k``
only (``jaxnn.layers.conv``), and the groups' outputs are concatenated along the channels:

    A_prev = [A_1 | … | A_g]     W = [W_1 | … | W_g]     W_k (f, f, n_C_prev/g, n_C/g)
    Z      = [W_1 ⋆ A_1 + b_1 | … | W_g ⋆ A_g + b_g]

The kernel is stored as ``W (f, f, n_C_prev/g, n_C)``: output channel ``c`` belongs to group
``c // (n_C/g)`` and reads that group's ``n_C_prev/g`` inputs — XLA's and PyTorch's layout
for ``feature_group_count``. A grouped convolution has ``1/g`` of the weights of the full
one: AlexNet's conv2 has 5·5·48·256 + 256 = 307,456 parameters, not 614,656.

**Backward.** ``Z_k`` depends only on ``A_k``, ``W_k`` and ``b_k``, so the gradient splits
group by group, each the ordinary convolution's (``conv.conv_backward``):

    (dA_k, dW_k, db_k) = conv_backward(dZ_k, cache_k)        dZ_k = dZ[..., group k]
    dA_prev = [dA_1 | … | dA_g],  dW = [dW_1 | … | dW_g],  db = [db_1 | … | db_g]

— no cross terms: an input channel of group k never meets a kernel of another group.

**Forward form.** One XLA convolution with ``feature_group_count = g`` computes the same Z
as the g convolutions of ``conv.conv_forward``; ``FORWARD`` picks the one measured faster
here. On AlexNet's conv2 (batch 8, 27×27×96 → 256, 5×5, 2 groups; 2-core AMD EPYC with
AVX-512, shared; ``python bench/grouped_conv_bench.py --m 8 --rounds 5``, interleaved
medians): forward per group 0.94 s vs one grouped XLA convolution 2.41 s; backward per group
2.06 s vs ``jax.vjp`` of the grouped XLA convolution 9.51 s. So both run per group, each
group through the conv module's own (autotuned) functions, on caches cut from the padded
input.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import conv as conv_ops

Array = jax.Array

FORWARD = "groups"  # "groups": g calls of conv_forward (faster here); "xla": one grouped conv


class GroupedCache(NamedTuple):
    P: Array  # the padded input (m, n_H_prev + pads, n_W_prev + pads, n_C_prev)
    W: Array  # (f, f, n_C_prev / g, n_C)
    stride: int
    pads: tuple
    groups: int


def check_groups(n_C_prev: int, n_C: int, groups: int) -> None:
    if groups < 1 or n_C_prev % groups or n_C % groups:
        raise ShapeError(
            f"{groups} groups must divide both the input's {n_C_prev} and the output's {n_C} "
            "channels (AlexNet: 96 → 256 in 2 groups)"
        )


def grouped_conv_forward(
    A_prev: Array, W: Array, b: Array, groups: int, stride: int = 1,
    padding: str | int = "valid", form: str | None = None,
) -> tuple[Array, GroupedCache]:  # fmt: skip
    """``Z = [W_k ⋆ A_k + b_k]_k`` (module docstring); ``W (f, f, n_C_prev/g, n_C)``."""
    if A_prev.ndim != 4:
        raise ShapeError(f"grouped conv input must be 4-D (m, n_H, n_W, n_C); got "
                         f"{tuple(A_prev.shape)}")  # fmt: skip
    f, n_C = W.shape[0], W.shape[3]
    check_groups(A_prev.shape[3], n_C, groups)
    if W.shape[2] * groups != A_prev.shape[3]:
        raise ShapeError(f"kernel W {tuple(W.shape)} must be (f, f, n_C_prev/g, n_C) = "
                         f"(f, f, {A_prev.shape[3] // groups}, n_C)")  # fmt: skip
    pads = conv_ops._pads(A_prev, f, stride, padding)
    P = conv_ops.pad(A_prev, pads)
    cache = GroupedCache(P, W, stride, pads, groups)
    if (form or FORWARD) == "xla":
        Z = lax.conv_general_dilated(P, W, (stride, stride), "VALID",
                                     dimension_numbers=conv_ops.NHWC,
                                     feature_group_count=groups)  # fmt: skip
        return Z + b, cache
    Zs = [conv_ops.conv_forward(P_k, W_k, b_k, stride, 0)[0]
          for P_k, W_k, b_k in zip(*_split(P, W, b, groups), strict=True)]  # fmt: skip
    return jnp.concatenate(Zs, axis=3), cache


def _split(P: Array, W: Array, b: Array | None, groups: int):
    """Group k's padded input channels, kernel and bias."""
    c_in, c_out = P.shape[3] // groups, W.shape[3] // groups
    Ps = [P[..., k * c_in : (k + 1) * c_in] for k in range(groups)]
    Ws = [W[..., k * c_out : (k + 1) * c_out] for k in range(groups)]
    bs = [None if b is None else b[..., k * c_out : (k + 1) * c_out] for k in range(groups)]
    return Ps, Ws, bs


def grouped_conv_backward(
    dZ: Array, cache: GroupedCache, need_dA_prev: bool = True
) -> tuple[Array | None, Array, Array]:
    """``(dA_prev, dW, db)``: ``conv.conv_backward`` on each group, concatenated."""
    P, W, stride, pads, groups = cache
    c_out = W.shape[3] // groups
    dAs, dWs, dbs = [], [], []
    for k, (P_k, W_k, _) in enumerate(zip(*_split(P, W, None, groups), strict=True)):
        dZ_k = dZ[..., k * c_out : (k + 1) * c_out]
        dA_k, dW_k, db_k = conv_ops.conv_backward(dZ_k, conv_ops.ConvCache(P_k, W_k, stride, pads),
                                                  need_dA_prev)  # fmt: skip
        dAs.append(dA_k)
        dWs.append(dW_k)
        dbs.append(db_k)
    dA_prev = jnp.concatenate(dAs, axis=3) if need_dA_prev else None
    return dA_prev, jnp.concatenate(dWs, axis=3), jnp.concatenate(dbs, axis=3)


def grouped_conv2d(n_C: int, f: int, groups: int, stride: int = 1,
                   padding: str | int = "valid", init: str = "glorot"):  # fmt: skip
    """A ``jaxnn.layers.Layer``: ``n_C`` channels from ``groups`` independent convolutions."""
    from jaxnn import initializers
    from jaxnn.layers import Layer, _image

    if n_C < 1 or groups < 1:
        raise ConfigError(f"a grouped convolution needs ≥ 1 channel and group; got {n_C}, "
                          f"{groups}")  # fmt: skip
    conv_ops.conv_geometry(f, f, stride, padding)
    weight_init = initializers.get(init)

    def shape(in_shape):
        n_H, n_W, n_C_prev = _image(in_shape, "grouped conv")
        check_groups(n_C_prev, n_C, groups)
        return (conv_ops.conv_geometry(n_H, f, stride, padding).n_out,
                conv_ops.conv_geometry(n_W, f, stride, padding).n_out, n_C)  # fmt: skip

    def init_fn(key, in_shape, dtype):
        c_in = _image(in_shape, "grouped conv")[2] // groups
        c_out = n_C // groups
        W = weight_init(key, (f, f, c_in, n_C), dtype, fans=(f * f * c_out, f * f * c_in))
        return {"W": W, "b": jnp.zeros((1, 1, 1, n_C), dtype)}

    def forward(params, A_prev):
        return grouped_conv_forward(A_prev, params["W"], params["b"], groups, stride, padding)

    def backward(params, cache, dZ, need_dA_prev):
        dA_prev, dW, db = grouped_conv_backward(dZ, cache, need_dA_prev)
        return dA_prev, {"W": dW, "b": db}

    def macs(in_shape):
        n_H, n_W, _ = shape(in_shape)
        return n_H * n_W * n_C * f * f * (in_shape[2] // groups)

    pad_text = padding if isinstance(padding, str) else f"pad {padding}"
    return Layer("conv", f"conv {f}×{f}/{stride} {pad_text}, {n_C} in {groups} groups", shape,
                 init_fn, forward, backward, macs)  # fmt: skip
