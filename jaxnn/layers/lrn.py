"""Local response normalisation across channels (Krizhevsky et al. 2012, §3.3, Eq. 1).

For every example and position (i, h, w), channel c of the output is the input divided by a
power of the squared activity of its ``n`` neighbouring channels:

    S_c = k + α Σ_{j ∈ N(c)} a_j²,        N(c) = {max(0, c − ⌊n/2⌋) … min(N − 1, c + ⌊n/2⌋)}
    b_c = a_c · S_c^(−β)

with the paper's k = 2, n = 5, α = 10⁻⁴, β = 0.75 (α multiplies the plain sum, as printed;
PyTorch's ``LocalResponseNorm`` divides α by n, so its α is the paper's times n). The window
is clipped at the first and last channel, and symmetric: ``j ∈ N(c) ⇔ c ∈ N(j)``.

**Backward** (the paper prints none). b_c depends on a_j through a_c and through S_c:

    ∂b_c/∂a_j = δ_cj S_c^(−β) − β a_c S_c^(−β−1) · ∂S_c/∂a_j,   ∂S_c/∂a_j = 2α a_j 𝟙[j ∈ N(c)]

so, with ``dB`` the gradient at the output,

    dA_j = Σ_c dB_c ∂b_c/∂a_j
         = dB_j S_j^(−β) − 2αβ a_j Σ_{c ∈ N(j)} dB_c a_c S_c^(−β−1)       (window symmetric)
         = dB_j S_j^(−β) − 2αβ a_j Σ_{c ∈ N(j)} dB_c b_c / S_c

— one more windowed channel sum, of ``dB ⊙ B / S``. The cache keeps A, S and B. Both window
sums are ``lax.reduce_window`` over the channel axis padded by ⌊n/2⌋ zeros each side (the
clipping). ``n`` must be odd: the paper's window ``c ± n/2`` is symmetric only then.

Shapes: ``A_prev, A (m, n_H, n_W, n_C)``; no parameters.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
from jax import lax

from jaxnn.errors import ConfigError, ShapeError

Array = jax.Array

PAPER = {"k": 2.0, "n": 5, "alpha": 1e-4, "beta": 0.75}


class LRNCache(NamedTuple):
    A_prev: Array
    S: Array  # k + α Σ_{N(c)} a²
    A: Array  # the output b


def check(n: int, k: float, alpha: float, beta: float) -> None:
    if n < 1 or n % 2 == 0:
        raise ConfigError(f"LRN window n = {n} must be odd and ≥ 1 (the paper's n = 5)")
    if not k > 0 or alpha < 0 or beta < 0:
        raise ConfigError(f"LRN needs k > 0, α ≥ 0, β ≥ 0; got k={k}, α={alpha}, β={beta}")


def window_sum(X: Array, n: int) -> Array:
    """``Σ_{j ∈ N(c)} X[..., j]`` for every channel c (the window clipped at the ends)."""
    half = n // 2
    return lax.reduce_window(X, 0.0, lax.add, (1, 1, 1, n), (1, 1, 1, 1),
                             ((0, 0), (0, 0), (0, 0), (half, half)))  # fmt: skip


def lrn_forward(A_prev: Array, k: float = 2.0, n: int = 5, alpha: float = 1e-4,
                beta: float = 0.75) -> tuple[Array, LRNCache]:  # fmt: skip
    """``b_c = a_c (k + α Σ_{N(c)} a_j²)^(−β)`` (module docstring)."""
    if A_prev.ndim != 4:
        raise ShapeError(f"LRN input must be 4-D (m, n_H, n_W, n_C); got {tuple(A_prev.shape)}")
    S = k + alpha * window_sum(A_prev * A_prev, n)
    A = A_prev * S ** (-beta)
    return A, LRNCache(A_prev, S, A)


def lrn_backward(dA: Array, cache: LRNCache, n: int = 5, alpha: float = 1e-4,
                 beta: float = 0.75) -> Array:  # fmt: skip
    """``dA_prev = dB S^(−β) − 2αβ A_prev ⊙ Σ_{N(j)} (dB ⊙ B / S)`` (module docstring)."""
    A_prev, S, B = cache
    return dA * S ** (-beta) - 2 * alpha * beta * A_prev * window_sum(dA * B / S, n)


def lrn(k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75):
    """A ``jaxnn.layers.Layer``: LRN across channels, the paper's constants by default."""
    from jaxnn.layers import Layer, _image, _no_macs, _no_params

    check(n, k, alpha, beta)

    def forward(params, A_prev):
        return lrn_forward(A_prev, k, n, alpha, beta)

    def backward(params, cache, dA, need_dA_prev):
        return (lrn_backward(dA, cache, n, alpha, beta) if need_dA_prev else None), {}

    return Layer("lrn", f"LRN n={n} k={k:g} α={alpha:g} β={beta:g}",
                 lambda in_shape: tuple(_image(in_shape, "LRN")), _no_params, forward, backward,
                 _no_macs)  # fmt: skip
