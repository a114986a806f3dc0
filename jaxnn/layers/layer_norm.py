"""Layer normalization (Ba, Kiros & Hinton 2016) with a hand-derived backward.

Each example is normalised over its *features*, so the statistics never mix examples: the
same computation at training and at test time, and any batch size (1 included) works.
``axis`` names the feature axis: 0 for columns ``X (n, m)`` (the dense convention), 1 for
sequences ``X (T, d, m)`` (every time step of every example normalised over its ``d``
features). ``gamma``, ``beta`` are shaped ``(n, 1)`` and broadcast along the other axes.

**Forward**, for one slice ``x ∈ ℝⁿ`` along ``axis`` (n features):

    μ = (1/n) Σᵢ xᵢ,   σ² = (1/n) Σᵢ (xᵢ − μ)²,   σ = √(σ² + ε)
    x̂ = (x − μ) / σ,   y = γ ⊙ x̂ + β

**Backward.** Given ``dy = ∂J/∂y`` (which, inside a network, already carries the cost's 1/m):

    dβ = Σ_slices dy,          dγ = Σ_slices dy ⊙ x̂       (sums over every axis but ``axis``)
    dx̂ = γ ⊙ dy

and through the normalisation, for one slice. ``x̂ᵢ`` depends on every ``xⱼ`` through μ and
σ: with ``∂μ/∂xⱼ = 1/n`` and ``∂σ/∂xⱼ = (xⱼ − μ)/(nσ) = x̂ⱼ/n``,

    ∂x̂ᵢ/∂xⱼ = (δᵢⱼ − 1/n)/σ − (xᵢ − μ) x̂ⱼ/(nσ²) = (1/(nσ)) (n δᵢⱼ − 1 − x̂ᵢ x̂ⱼ)

so ``dxⱼ = Σᵢ dx̂ᵢ ∂x̂ᵢ/∂xⱼ``:

    dx = (1/(nσ)) (n dx̂ − Σᵢ dx̂ᵢ − x̂ Σᵢ dx̂ᵢ x̂ᵢ)

(batch normalization's formula, Ioffe & Szegedy 2015, with the sums taken over the features
of one example instead of over the batch). Two consequences a test can check: ``Σ dx = 0``
and ``Σ dx ⊙ x̂ = 0`` along ``axis`` — y does not change when x shifts or scales, so the
gradient has no component in those directions.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.errors import ShapeError

Array = jax.Array


class NormCache(NamedTuple):
    """What the backward of a normalisation over ``axes`` needs (layer norm's and batch
    norm's: ``jaxnn.layers.batch_norm`` normalises over the batch with the same core)."""

    X_hat: Array  # the normalised input, X's shape
    inv_sigma: Array  # 1/σ, X's shape with size 1 along ``axes``
    gamma: Array  # as given, e.g. (n, 1)
    axes: tuple[int, ...]  # the normalised axes, Python ints (keep caches out of jit boundaries)
    shape: tuple[int, ...]  # gamma's shape broadcast against X
    mu: Array  # the means, X's shape with size 1 along ``axes``
    var: Array  # the (biased, 1/N) variances, likewise


def normalize_forward(
    X: Array, gamma: Array, beta: Array, axes: tuple[int, ...], shape: tuple[int, ...],
    eps: float,
) -> tuple[Array, NormCache]:  # fmt: skip
    """``Y = γ ⊙ (X − μ)/√(σ² + ε) + β`` with μ, σ² over ``axes``; γ, β reshaped to
    ``shape`` (X's rank, broadcastable against X)."""
    mu = jnp.mean(X, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(X - mu), axis=axes, keepdims=True)
    inv_sigma = jax.lax.rsqrt(var + eps)
    X_hat = (X - mu) * inv_sigma
    Y = gamma.reshape(shape) * X_hat + beta.reshape(shape)
    return Y, NormCache(X_hat, inv_sigma, gamma, axes, shape, mu, var)


def normalize_backward(dY: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """``(dX, dgamma, dbeta)``: ``dX = (1/(Nσ))(N dx̂ − Σ dx̂ − x̂ Σ dx̂ ⊙ x̂)`` with
    ``dx̂ = γ dY`` and the sums over the N entries of ``axes``; ``dγ, dβ`` summed over the
    axes γ broadcasts along, in gamma's shape."""
    X_hat, inv_sigma, gamma, axes, shape = cache[:5]
    N = math.prod(X_hat.shape[a] for a in axes)
    spread = tuple(a for a in range(X_hat.ndim) if shape[a] == 1)
    dgamma = jnp.sum(dY * X_hat, axis=spread).reshape(gamma.shape)
    dbeta = jnp.sum(dY, axis=spread).reshape(gamma.shape)
    dX_hat = dY * gamma.reshape(shape)
    dX = (inv_sigma / N) * (
        N * dX_hat
        - jnp.sum(dX_hat, axis=axes, keepdims=True)
        - X_hat * jnp.sum(dX_hat * X_hat, axis=axes, keepdims=True)
    )
    return dX, dgamma, dbeta


def _feature_shape(X: Array, gamma: Array, axis: int) -> tuple[int, ...]:
    if not -X.ndim <= axis < X.ndim:
        raise ShapeError(f"layer norm axis {axis} is outside an input of shape {X.shape}")
    n = X.shape[axis]
    if gamma.size != n:
        raise ShapeError(
            f"layer norm over axis {axis} of {tuple(X.shape)} has {n} features, but gamma has "
            f"shape {tuple(gamma.shape)}: give gamma and beta shape ({n}, 1)"
        )
    shape = [1] * X.ndim
    shape[axis] = n
    return tuple(shape)


def layer_norm_forward(
    X: Array, gamma: Array, beta: Array, axis: int = 0, eps: float = 1e-5
) -> tuple[Array, NormCache]:
    """``Y = γ ⊙ (X − μ)/√(σ² + ε) + β``, μ and σ² over ``axis``; returns ``(Y, cache)``."""
    shape = _feature_shape(X, gamma, axis)
    return normalize_forward(X, gamma, beta, (axis % X.ndim,), shape, eps)


def layer_norm_backward(dY: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """``(dX, dgamma, dbeta)``: ``dX = (1/(nσ))(n dx̂ − Σ dx̂ − x̂ Σ dx̂ ⊙ x̂)`` with
    ``dx̂ = γ dY``, sums over ``axis``; ``dγ, dβ`` summed over the other axes, gamma's shape."""
    return normalize_backward(dY, cache)
