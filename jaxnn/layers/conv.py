"""2-D convolution with its hand-derived backward pass, in two implementations.

The notes print no convolution formulas (§7); this is the derivation, in their style
(caches, ``dZ``, ``dW``, ``db``, ``dA_prev``) and the course's shapes:

    A_prev (m, n_H_prev, n_W_prev, n_C_prev)    W (f, f, n_C_prev, n_C)    b (1, 1, 1, n_C)
    Z      (m, n_H, n_W, n_C)

**Forward.** Pad ``A_prev`` by ``(pad_top, pad_bottom, pad_left, pad_right)`` into ``P``; then

    Z[i, h, w, k] = b[k] + Σ_{p, q, c} P[i, h·s + p, w·s + q, c] · W[p, q, c, k]

— a *correlation* (no kernel flip), as every deep-learning library computes "convolution".
``n_H = ⌊(n_H_prev + pad_top + pad_bottom − f) / s⌋ + 1`` (``conv_geometry``).

**Backward.** Z is linear in b, W and P, so each gradient collects the terms that touch it:

    db[k]          = Σ_{i, h, w} dZ[i, h, w, k]
    dW[p, q, c, k] = Σ_{i, h, w} P[i, h·s + p, w·s + q, c] · dZ[i, h, w, k]
                   — the correlation of the input with dZ (dZ dilated by the stride)
    dP[i, y, x, c] = Σ_{p, q, k : h·s + p = y, w·s + q = x} dZ[i, h, w, k] · W[p, q, c, k]
                   — the full correlation of the stride-dilated dZ with the kernel rotated by
                     180° (``W[f−1−p, f−1−q]``) and its channel axes swapped
    dA_prev        = dP with the padding cropped off

Rows and columns of ``P`` that no window reaches (when the stride does not divide
``n_H_prev + pads − f``) get a zero gradient: they never influenced Z.

Two implementations of the backward, checked equal to each other and to ``jax.grad``:

* ``conv_backward_explicit`` — the formulas as a student writes them: a loop over the f×f
  kernel offsets ``(p, q)``, each a matrix product over the strided window of ``P`` that
  offset sees. Readable; meant for small shapes and for teaching.
* ``conv_backward`` — the same formulas as XLA convolutions (``lax.conv_general_dilated``):
  dW as a convolution of P with dZ as its kernel (``rhs_dilation = s``), dP as a convolution
  of dZ (``lhs_dilation = s``, padded by f − 1) with the rotated kernel.

Padding: ``"valid"`` (none), ``"same"`` (``n_H = ⌈n_H_prev / s⌉``; the total padding
``max((n_H − 1)·s + f − n_H_prev, 0)`` is split with the odd pixel at the bottom/right, as
TensorFlow and XLA do — the case even kernels make visible), or an int (that many zeros on
every side, as PyTorch's ``padding=p``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn.errors import ConfigError, ShapeError

Array = jax.Array

NHWC = ("NHWC", "HWIO", "NHWC")


class Geometry(NamedTuple):
    """How a window of size f and stride s covers an axis of size n (after padding)."""

    pad_lo: int
    pad_hi: int
    n_out: int


def conv_geometry(n: int, f: int, stride: int, padding: str | int) -> Geometry:
    """Padding and output size along one spatial axis (see the module docstring)."""
    if f < 1 or stride < 1:
        raise ConfigError(f"kernel size {f} and stride {stride} must both be ≥ 1")
    if padding == "valid":
        lo = hi = 0
    elif padding == "same":
        n_out = -(-n // stride)
        total = max((n_out - 1) * stride + f - n, 0)
        lo, hi = total // 2, total - total // 2
    elif isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        lo = hi = padding
    else:
        raise ConfigError(f"padding {padding!r}: use 'valid', 'same' or an int ≥ 0")
    if n + lo + hi < f:
        raise ShapeError(
            f"a {f}×{f} window does not fit an input of size {n} (padding {padding!r}): "
            "use a larger input (--input-shape), fewer pooling stages or 'same' padding"
        )
    return Geometry(lo, hi, (n + lo + hi - f) // stride + 1)


class ConvCache(NamedTuple):
    """What the forward pass keeps: the padded input P and the hyperparameters."""

    P: Array  # (m, n_H_prev + pads, n_W_prev + pads, n_C_prev)
    W: Array
    stride: int
    pads: tuple[tuple[int, int], tuple[int, int]]


def _pads(A_prev: Array, f: int, stride: int, padding) -> tuple[tuple[int, int], ...]:
    return _pads_of(A_prev.shape, f, stride, padding)


def _pads_of(shape, f: int, stride: int, padding) -> tuple[tuple[int, int], ...]:
    rows = conv_geometry(shape[1], f, stride, padding)
    cols = conv_geometry(shape[2], f, stride, padding)
    return (rows.pad_lo, rows.pad_hi), (cols.pad_lo, cols.pad_hi)


def _check(A_prev: Array, W: Array) -> None:
    if A_prev.ndim != 4:
        raise ShapeError(
            f"conv2d input must be 4-D (m, n_H, n_W, n_C); got shape {tuple(A_prev.shape)}. "
            "Images come from jaxnn.data in this layout (e.g. MNIST: (m, 28, 28, 1))"
        )
    if W.ndim != 4 or W.shape[0] != W.shape[1] or W.shape[2] != A_prev.shape[3]:
        raise ShapeError(
            f"kernel W {tuple(W.shape)} must be (f, f, n_C_prev, n_C) with n_C_prev = "
            f"{A_prev.shape[3]}, the input's channels"
        )


def pad(A_prev: Array, pads) -> Array:
    """Zero-pad the two spatial axes of ``A_prev (m, n_H, n_W, n_C)``."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return A_prev
    return jnp.pad(A_prev, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _window(P: Array, p: int, q: int, stride: int, n_H: int, n_W: int) -> Array:
    """The input entries kernel offset (p, q) meets: ``P[:, h·s + p, w·s + q, :]`` for all
    output positions (h, w). Shape (m, n_H, n_W, n_C_prev)."""
    return P[:, p : p + (n_H - 1) * stride + 1 : stride, q : q + (n_W - 1) * stride + 1 : stride]


FEW_CHANNELS = 3  # inputs with at most this many channels: the offsets loop (see below)
MAX_OFFSETS = 25  # kernels up to 5×5 use the per-offset forms; larger ones XLA's convolutions


def conv_forward(
    A_prev: Array, W: Array, b: Array, stride: int = 1, padding: str | int = "valid"
) -> tuple[Array, ConvCache]:
    """``Z = W ⋆ A_prev + b`` (correlation, see the module docstring), with its cache.

    An XLA convolution, except for inputs of ≤ ``FEW_CHANNELS`` channels (a network's first
    layer: grey or RGB images) and kernels up to 5×5, where the f² matmuls of
    ``conv_forward_explicit`` ran ~5× faster on this CPU (LeNet-5's conv1, 28×28×1 → 6:
    4.5 ms vs 26 ms, batch 200). Larger kernels (AlexNet's 11×11: 121 matmuls) would make
    the program slow to compile."""
    form = heuristic_forms(A_prev.shape, W.shape)[0]
    return conv_forward_form(A_prev, W, b, stride, padding, form)


def _offsets_forward(P: Array, W: Array, stride: int) -> Array:
    """``Σ_{p,q} P[:, h·s+p, w·s+q, :] @ W[p, q]`` over the padded input P."""
    f = W.shape[0]
    n_H = (P.shape[1] - f) // stride + 1
    n_W = (P.shape[2] - f) // stride + 1
    Z = None
    for p in range(f):
        for q in range(f):
            term = _window(P, p, q, stride, n_H, n_W) @ W[p, q]
            Z = term if Z is None else Z + term
    return Z


def conv_forward_explicit(
    A_prev: Array, W: Array, b: Array, stride: int = 1, padding: str | int = "valid"
) -> Array:
    """The forward formula as a loop over kernel offsets:
    ``Z = b + Σ_{p,q} P[:, h·s+p, w·s+q, :] @ W[p, q]`` (a matmul over the channels)."""
    _check(A_prev, W)
    P = pad(A_prev, _pads(A_prev, W.shape[0], stride, padding))
    return _offsets_forward(P, W, stride) + b


def _crop(dP: Array, pads, shape) -> Array:
    """dA_prev: the gradient of the padded input with the padding cut off."""
    (top, _), (left, _) = pads
    return dP[:, top : top + shape[1], left : left + shape[2], :]


def conv_backward_explicit(
    dZ: Array, cache: ConvCache, need_dA_prev: bool = True
) -> tuple[Array | None, Array, Array]:
    """``(dA_prev, dW, db)`` by the formulas, one kernel offset (p, q) at a time:

        dW[p, q] = Σ_{i,h,w} P[i, h·s+p, w·s+q, :]ᵀ dZ[i, h, w, :]     (n_C_prev, n_C)
        dP[:, h·s+p, w·s+q, :] += dZ @ W[p, q]ᵀ                        for every (h, w)
        db = Σ_{i,h,w} dZ

    ``conv_backward`` computes the same with XLA convolutions.
    """
    P, W, stride, pads = cache
    f, _, n_C_prev, n_C = W.shape
    m, n_H, n_W, _ = dZ.shape
    db = jnp.sum(dZ, axis=(0, 1, 2)).reshape(1, 1, 1, n_C)
    dW = _dW_offsets(P, dZ, W.shape, stride)
    dP = jnp.zeros_like(P)
    dZ_rows = dZ.reshape(-1, n_C)  # one row per (example, output position)
    for p in range(f):
        for q in range(f):
            if need_dA_prev:
                hit = (slice(None), slice(p, p + (n_H - 1) * stride + 1, stride),
                       slice(q, q + (n_W - 1) * stride + 1, stride))  # fmt: skip
                dP = dP.at[hit].add((dZ_rows @ W[p, q].T).reshape(m, n_H, n_W, n_C_prev))
    n_H_prev = P.shape[1] - sum(pads[0])
    n_W_prev = P.shape[2] - sum(pads[1])
    dA_prev = _crop(dP, pads, (m, n_H_prev, n_W_prev)) if need_dA_prev else None
    return dA_prev, dW, db


def _dW_offsets(P: Array, dZ: Array, w_shape, stride: int) -> Array:
    """``dW[p, q] = Σ_{i,h,w} P[i, h·s+p, w·s+q, :]ᵀ dZ[i, h, w, :]``, one matmul per offset."""
    f, _, n_C_prev, n_C = w_shape
    _, n_H, n_W, _ = dZ.shape
    dZ_rows = dZ.reshape(-1, n_C)  # one row per (example, output position)
    blocks = [_window(P, p, q, stride, n_H, n_W).reshape(-1, n_C_prev).T @ dZ_rows
              for p in range(f) for q in range(f)]  # fmt: skip
    return jnp.stack(blocks).reshape(f, f, n_C_prev, n_C)


def _dW_as_convolution(P: Array, dZ: Array, f: int, stride: int) -> Array:
    """The same dW as one XLA convolution (what ``jax.grad`` of ``conv_forward`` builds):
    the n_C_prev channels of P act as the batch, the m examples are summed as features, dZ is
    the kernel spaced by the stride (``rhs_dilation``); unreached rows are cut off."""
    return lax.conv_general_dilated(
        P, dZ, window_strides=(1, 1), padding="VALID", rhs_dilation=(stride, stride),
        dimension_numbers=("CHWN", "IHWO", "HWNC"),
    )[:f, :f]  # fmt: skip


def conv_backward(
    dZ: Array, cache: ConvCache, need_dA_prev: bool = True
) -> tuple[Array | None, Array, Array]:
    """``(dA_prev, dW, db)``, each formula in the form XLA ran fastest on this CPU.

    dW: the f² matmuls ``dW[p, q] = window(p, q)ᵀ dZ`` of the explicit form, stacked — on
    LeNet-5's conv2 (batch 200) 7.7 ms, against 18.8 ms for the same sum as one XLA
    convolution (``_dW_as_convolution``: P correlated with dZ as the kernel, batch and
    channel axes traded, ``rhs_dilation = s``), the form ``jax.grad`` produces. Kernels larger
    than 5×5 use that convolution (121 matmuls for 11×11 compile slowly).

    dP: the full correlation of dZ, dilated by s (``lhs_dilation``) and padded by f − 1, with
    the kernel rotated 180° and read with its channel axes swapped ('HWOI'). Its size is
    ``(n_H − 1)·s + f``; the unreached rows of P (if any) are padded back as zeros.
    """
    _, dW_form, dP_form = heuristic_forms(cache.P.shape, cache.W.shape)
    return conv_backward_forms(dZ, cache, need_dA_prev, dW_form, dP_form)


def conv_backward2(
    d2Z: Array, cache: ConvCache, need_d2A_prev: bool = True
) -> tuple[Array | None, Array, Array]:
    """``(d2A_prev, d2W, d2b)``: the second derivatives of the cost, backpropagated in the
    diagonal Gauss–Newton form of LeCun et al. (1998, Appendix C) and LeCun, Bottou, Orr &
    Müller ("Efficient BackProp", 1998, §9.1).

    Derivation. Each output ``Z[i, h, w, k]`` is a weighted sum over its *connections*
    ``P[i, h·s + p, w·s + q, c] · W[p, q, c, k]``. Keep only the diagonal of the Hessian
    (cross terms between two connections, or two units, dropped) and drop the terms with
    ``∂²Z/∂·²`` (zero here: Z is linear in each input and each weight). Then for one
    connection of weight ``u`` from input ``x`` to output ``z``:

        ∂²E/∂u² ≈ x² ∂²E/∂z²        ∂²E/∂x² ≈ Σ_{z fed by x} u² ∂²E/∂z²

    and a shared weight's second derivative is the sum over the connections that share it
    (Appendix C: "the sum over all connections that share the parameter"):

        d2b[k]          = Σ_{i, h, w} d2Z[i, h, w, k]
        d2W[p, q, c, k] = Σ_{i, h, w} P[i, h·s + p, w·s + q, c]² · d2Z[i, h, w, k]
        d2P[i, y, x, c] = Σ_{p, q, k : h·s + p = y, w·s + q = x} W[p, q, c, k]² · d2Z[i, h, w, k]

    — the first-order formulas of ``conv_backward`` with ``dZ → d2Z``, ``P → P²`` and
    ``W → W²``: so it *is* ``conv_backward`` on the squared cache, the padding cropped as
    there. ``d2Z ≥ 0`` gives ``d2W, d2b, d2A_prev ≥ 0``.
    """
    squared = cache._replace(P=cache.P * cache.P, W=cache.W * cache.W)
    return conv_backward(d2Z, squared, need_d2A_prev)


# ----------------------------------------------------------------------------- candidate forms
# The same three formulas (Z, dW, dP) in several forms. Which one XLA runs fastest depends on
# the machine and the shape (measured: conv1 dW of LeNet-5 per-offset 7.7 ms vs XLA 4.4 ms vs
# im2col 3.8 ms on an AVX-512 VM, the reverse order on another), so ``conv2d(backward="auto")``
# times them per shape and device (``jaxnn.layers.autotune``) and keeps the fastest. Every
# form is checked equal to ``jax.grad`` in tests/test_layers_conv.py.


def _cols(P: Array, f: int, stride: int, n_H: int, n_W: int) -> Array:
    """im2col: the f² windows side by side, ``(m, n_H, n_W, f·f·n_C_prev)`` in (p, q, c) order —
    the order of ``W.reshape(f·f·n_C_prev, n_C)``."""
    return jnp.concatenate(
        [_window(P, p, q, stride, n_H, n_W) for p in range(f) for q in range(f)], axis=-1
    )


def _out_size(P: Array, f: int, stride: int) -> tuple[int, int]:
    return (P.shape[1] - f) // stride + 1, (P.shape[2] - f) // stride + 1


def _xla_forward(P: Array, W: Array, stride: int) -> Array:
    return lax.conv_general_dilated(P, W, (stride, stride), "VALID", dimension_numbers=NHWC)


def _im2col_forward(P: Array, W: Array, stride: int) -> Array:
    """``Z = cols(P) @ W.reshape(f·f·n_C_prev, n_C)``: one matmul over all offsets."""
    f, _, n_C_prev, n_C = W.shape
    n_H, n_W = _out_size(P, f, stride)
    return _cols(P, f, stride, n_H, n_W) @ W.reshape(f * f * n_C_prev, n_C)


def _dW_im2col(P: Array, dZ: Array, w_shape, stride: int) -> Array:
    """``dW = cols(P)ᵀ dZ`` over all (example, position) rows: one matmul."""
    f, _, n_C_prev, n_C = w_shape
    cols = _cols(P, f, stride, dZ.shape[1], dZ.shape[2]).reshape(-1, f * f * n_C_prev)
    return (cols.T @ dZ.reshape(-1, n_C)).reshape(w_shape)


def _dW_im2col_channels_major(P: Array, dZ: Array, w_shape, stride: int) -> Array:
    """The same product as ``_dW_im2col`` in channels-major order, ``dWᵀ = dZᵀ cols(P)``
    ``(n_C, f·f·n_C_prev)``, then transposed: XLA may lay out the skinny product better."""
    f, _, n_C_prev, n_C = w_shape
    cols = _cols(P, f, stride, dZ.shape[1], dZ.shape[2]).reshape(-1, f * f * n_C_prev)
    return (dZ.reshape(-1, n_C).T @ cols).T.reshape(w_shape)


def _dW_xla(P: Array, dZ: Array, w_shape, stride: int) -> Array:
    return _dW_as_convolution(P, dZ, w_shape[0], stride)


def _dP_xla(dZ: Array, W: Array, p_shape, stride: int) -> Array:
    """The full correlation of the stride-dilated dZ with the rotated kernel (see
    ``conv_backward``)."""
    f = W.shape[0]
    _, n_H, n_W, _ = dZ.shape
    reach_H, reach_W = (n_H - 1) * stride + f, (n_W - 1) * stride + f
    return lax.conv_general_dilated(
        dZ, W[::-1, ::-1], window_strides=(1, 1),
        padding=((f - 1, f - 1 + p_shape[1] - reach_H), (f - 1, f - 1 + p_shape[2] - reach_W)),
        lhs_dilation=(stride, stride), dimension_numbers=("NHWC", "HWOI", "NHWC"),
    )  # fmt: skip


def _place(block: Array, p: int, q: int, stride: int, p_shape) -> Array:
    """``block`` (m, n_H, n_W, c) at rows h·s + p, columns w·s + q of a zero array of
    ``p_shape``: the pad of the pad-and-add col2im (``lax.pad`` with interior s − 1)."""
    _, n_H, n_W, _ = block.shape
    zero = jnp.zeros((), block.dtype)
    rows = (p, p_shape[1] - p - (n_H - 1) * stride - 1, stride - 1)
    cols = (q, p_shape[2] - q - (n_W - 1) * stride - 1, stride - 1)
    return lax.pad(block, zero, ((0, 0, 0), rows, cols, (0, 0, 0)))


def _dP_col2im(dZ: Array, W: Array, p_shape, stride: int) -> Array:
    """``dcols = dZ @ W.reshape(f·f·n_C_prev, n_C)ᵀ`` (one matmul), then col2im: each offset's
    block padded into place and the f² blocks added."""
    f, _, n_C_prev, n_C = W.shape
    m, n_H, n_W, _ = dZ.shape
    dcols = (dZ.reshape(-1, n_C) @ W.reshape(f * f * n_C_prev, n_C).T).reshape(
        m, n_H, n_W, f * f, n_C_prev
    )
    blocks = [_place(dcols[:, :, :, p * f + q], p, q, stride, p_shape)
              for p in range(f) for q in range(f)]  # fmt: skip
    return sum(blocks[1:], blocks[0])


def _dP_offsets(dZ: Array, W: Array, p_shape, stride: int) -> Array:
    """One matmul per offset, ``dZ @ W[p, q]ᵀ``, each padded into place and added."""
    f = W.shape[0]
    blocks = [_place(dZ @ W[p, q].T, p, q, stride, p_shape) for p in range(f) for q in range(f)]
    return sum(blocks[1:], blocks[0])


FORWARD_FORMS = {"xla": _xla_forward, "offsets": _offsets_forward, "im2col": _im2col_forward}
DW_FORMS = {"xla": _dW_xla, "offsets": _dW_offsets, "im2col": _dW_im2col,
            "im2col_cm": _dW_im2col_channels_major}  # fmt: skip
DP_FORMS = {"xla": _dP_xla, "col2im": _dP_col2im, "offsets": _dP_offsets}


def heuristic_forms(A_shape, W_shape) -> tuple[str, str, str]:
    """The forms ``conv_forward``/``conv_backward`` use without measuring (backward="fast"):
    (forward, dW, dP)."""
    f, _, n_C_prev, _ = W_shape
    few_offsets = f * f <= MAX_OFFSETS
    forward = "offsets" if n_C_prev <= FEW_CHANNELS and few_offsets else "xla"
    return forward, ("offsets" if few_offsets else "xla"), "xla"


def conv_forward_form(
    A_prev: Array, W: Array, b: Array, stride: int, padding: str | int, form: str
) -> tuple[Array, ConvCache]:
    """``conv_forward`` computed in the named form of ``FORWARD_FORMS``."""
    _check(A_prev, W)
    pads = _pads(A_prev, W.shape[0], stride, padding)
    P = pad(A_prev, pads)
    return FORWARD_FORMS[form](P, W, stride) + b, ConvCache(P, W, stride, pads)


def conv_backward_forms(
    dZ: Array, cache: ConvCache, need_dA_prev: bool, dW_form: str, dP_form: str
) -> tuple[Array | None, Array, Array]:
    """``conv_backward`` with dW and dP computed in the named forms (``DW_FORMS``,
    ``DP_FORMS``)."""
    P, W, stride, pads = cache
    db = jnp.sum(dZ, axis=(0, 1, 2)).reshape(1, 1, 1, -1)
    dW = DW_FORMS[dW_form](P, dZ, W.shape, stride).astype(W.dtype)
    if not need_dA_prev:
        return None, dW, db
    dP = DP_FORMS[dP_form](dZ, W, P.shape, stride)
    n_H_prev = P.shape[1] - sum(pads[0])
    n_W_prev = P.shape[2] - sum(pads[1])
    return _crop(dP, pads, (dZ.shape[0], n_H_prev, n_W_prev)), dW, db
