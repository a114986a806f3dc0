"""Random affine distortions: the training set of LeCun et al. (1998) grown inside the step.

LeCun, Bottou, Bengio & Haffner (1998), §III.C: LeNet-5's error fell from 0.95 % to 0.8 %
when the training set was grown with distorted copies of its digits, "combinations of the
following planar affine transformations: horizontal and vertical translations, scaling,
squeezing (simultaneous horizontal compression and vertical elongation, or the reverse),
and horizontal shearing". The paper generated the copies once, before training, and does not
print the ranges; here every training image gets a new distortion at every step, drawn on
the device in the compiled step (as ``jaxnn.layers.shift`` draws its offsets), with the
ranges below (jaxnn's, named as such in ``docs/lenet1998_sdlm.md``). ``key=None`` is
evaluation, the identity: the test images are never distorted.

**The map.** With pixel coordinates ``p = (y, x)`` measured from the image's centre
``c = ((n_H − 1)/2, (n_W − 1)/2)``, output pixel ``p`` reads the input at
``p_src = M (p − c) + c − t``; for one image's draw ``(s, q, k, t_y, t_x)``:

    y_src = s · y′ / q              + c_y − t_y        y′ = y − c_y, x′ = x − c_x
    x_src = s · q · (x′ + k · y′)   + c_x − t_x

``s`` scales (uniform in [1 − a, 1 + a]), ``q`` squeezes (one axis × q, the other ÷ q;
q uniform in [1 − a, 1 + a]), ``k`` shears horizontally (uniform in [−a, a]), ``t`` translates
(each uniform in [−τ, τ] pixels); ``a`` is the layer's ``strength``. Reading the input at the
distorted point moves the image by the inverse map, whose family is the same.

**Bilinear interpolation** at ``p_src``: with ``y₀ = ⌊y_src⌋``, ``α = y_src − y₀`` (the same
for x, ``β``), the four neighbours ``n ∈ {(y₀, x₀), (y₀, x₀+1), (y₀+1, x₀), (y₀+1, x₀+1)}``
weigh ``ω_n = (1−α)(1−β), (1−α)β, α(1−β), αβ``, and a neighbour outside the image reads 0
(the background of pixels in [0, 1]; put the layer before any rescaling of them):

    A[i, p, c] = Σ_n ω_n(i, p) · A_prev[i, n(i, p), c]

Each weight is the product of two "hat" weights, ``max(0, 1 − |y_src − j|)`` along y and
``max(0, 1 − |x_src − j|)`` along x (1 − α at y₀, α at y₀ + 1, 0 at every other row j), and
``y_src`` depends on the output row only (the shear is horizontal), so the interpolation is
two small matrix products, no gather: ``R[i, y, j]`` (n_H × n_H) reads every output row from
the input's rows, then ``C[i, y, x, j]`` (one n_W × n_W matrix per row) reads along x:

    A[i] = C[i] · (R[i] · A_prev[i])          (row by row for C)

A pixel outside the image has no column in R or C: it reads 0 without a test.

**Backward.** A is linear in A_prev: ``∂A[i, p, c]/∂A_prev[i, q, c] = Σ_{n(i,p) = q} ω_n``.
The transpose sends each output pixel's gradient back to the four pixels it read, weighted
the same way, and adds where several output pixels read one input pixel:

    dA_prev[i, q, c] = Σ_p Σ_{n: n(i,p) = q} ω_n(i, p) · dA[i, p, c]
                     = (R[i]ᵀ · (C[i]ᵀ dA[i]))[q, c]        (C[i]ᵀ row by row)

**Second order** (the diagonal Gauss–Newton form of Appendix C, ``backward2``): every
connection's weight squared, the cross terms dropped, summed over the connections into q —
a connection's weight is ``R[i, y, j]·C[i, y, x, j′]``, its square ``R²·C²``:

    d2A_prev[i, q, c] = Σ_p Σ_{n: n(i,p) = q} ω_n(i, p)² · d2A[i, p, c]
                      = (R[i]²ᵀ · (C[i]²ᵀ d2A[i]))[q, c]

Shapes: images ``(m, n_H, n_W, n_C)``; the cache holds R ``(m, n_H, n_H)`` and C
``(m, n_H, n_W, n_W)`` (about 33,000 numbers an image at 32×32).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.errors import ConfigError

Array = jax.Array

TRANSLATION = 2.0  # τ: pixels each way (ours: the paper prints no range)


class DistortCache(NamedTuple):
    rows: Array  # (m, n_H, n_H): R[i, y, j] = max(0, 1 − |y_src(i, y) − j|)
    cols: Array  # (m, n_H, n_W, n_W): C[i, y, x, j] = max(0, 1 − |x_src(i, y, x) − j|)


def check_strength(a) -> float:
    """The strength ``a`` in [0, 0.5): 0 turns the distortions off."""
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 <= a < 0.5:
        raise ConfigError(f"distort {a!r} must be a number in [0, 0.5): the largest relative "
                          "scaling, squeezing and shear (0.1 = ±10 %); 0 turns it off")  # fmt: skip
    return float(a)


def draw(key: Array, m: int, a: float, translation: float = TRANSLATION) -> Array:
    """``(m, 5)`` float32: each image's ``(s, q, k, t_y, t_x)``, uniform over the ranges
    above. Always drawn in float32, so that a float64 gradient check of a float32 run sees
    the same distortions (as dropout's masks, issue 33)."""
    low = jnp.asarray([1 - a, 1 - a, -a, -translation, -translation], jnp.float32)
    high = jnp.asarray([1 + a, 1 + a, a, translation, translation], jnp.float32)
    return jax.random.uniform(key, (m, 5), jnp.float32, low, high)


def sampling(draws: Array, n_H: int, n_W: int) -> DistortCache:
    """The interpolation's two factors (module docstring) for each draw."""
    c_y, c_x = (n_H - 1) / 2, (n_W - 1) / 2
    y = jnp.arange(n_H, dtype=draws.dtype)[:, None] - c_y  # (n_H, 1)
    x = jnp.arange(n_W, dtype=draws.dtype)[None, :] - c_x  # (1, n_W)
    s, q, k, t_y, t_x = (draws[:, j, None, None] for j in range(5))
    y_src = (s * y / q + c_y - t_y)[:, :, 0]  # (m, n_H): the same for every x
    x_src = s * q * (x + k * y) + c_x - t_x  # (m, n_H, n_W)

    def hat(src, n):  # bilinear weights of the n pixels along one axis
        return jnp.maximum(0, 1 - jnp.abs(src[..., None] - jnp.arange(n, dtype=src.dtype)))

    return DistortCache(hat(y_src, n_H), hat(x_src, n_W))


def apply(A_prev: Array, cache: DistortCache) -> Array:
    """``A[i, y, x] = Σ_j C[i, y, x, j] Σ_j′ R[i, y, j′] A_prev[i, j′, j]``."""
    rows, cols = (f.astype(A_prev.dtype) for f in cache)
    T = jnp.einsum("iyj,ijxc->iyxc", rows, A_prev)  # each output row read along y
    return jnp.einsum("iyxj,iyjc->iyxc", cols, T)  # then along x, row by row


def transpose(dA: Array, cache: DistortCache, power: int = 1) -> Array:
    """``dA_prev = Rᵀ (C ⊙ dA)`` with every factor to the ``power`` (1: the backward, 2: the
    second-order backward: each connection's weight ``R·C`` squared is ``R²·C²``)."""
    rows, cols = (f.astype(dA.dtype) ** power for f in cache)
    dT = jnp.einsum("iyxj,iyxc->iyjc", cols, dA)
    return jnp.einsum("iyj,iyxc->ijxc", rows, dT)


def distort_forward(A_prev: Array, a: float, key: Array | None, translation: float = TRANSLATION
                    ) -> tuple[Array, DistortCache | None]:  # fmt: skip
    """``(A, cache)``: every image distorted by its own draw from ``key``; the cache is None
    (and ``A = A_prev``) in evaluation (``key=None``) or for ``a = 0`` and no translation."""
    if key is None or (a == 0 and translation == 0):
        return A_prev, None
    m, n_H, n_W, _ = A_prev.shape
    cache = sampling(draw(key, m, a, translation).astype(A_prev.dtype), n_H, n_W)
    return apply(A_prev, cache), cache


def random_affine(a: float = 0.1, translation: float = TRANSLATION):
    """A ``jaxnn.layers.Layer``: each training image distorted by its own random affine map
    (module docstring); the identity in evaluation. ``lenet5_1998``'s ``distort`` option puts
    it first, before the pixels are rescaled."""
    from jaxnn.layers import Layer, _image, _no_macs, _no_params

    a = check_strength(a)

    def shape(in_shape):
        return tuple(_image(in_shape, "random_affine"))

    def forward(params, A_prev, key=None):
        return distort_forward(A_prev, a, key, translation)

    def backward(params, cache, dA, need_dA_prev):
        if not need_dA_prev:
            return None, {}
        return (dA if cache is None else transpose(dA, cache)), {}

    def backward2(params, cache, d2A, dA, need_d2A_prev):
        if not need_d2A_prev:
            return None, {}
        return (d2A if cache is None else transpose(d2A, cache, power=2)), {}

    return Layer("distort", f"random affine ±{a:g}, ±{translation:g} px", shape, _no_params,
                 forward, backward, _no_macs, stochastic=True, backward2=backward2)  # fmt: skip
