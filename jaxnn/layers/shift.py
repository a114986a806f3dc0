"""Random shifts: data augmentation inside the training step, with its backward.

In training, every image of the minibatch is translated by its own whole-pixel offset
``(δy, δx)``, each drawn uniformly from ``{−k, …, k}``, and the pixels shifted in are zeros
(MNIST's background; LeCun et al. 1998 §III.C–D grow the training set with distorted copies
of its images, of which small translations are the simplest):

    A[i, y, x, c] = A_prev[i, y − δy_i, x − δx_i, c]     (0 where y − δy_i or x − δx_i
                                                           falls outside the image)

The images keep their size. Like dropout (``jaxnn.layers.dropout``) the layer is stochastic:
it draws from the key the training loop passes for the step, and ``key=None`` is
**evaluation**, the identity — the test images are never shifted, predictions never see an
offset. Drawn on the device in the compiled step (as ``jaxnn.models.input_adapter`` pads), so
the training set stays one copy in memory, and every epoch sees new shifts.

**Backward.** A is linear in A_prev; its Jacobian moves each pixel by ``(δy, δx)`` and drops
what leaves the image, so its transpose moves the gradient back by ``(−δy, −δx)`` and drops
what leaves:

    dA_prev[i, y, x, c] = dA[i, y + δy_i, x + δx_i, c]    (0 outside)

— the same shift with the opposite offsets, kept in the cache (no parameters). The first
layer of a network needs no ``dA_prev``; the backward is there so that the layer can sit
anywhere, and so that the gradient checks can check it.

Shapes: images ``(m, n_H, n_W, n_C)``; offsets ``(m, 2)`` int32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.errors import ConfigError

Array = jax.Array


def check_shift(k) -> int:
    """The largest offset k, a whole number of pixels ≥ 0."""
    if isinstance(k, bool) or not float(k).is_integer() or int(k) < 0:
        raise ConfigError(f"shift {k!r} must be a whole number of pixels ≥ 0 (the largest "
                          "offset, drawn from −k..k each way; 0 turns it off)")  # fmt: skip
    return int(k)


def draw_offsets(key: Array, m: int, k: int) -> Array:
    """``(m, 2)`` int32 offsets ``(δy, δx)``, each uniform over ``{−k, …, k}``."""
    return jax.random.randint(key, (m, 2), -k, k + 1, dtype=jnp.int32)


def shift_images(A: Array, offsets: Array, k: int) -> Array:
    """``out[i, y, x] = A[i, y − δy_i, x − δx_i]`` (zeros outside) for ``|δ| ≤ k``: pad
    every image by k zeros, then cut the (n_H, n_W) window that starts at ``k − δ``."""
    m, n_H, n_W, n_C = A.shape
    padded = jnp.pad(A, ((0, 0), (k, k), (k, k), (0, 0)))

    def one(image, offset):
        start = (k - offset[0], k - offset[1], jnp.zeros((), offset.dtype))  # one int dtype
        return jax.lax.dynamic_slice(image, start, (n_H, n_W, n_C))

    return jax.vmap(one)(padded, offsets)


def shift_forward(A_prev: Array, k: int, key: Array | None) -> tuple[Array, Array | None]:
    """``(A, offsets)``: every image shifted by its own offset drawn from ``key``; the cache
    is the offsets (None in evaluation, ``key=None``, or k = 0: then ``A = A_prev``)."""
    if key is None or k == 0:
        return A_prev, None
    offsets = draw_offsets(key, A_prev.shape[0], k)
    return shift_images(A_prev, offsets, k), offsets


def shift_backward(dA: Array, offsets: Array | None, k: int) -> Array:
    """``dA_prev = dA`` shifted by ``−offsets`` (the transpose; the identity without them)."""
    if offsets is None:
        return dA
    return shift_images(dA, -offsets, k)


def random_shift(k: int = 2):
    """A ``jaxnn.layers.Layer``: each training image shifted by up to ``k`` pixels in each
    direction (``shift_forward``); the identity in evaluation. Any image network can put it
    first (``jaxnn.models.convnet.lenet5``'s ``shift`` option does)."""
    from jaxnn.layers import Layer, _image, _no_macs, _no_params

    k = check_shift(k)

    def shape(in_shape):
        return tuple(_image(in_shape, "random_shift"))

    def forward(params, A_prev, key=None):
        return shift_forward(A_prev, k, key)

    def backward(params, offsets, dA, need_dA_prev):
        return (shift_backward(dA, offsets, k) if need_dA_prev else None), {}

    return Layer("shift", f"random shift ±{k} px", shape, _no_params, forward, backward,
                 _no_macs, stochastic=True)  # fmt: skip
