"""Max and average pooling (window f×f, stride s, no padding) with hand-derived backward.

Shapes: ``A_prev (m, n_H_prev, n_W_prev, n_C) -> A (m, n_H, n_W, n_C)`` with
``n_H = ⌊(n_H_prev − f) / s⌋ + 1``; each channel is pooled on its own, nothing is learned.

**Max pool.** ``A[i, h, w, c] = max_{p, q < f} A_prev[i, h·s + p, w·s + q, c]``. The max is
piecewise the identity of one input, so the gradient of each window goes to the position of
its maximum and nowhere else: ``dA_prev[i, h·s + p*, w·s + q*, c] += dA[i, h, w, c]``.
Overlapping windows (s < f, AlexNet's 3×3/2) add their contributions.

*Ties* (equal values in a window — every all-zero window after a ReLU) make the max
non-differentiable. jaxnn routes the whole gradient to **the first maximum in row-major
order** of the window (smallest p, then smallest q). That is what ``jax.grad`` of
``lax.reduce_window(…, lax.max, …)`` does (its select-and-scatter picks the first) and what
PyTorch's ``max_pool2d`` does, so the hand-derived backward and the autodiff reference agree
exactly, ties included. (``jax.grad`` of the same pool written as ``reshape(…).max(…)``
splits the gradient equally among tied entries instead: another valid subgradient, not the
one used here.)

**Average pool.** ``A = (1/f²) Σ_{p,q} A_prev[i, h·s + p, w·s + q, c]``, so every input of a
window receives ``dA / f²``.

**Global average pool** (ResNet's, He et al. 2016 §4.2): each channel's mean over all
n_H·n_W positions, ``A[c, i] = (1/(n_H n_W)) Σ_{h,w} A_prev[i, h, w, c]``, returned as columns
``(n_C, m)`` for the dense layer after it; every position receives ``dA[c, i] / (n_H n_W)``.

Both window backward passes loop over the f² window offsets (p, q), each a strided slice — the
form a student writes, and the fast one: XLA fuses the f² slices into one pass.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn.errors import ShapeError
from jaxnn.layers.conv import _place, conv_geometry

Array = jax.Array


class PoolCache(NamedTuple):
    A_prev: Array
    A: Array  # the pooled output (max pool's backward compares against it)
    f: int
    stride: int


def _sizes(A_prev: Array, f: int, stride: int) -> tuple[int, int]:
    if A_prev.ndim != 4:
        raise ShapeError(
            f"pooling input must be 4-D (m, n_H, n_W, n_C); got shape {tuple(A_prev.shape)}"
        )
    return (conv_geometry(A_prev.shape[1], f, stride, "valid").n_out,
            conv_geometry(A_prev.shape[2], f, stride, "valid").n_out)  # fmt: skip


def _slice(p: int, q: int, stride: int, n_H: int, n_W: int) -> tuple[slice, ...]:
    """The entries of A_prev that window offset (p, q) takes, for every output (h, w)."""
    return (slice(None), slice(p, p + (n_H - 1) * stride + 1, stride),
            slice(q, q + (n_W - 1) * stride + 1, stride))  # fmt: skip


def max_pool_forward(A_prev: Array, f: int = 2, stride: int = 2) -> tuple[Array, PoolCache]:
    """``A[i, h, w, c] = max`` over the f×f window at ``(h·s, w·s)`` of channel c."""
    _sizes(A_prev, f, stride)
    A = lax.reduce_window(A_prev, -jnp.inf, lax.max, (1, f, f, 1), (1, stride, stride, 1),
                          "VALID")  # fmt: skip
    return A, PoolCache(A_prev, A, f, stride)


def max_pool_backward(dA: Array, cache: PoolCache) -> Array:
    """``dA_prev``: each window's ``dA`` to its first maximum in row-major order.

    For the offsets (p, q) in row-major order: the window entry at (p, q) takes the gradient
    if it equals the window's max and no earlier offset has taken it. Non-overlapping windows
    (s = f, LeNet-5's and VGG-16's pools) take the same rule in one elementwise pass over a
    reshaped view (``_max_pool_backward_tiled``, 2–3× faster here than the f² slice updates)."""
    if cache.stride == cache.f:
        return _max_pool_backward_tiled(dA, cache)
    return _max_backward_slices(dA, cache)


def _max_pool_backward_tiled(dA: Array, cache: PoolCache) -> Array:
    """``max_pool_backward`` for s = f: view ``A_prev`` as tiles ``(m, n_H, f, n_W, f, n_C)``;
    the first maximum of a tile is the entry equal to the max whose running count of such
    entries (in row-major (p, q) order) is 1. Rows/columns no window covers get zero."""
    A_prev, A, f, _ = cache
    m, n_H, n_W, n_C = A.shape
    tiles = A_prev[:, : n_H * f, : n_W * f].reshape(m, n_H, f, n_W, f, n_C)
    hits = (tiles == A[:, :, None, :, None, :]).transpose(0, 1, 3, 2, 4, 5)
    hits = hits.reshape(m, n_H, n_W, f * f, n_C)  # the window's offsets in row-major order
    first = hits & (jnp.cumsum(hits, axis=3) == 1)
    first = first.reshape(m, n_H, n_W, f, f, n_C).transpose(0, 1, 3, 2, 4, 5)
    dA_prev = jnp.where(first, dA[:, :, None, :, None, :], 0).reshape(m, n_H * f, n_W * f, n_C)
    rest = ((0, 0), (0, A_prev.shape[1] - n_H * f), (0, A_prev.shape[2] - n_W * f), (0, 0))
    return jnp.pad(dA_prev, rest).astype(A_prev.dtype)


def avg_pool_forward(A_prev: Array, f: int = 2, stride: int = 2) -> tuple[Array, PoolCache]:
    """``A[i, h, w, c]`` = the mean of the f×f window at ``(h·s, w·s)`` of channel c."""
    _sizes(A_prev, f, stride)
    total = lax.reduce_window(A_prev, 0.0, lax.add, (1, f, f, 1), (1, stride, stride, 1),
                              "VALID")  # fmt: skip
    A = total / (f * f)
    return A, PoolCache(A_prev, A, f, stride)


def avg_pool_backward(dA: Array, cache: PoolCache) -> Array:
    """``dA_prev``: every entry of a window receives ``dA / f²`` (windows add up)."""
    A_prev, A, f, stride = cache
    n_H, n_W = A.shape[1], A.shape[2]
    share = dA / (f * f)
    dA_prev = jnp.zeros_like(A_prev)
    for p in range(f):
        for q in range(f):
            dA_prev = dA_prev.at[_slice(p, q, stride, n_H, n_W)].add(share)
    return dA_prev


# ----------------------------------------------------------------------------- candidate forms
# Forward and backward of each pool in several forms, chosen per shape and device by
# measurement (``jaxnn.layers.autotune``; max_pool(backward="auto")). All are checked equal to
# ``jax.grad`` of the reduce_window forward in tests/test_layers_pool.py, ties included.


def _reduce(A_prev: Array, f: int, stride: int, op: str) -> Array:
    if op == "max":
        return lax.reduce_window(A_prev, -jnp.inf, lax.max, (1, f, f, 1), (1, stride, stride, 1),
                                 "VALID")  # fmt: skip
    total = lax.reduce_window(A_prev, 0.0, lax.add, (1, f, f, 1), (1, stride, stride, 1), "VALID")
    return total / (f * f)


def _reduce_tiles(A_prev: Array, f: int, stride: int, op: str) -> Array:
    """s = f only: the tiles of a reshaped view ``(m, n_H, f, n_W, f, n_C)`` reduced over their
    two window axes."""
    m, H, W_, n_C = A_prev.shape
    n_H, n_W = (H - f) // f + 1, (W_ - f) // f + 1
    tiles = A_prev[:, : n_H * f, : n_W * f].reshape(m, n_H, f, n_W, f, n_C)
    return tiles.max(axis=(2, 4)) if op == "max" else tiles.mean(axis=(2, 4))


def _max_backward_pad_add(dA: Array, cache: PoolCache) -> Array:
    """The row-major first-maximum rule of ``max_pool_backward``, each offset's share padded
    into place (``lax.pad``, interior s − 1) and the f² shares added — no scatter."""
    A_prev, A, f, stride = cache
    n_H, n_W = A.shape[1], A.shape[2]
    taken = jnp.zeros(A.shape, bool)
    shares = []
    for p in range(f):
        for q in range(f):
            first = (A_prev[_slice(p, q, stride, n_H, n_W)] == A) & ~taken
            taken = taken | first
            shares.append(_place(jnp.where(first, dA, 0).astype(A_prev.dtype), p, q, stride,
                                 A_prev.shape))  # fmt: skip
    return sum(shares[1:], shares[0])


def _max_backward_slices(dA: Array, cache: PoolCache) -> Array:
    """``max_pool_backward``'s f² strided slice updates, whatever the stride."""
    A_prev, A, f, stride = cache
    n_H, n_W = A.shape[1], A.shape[2]
    dA_prev = jnp.zeros_like(A_prev)
    taken = jnp.zeros(A.shape, bool)
    for p in range(f):
        for q in range(f):
            window = _slice(p, q, stride, n_H, n_W)
            first = (A_prev[window] == A) & ~taken
            taken = taken | first
            dA_prev = dA_prev.at[window].add(jnp.where(first, dA, 0))
    return dA_prev


