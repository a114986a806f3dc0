"""Batch normalization (Ioffe & Szegedy 2015) with hand-derived backward passes.

Each unit (dense: a row of ``Z (n, m)``) or channel (spatial: the last axis of
``Z (m, n_H, n_W, n_C)``) is normalised over the batch: its N values are the m examples
(dense) or the m·n_H·n_W positions of every example (spatial, so that a convolution's
feature map stays one feature: the paper's §3.2). ``gamma``, ``beta`` have the bias's shape:
``(n, 1)`` dense, ``(1, 1, 1, n_C)`` spatial.

**Training mode** (Algorithm 1 of the paper), over the N values x of one unit:

    μ = (1/N) Σ x,   σ² = (1/N) Σ (x − μ)²,   σ = √(σ² + ε),   x̂ = (x − μ)/σ,   y = γ x̂ + β

**Backward.** ``dy = ∂J/∂y`` (already carrying the cost's 1/m). γ and β act on every value:

    dβ = Σ dy,   dγ = Σ dy ⊙ x̂,   dx̂ = γ dy

Every x̂ depends on every x of its unit through μ and σ: ``∂μ/∂xⱼ = 1/N`` and
``∂σ/∂xⱼ = (xⱼ − μ)/(Nσ) = x̂ⱼ/N``, so ``∂x̂ᵢ/∂xⱼ = (N δᵢⱼ − 1 − x̂ᵢ x̂ⱼ)/(Nσ)`` and
``dxⱼ = Σᵢ dx̂ᵢ ∂x̂ᵢ/∂xⱼ`` is the **compact form**

    dx = γ/(Nσ) · (N dy − Σ dy − x̂ Σ (dy ⊙ x̂))

(``batch_norm_backward``; the core ``normalize_backward`` of ``jaxnn.layers.layer_norm``
with the sums over the batch). The **step-by-step form** (``batch_norm_backward_explicit``,
cs231n's computational graph) walks the forward's nodes in reverse, each a local rule:

    x̄ = x − μ:   dx̄ = dx̂/σ + (2/N) x̄ dσ²      (x̄ reaches x̂ directly and through σ²)
    σ² = mean x̄²:   dσ² = Σ dx̂ ⊙ x̄ · (−½)(σ² + ε)^(−3/2)
    μ = mean x:   dμ = −Σ dx̄
    dx = dx̄ + dμ/N                            (x reaches x̄ directly and through μ)

Both are tested against ``jax.grad`` and central differences.

**Evaluation mode** uses running estimates instead of the batch's statistics, updated at
every training step (PyTorch's convention: ``momentum`` is the weight of the new batch):

    running_mean ← (1 − momentum) running_mean + momentum μ
    running_var  ← (1 − momentum) running_var  + momentum σ² · N/(N − 1)

(the unbiased variance, as the paper's inference network uses). Then
``y = γ (x − running_mean)/√(running_var + ε) + β``, an affine map of each x alone.

**A batch of one** (dense, N = 1): x̂ = 0 whatever x is, so the output is β and no gradient
reaches x or γ; and the unbiased variance divides by N − 1 = 0. Training mode therefore
refuses N = 1 with a ``ShapeError`` (at trace time, before any step runs); spatial batch
norm has N = n_H·n_W ≥ 2 values per channel even for one image.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnn.errors import ShapeError
from jaxnn.layers.layer_norm import NormCache, normalize_backward, normalize_forward

Array = jax.Array


def batch_axes(X: Array) -> tuple[int, ...]:
    """The axes the statistics run over: ``(1,)`` for columns ``(n, m)``, ``(0, 1, 2)`` for
    images ``(m, n_H, n_W, n_C)``."""
    if X.ndim == 2:
        return (1,)
    if X.ndim == 4:
        return (0, 1, 2)
    raise ShapeError(
        f"batch norm takes columns (n, m) or images (m, n_H, n_W, n_C); got {tuple(X.shape)}"
    )


def _param_shape(X: Array, gamma: Array, axes: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(1 if a in axes else X.shape[a] for a in range(X.ndim))
    if gamma.size != math.prod(shape):
        raise ShapeError(
            f"batch norm of {tuple(X.shape)} needs gamma and beta of shape {shape}; got "
            f"{tuple(gamma.shape)}"
        )
    return shape


def batch_norm_forward(
    X: Array, gamma: Array, beta: Array, eps: float = 1e-5
) -> tuple[Array, NormCache]:
    """Training mode: ``Y = γ (X − μ_B)/√(σ²_B + ε) + β`` with the batch's statistics;
    ``cache.mu``/``cache.var`` are those statistics (``running_update`` takes them)."""
    axes = batch_axes(X)
    N = math.prod(X.shape[a] for a in axes)
    if N < 2:
        raise ShapeError(
            "batch norm in training mode needs ≥ 2 values per unit, and a batch of 1 column "
            "has 1 (its output would be β whatever the input): use a batch size ≥ 2, and one "
            "that leaves no last batch of 1 (m mod batch size ≠ 1)"
        )
    return normalize_forward(X, gamma, beta, axes, _param_shape(X, gamma, axes), eps)


def batch_norm_backward(dY: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """``(dX, dgamma, dbeta)``, compact: ``dX = γ/(Nσ) (N dY − Σ dY − x̂ Σ dY ⊙ x̂)``."""
    return normalize_backward(dY, cache)


def batch_norm_backward_explicit(dY: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """``(dX, dgamma, dbeta)`` node by node through the forward's graph (module docstring)."""
    X_hat, inv_sigma, gamma, axes, shape = cache[:5]
    N = math.prod(X_hat.shape[a] for a in axes)
    spread = tuple(a for a in range(X_hat.ndim) if shape[a] == 1)
    dbeta = jnp.sum(dY, axis=spread).reshape(gamma.shape)
    dgamma = jnp.sum(dY * X_hat, axis=spread).reshape(gamma.shape)
    dX_hat = dY * gamma.reshape(shape)
    X_bar = X_hat / inv_sigma  # x − μ
    d_inv_sigma = jnp.sum(dX_hat * X_bar, axis=axes, keepdims=True)  # x̂ = x̄ · (1/σ)
    d_var = d_inv_sigma * (-0.5) * inv_sigma**3  # 1/σ = (σ² + ε)^(−1/2)
    dX_bar = dX_hat * inv_sigma + (2.0 / N) * X_bar * d_var  # σ² = mean x̄²
    d_mu = -jnp.sum(dX_bar, axis=axes, keepdims=True)  # x̄ = x − μ
    dX = dX_bar + d_mu / N  # μ = mean x
    return dX, dgamma, dbeta


def running_update(
    running_mean: Array, running_var: Array, cache: NormCache, momentum: float = 0.1
) -> tuple[Array, Array]:
    """The running statistics after one training step (unbiased variance, N/(N − 1))."""
    N = math.prod(cache.X_hat.shape[a] for a in cache.axes)
    mean = cache.mu.reshape(running_mean.shape)
    var = cache.var.reshape(running_var.shape) * (N / (N - 1))
    return ((1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * var)  # fmt: skip


def batch_norm_eval(
    X: Array, gamma: Array, beta: Array, running_mean: Array, running_var: Array,
    eps: float = 1e-5,
) -> Array:  # fmt: skip
    """Evaluation mode: ``Y = γ (X − running_mean)/√(running_var + ε) + β``."""
    shape = _param_shape(X, gamma, batch_axes(X))
    inv_sigma = jax.lax.rsqrt(running_var.reshape(shape) + eps)
    return gamma.reshape(shape) * (X - running_mean.reshape(shape)) * inv_sigma + beta.reshape(
        shape
    )
