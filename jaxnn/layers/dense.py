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


def flatten_forward(A_prev: Array) -> Array:
    """``(m, n_H, n_W, n_C) -> (n_H·n_W·n_C, m)``: one example per column."""
    return A_prev.reshape(A_prev.shape[0], -1).T


def flatten_backward(dA: Array, shape: tuple[int, ...]) -> Array:
    """``(n_H·n_W·n_C, m) -> (m, n_H, n_W, n_C)``: the inverse reshape."""
    return dA.T.reshape(shape)