def _avg_backward_pad_add(dA: Array, cache: PoolCache) -> Array:
    """Every offset's ``dA / f²`` padded into place and the f² shares added."""
    A_prev, _, f, stride = cache
    share = (dA / (f * f)).astype(A_prev.dtype)
    shares = [_place(share, p, q, stride, A_prev.shape) for p in range(f) for q in range(f)]
    return sum(shares[1:], shares[0])


def _avg_backward_tiled(dA: Array, cache: PoolCache) -> Array:
    """s = f only: ``dA / f²`` broadcast over each tile of the reshaped view."""
    A_prev, A, f, _ = cache
    m, n_H, n_W, n_C = A.shape
    share = jnp.broadcast_to((dA / (f * f))[:, :, None, :, None, :], (m, n_H, f, n_W, f, n_C))
    rest = ((0, 0), (0, A_prev.shape[1] - n_H * f), (0, A_prev.shape[2] - n_W * f), (0, 0))
    return jnp.pad(share.reshape(m, n_H * f, n_W * f, n_C), rest).astype(A_prev.dtype)


FORWARD_FORMS = {"reduce_window": _reduce, "tiles": _reduce_tiles}
BACKWARD_FORMS = {
    "max": {"tiled": _max_pool_backward_tiled, "slices": _max_backward_slices,
            "pad_add": _max_backward_pad_add},
    "avg": {"tiled": _avg_backward_tiled, "slices": avg_pool_backward,
            "pad_add": _avg_backward_pad_add},
}  # fmt: skip


