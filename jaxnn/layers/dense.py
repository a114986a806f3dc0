"""Dense (fully connected) layers and the flatten that feeds them, column convention.

A dense layer is the MLP's layer (notes §4): ``Z = W A_prev + b`` with ``A_prev (n_prev, m)``
one example per column, ``W (n, n_prev)``, ``b (n, 1)``. Inside a composed network the
gradient arriving at Z already carries the cost's 1/m (the loss module divides once), so

    dW = dZ A_prevᵀ,   db = Σ_columns dZ,   dA_prev = Wᵀ dZ

(``jaxnn.mlp.linear_backward`` is the same with the 1/m applied there instead).

``flatten`` turns images ``(m, n_H, n_W, n_C)`` into columns ``(n_H·n_W·n_C, m)``, each
example's pixels in row-major (h, w, c) order; its backward is the inverse reshape.
(PyTorch flattens (c, h, w): weights moved between the two need their columns permuted.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.errors import ShapeError

Array = jax.Array


def dense_forward(A_prev: Array, W: Array, b: Array) -> tuple[Array, Array]:
    """``Z = W A_prev + b``; the cache is ``A_prev``."""
    if A_prev.ndim != 2 or A_prev.shape[0] != W.shape[1]:
        raise ShapeError(
            f"dense layer W {tuple(W.shape)} expects inputs (n_prev, m) = ({W.shape[1]}, m), "
            f"one example per column; got {tuple(A_prev.shape)}"
        )
    return W @ A_prev + b, A_prev


def dense_backward(
    dZ: Array, A_prev: Array, W: Array, need_dA_prev: bool = True
) -> tuple[Array | None, Array, Array]:
    """``(dA_prev, dW, db) = (Wᵀ dZ, dZ A_prevᵀ, Σ_columns dZ)`` (1/m is already in dZ)."""
    dW = dZ @ A_prev.T
    db = jnp.sum(dZ, axis=1, keepdims=True)
    return (W.T @ dZ if need_dA_prev else None), dW, db


def dense_backward2(
    d2Z: Array, A_prev: Array, W: Array, need_d2A_prev: bool = True
) -> tuple[Array | None, Array, Array]:
    """``(d2A_prev, d2W, d2b) = ((W²)ᵀ d2Z, d2Z (A_prev²)ᵀ, Σ_columns d2Z)``: second
    derivatives in the diagonal Gauss–Newton form (LeCun et al. 1998, Appendix C, Eqs. for
    ``∂²E/∂w_ij²`` and ``∂²E/∂x_j²``). ``Z_i = Σ_j W_ij A_j + b_i`` is linear, so with the
    Hessian's off-diagonal terms dropped

        ∂²E/∂W_ij² = A_j² ∂²E/∂Z_i²,   ∂²E/∂b_i² = ∂²E/∂Z_i²,   ∂²E/∂A_j² ≈ Σ_i W_ij² ∂²E/∂Z_i²

    summed over the examples (columns): ``dense_backward`` with every factor squared
    (``d2Z`` already carries the cost's 1/m, as ``dZ`` does)."""
    return dense_backward(d2Z, A_prev * A_prev, W * W, need_d2A_prev)


def flatten_forward(A_prev: Array) -> Array:
    """``(m, n_H, n_W, n_C) -> (n_H·n_W·n_C, m)``: one example per column."""
    return A_prev.reshape(A_prev.shape[0], -1).T


def flatten_backward(dA: Array, shape: tuple[int, ...]) -> Array:
    """``(n_H·n_W·n_C, m) -> (m, n_H, n_W, n_C)``: the inverse reshape."""
    return dA.T.reshape(shape)
