"""The Transformer's position-wise feed-forward network with GELU (Vaswani et al. 2017 §3.3;
GELU as in GPT and BERT, Hendrycks & Gimpel 2016), forward with cache and backward.

Applied to every step of ``X (T, d, m)`` alike::

    Z = W_1 x_t + b_1         W_1 (d_ff, d), b_1 (d_ff, 1)
    A = GELU(Z)
    y_t = W_2 A + b_2         W_2 (d, d_ff), b_2 (d, 1)

**GELU, the exact form** ``GELU(z) = z Φ(z)``, Φ the standard normal CDF
``Φ(z) = ½(1 + erf(z/√2))`` (PyTorch's default ``nn.GELU()``, ``jax.nn.gelu(approximate=False)``);
not the tanh approximation ``½z(1 + tanh(√(2/π)(z + 0.044715 z³)))``, which differs by up
to ~1e-3 and would need its own derivative. Its derivative (product rule, Φ′ = φ)::

    GELU′(z) = Φ(z) + z φ(z),     φ(z) = exp(−z²/2) / √(2π)

Backward, the dense layer's at every step, parameters summed over the steps and columns::

    dW_2 = Σ_t dy_t A_tᵀ    db_2 = Σ_t Σ_columns dy_t    dA = W_2ᵀ dy_t
    dZ = dA ⊙ GELU′(Z)
    dW_1 = Σ_t dZ_t x_tᵀ    db_1 = Σ_t Σ_columns dZ_t    dx_t = W_1ᵀ dZ_t
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy.special

Array = jax.Array


def gelu(Z: Array) -> Array:
    """``z Φ(z)``, the exact GELU."""
    return Z * 0.5 * (1.0 + jax.scipy.special.erf(Z / math.sqrt(2.0)))


def gelu_prime(Z: Array) -> Array:
    """``Φ(z) + z φ(z)``."""
    Phi = 0.5 * (1.0 + jax.scipy.special.erf(Z / math.sqrt(2.0)))
    return Phi + Z * jnp.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi)


def feedforward_forward(X: Array, W_1: Array, b_1: Array, W_2: Array,
                        b_2: Array) -> tuple[Array, dict]:  # fmt: skip
    """``(Y (T, d, m), cache)``; the cache holds X and Z (A is recomputed: one elementwise
    pass, not d_ff·T·m numbers more)."""
    Z = jnp.einsum("fd,tdm->tfm", W_1, X) + b_1
    Y = jnp.einsum("df,tfm->tdm", W_2, gelu(Z)) + b_2
    return Y, {"X": X, "Z": Z}


def feedforward_backward(dY: Array, cache: dict, W_1: Array, W_2: Array) -> dict:
    """``{"dX", "dW_1", "db_1", "dW_2", "db_2"}`` from ``dY (T, d, m)``."""
    X, Z = cache["X"], cache["Z"]
    dZ = jnp.einsum("df,tdm->tfm", W_2, dY) * gelu_prime(Z)
    return {"dX": jnp.einsum("fd,tfm->tdm", W_1, dZ),
            "dW_1": jnp.einsum("tfm,tdm->fd", dZ, X), "db_1": jnp.sum(dZ, axis=(0, 2))[:, None],
            "dW_2": jnp.einsum("tdm,tfm->df", dY, gelu(Z)),
            "db_2": jnp.sum(dY, axis=(0, 2))[:, None]}  # fmt: skip


def feedforward_rows_forward(X: Array, W_1: Array, b_1: Array, W_2: Array,
                             b_2: Array) -> tuple[Array, dict]:  # fmt: skip
    """The same network on rows ``X (..., d)`` (one example-step per row, as the Transformer
    keeps them): ``Z = X W_1ᵀ + b_1ᵀ``, ``Y = GELU(Z) W_2ᵀ + b_2ᵀ``, each a single GEMM over all
    rows. ``(Y (..., d), cache)``; the cache holds X and Z."""
    Z = X @ W_1.T + b_1[:, 0]
    return gelu(Z) @ W_2.T + b_2[:, 0], {"X": X, "Z": Z}


def feedforward_rows_backward(dY: Array, cache: dict, W_1: Array, W_2: Array) -> dict:
    """``{"dX", "dW_1", "db_1", "dW_2", "db_2"}`` from rows ``dY (..., d)``: the module
    docstring's sums, each over every row (``dW_2 = dYᵀ A``, ``dW_1 = dZᵀ X``)."""
    X, Z = cache["X"], cache["Z"]
    rows = tuple(range(X.ndim - 1))
    dZ = (dY @ W_2) * gelu_prime(Z)
    return {"dX": dZ @ W_1,
            "dW_1": jnp.tensordot(dZ, X, axes=(rows, rows)),
            "db_1": jnp.sum(dZ, axis=rows)[:, None],
            "dW_2": jnp.tensordot(dY, gelu(Z), axes=(rows, rows)),
            "db_2": jnp.sum(dY, axis=rows)[:, None]}  # fmt: skip