def candidate_forms(f: int, stride: int) -> tuple[list[str], list[str]]:
    """The (forward, backward) forms that apply: the tiled ones need s = f."""
    tiled = stride == f
    forward = ["reduce_window", "tiles"] if tiled else ["reduce_window"]
    backward = ["tiled", "slices", "pad_add"] if tiled else ["slices", "pad_add"]
    return forward, backward


def pool_forward_form(
    A_prev: Array, f: int, stride: int, op: str, form: str
) -> tuple[Array, PoolCache]:
    """``max_pool_forward`` (op "max") or ``avg_pool_forward`` (op "avg") in the named form."""
    _sizes(A_prev, f, stride)
    A = FORWARD_FORMS[form](A_prev, f, stride, op)
    return A, PoolCache(A_prev, A, f, stride)


def pool_backward_form(dA: Array, cache: PoolCache, op: str, form: str) -> Array:
    """The backward of op "max"/"avg" in the named form of ``BACKWARD_FORMS[op]``."""
    return BACKWARD_FORMS[op][form](dA, cache)


def global_avg_pool_forward(A_prev: Array) -> tuple[Array, tuple[int, ...]]:
    """``(m, n_H, n_W, n_C) -> (n_C, m)``: each channel's mean; the cache is A_prev's shape."""
    if A_prev.ndim != 4:
        raise ShapeError(
            f"global average pooling takes (m, n_H, n_W, n_C); got {tuple(A_prev.shape)}"
        )
    return jnp.mean(A_prev, axis=(1, 2)).T, tuple(A_prev.shape)


def global_avg_pool_backward(dA: Array, shape: tuple[int, ...]) -> Array:
    """``dA_prev[i, h, w, c] = dA[c, i] / (n_H n_W)`` for every position."""
    m, n_H, n_W, n_C = shape
    return jnp.broadcast_to(dA.T[:, None, None, :] / (n_H * n_W), shape)
