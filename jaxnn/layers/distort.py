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

**Backward.** A is linear in A_prev: ``∂A[i, p, c]/∂A_prev[i, q, c] = Σ_{n(i,p) = q} ω_n``.
The transpose sends each output pixel's gradient back to the four pixels it read, weighted
the same way, and adds where several output pixels read one input pixel:

    dA_prev[i, q, c] = Σ_p Σ_{n: n(i,p) = q} ω_n(i, p) · dA[i, p, c]

**Second order** (the diagonal Gauss–Newton form of Appendix C, ``backward2``): every
connection's weight squared, the cross terms dropped, summed over the connections into q:

    d2A_prev[i, q, c] = Σ_p Σ_{n: n(i,p) = q} ω_n(i, p)² · d2A[i, p, c]

Shapes: images ``(m, n_H, n_W, n_C)``; the cache holds, per image and output pixel, the four
neighbours' flat indices ``(m, n_H·n_W, 4)`` int32 and weights (0 for those outside).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.errors import ConfigError

Array = jax.Array

TRANSLATION = 2.0  # τ: pixels each way (ours: the paper prints no range)


class DistortCache(NamedTuple):
    index: Array  # (m, n_H·n_W, 4) int32: the neighbours' flat pixel indices
    weight: Array  # (m, n_H·n_W, 4): ω_n, 0 for a neighbour outside the image


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
    """Every output pixel's four neighbours and weights (module docstring) for each draw."""
    c_y, c_x = (n_H - 1) / 2, (n_W - 1) / 2
    y, x = jnp.meshgrid(jnp.arange(n_H, dtype=draws.dtype) - c_y,
                        jnp.arange(n_W, dtype=draws.dtype) - c_x, indexing="ij")  # fmt: skip
    s, q, k, t_y, t_x = (draws[:, j, None, None] for j in range(5))
    y_src = s * y / q + c_y - t_y
    x_src = s * q * (x + k * y) + c_x - t_x
    y0, x0 = jnp.floor(y_src), jnp.floor(x_src)
    alpha, beta = y_src - y0, x_src - x0
    corners = ((0, 0, (1 - alpha) * (1 - beta)), (0, 1, (1 - alpha) * beta),
               (1, 0, alpha * (1 - beta)), (1, 1, alpha * beta))  # fmt: skip
    index, weight = [], []
    for dy, dx, w in corners:
        row, col = (y0 + dy).astype(jnp.int32), (x0 + dx).astype(jnp.int32)
        inside = (row >= 0) & (row < n_H) & (col >= 0) & (col < n_W)
        index.append(jnp.where(inside, row * n_W + col, 0))
        weight.append(jnp.where(inside, w, 0))
    m = draws.shape[0]
    return DistortCache(jnp.stack(index, -1).reshape(m, n_H * n_W, 4),
                        jnp.stack(weight, -1).reshape(m, n_H * n_W, 4))  # fmt: skip


def apply(A_prev: Array, cache: DistortCache) -> Array:
    """``A[i, p] = Σ_n ω_n A_prev[i, n]``."""
    m, n_H, n_W, n_C = A_prev.shape
    flat = A_prev.reshape(m, n_H * n_W, n_C)
    read = jax.vmap(lambda image, index: image[index])(flat, cache.index)  # (m, P, 4, n_C)
    A = jnp.sum(cache.weight[..., None].astype(A_prev.dtype) * read, axis=2)
    return A.reshape(m, n_H, n_W, n_C)


def transpose(dA: Array, cache: DistortCache, power: int = 1) -> Array:
    """``dA_prev[i, q] = Σ_{p, n: n(i,p) = q} ω_nᵖᵒʷᵉʳ dA[i, p]`` (power 1: the backward;
    2: the second-order backward)."""
    m, n_H, n_W, n_C = dA.shape
    flat = dA.reshape(m, n_H * n_W, 1, n_C)
    sent = (cache.weight.astype(dA.dtype) ** power)[..., None] * flat  # (m, P, 4, n_C)

    def one(values, index):
        return (
            jnp.zeros((n_H * n_W, n_C), dA.dtype).at[index.reshape(-1)].add(values.reshape(-1, n_C))
        )

    return jax.vmap(one)(sent, cache.index).reshape(m, n_H, n_W, n_C)


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
