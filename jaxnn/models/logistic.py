"""Logistic regression as in the notes (§1): params ``{"w": (n_x, 1), "b": scalar}``.

    z = wᵀx + b,  a = σ(z),  L(a, y) = −(y log a + (1−y) log(1−a)),  J = (1/m) Σ_i L(a⁽ⁱ⁾, y⁽ⁱ⁾).

X is (n_x, m), Y is (1, m): one example per column.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnn import losses, validate
from jaxnn.errors import ShapeError

Array = jax.Array


def init(n_x: int, dtype=jnp.float32) -> dict[str, Array]:
    """Zeros, as in the notes (logistic regression has no symmetry to break)."""
    validate.dtype_available(dtype)
    return {"w": jnp.zeros((n_x, 1), dtype), "b": jnp.zeros((), dtype)}


def _check(params: dict, X: Array, Y: Array | None = None) -> None:
    n_x = params["w"].shape[0]
    if X.ndim != 2 or X.shape[0] != n_x:
        raise ShapeError(
            f"X must be (n_x, m) = ({n_x}, m) with one example per column; got {tuple(X.shape)}"
        )
    if Y is not None and Y.shape != (1, X.shape[1]):
        raise ShapeError(f"Y must be (1, m) = (1, {X.shape[1]}); got {tuple(Y.shape)}")


def logits(params: dict, X: Array) -> Array:
    """Z = wᵀX + b, shape (1, m)."""
    _check(params, X)
    return params["w"].T @ X + params["b"]


def forward(params: dict, X: Array) -> Array:
    """A = σ(wᵀX + b), shape (1, m)."""
    return jax.nn.sigmoid(logits(params, X))


def cost(params: dict, X: Array, Y: Array) -> Array:
    """J(w, b) = (1/m) Σ_i L(a⁽ⁱ⁾, y⁽ⁱ⁾), evaluated stably from the logits."""
    _check(params, X, Y)
    return losses.binary_cross_entropy_with_logits(logits(params, X), Y)


def grads(params: dict, X: Array, Y: Array) -> dict[str, Array]:
    """Vectorized gradients: dZ = A − Y,  dw = (1/m) X dZᵀ,  db = (1/m) Σ dZ.

    Shapes: X (n_x, m), Y and dZ (1, m), dw (n_x, 1), db scalar.
    """
    _check(params, X, Y)
    m = X.shape[1]
    dZ = forward(params, X) - Y
    return {"w": X @ dZ.T / m, "b": jnp.sum(dZ) / m}


def grads_loop(params: dict, X: Array, Y: Array) -> dict[str, Array]:
    """The notes' per-example loop (n-feature version, dw a vector), compiled by lax.fori_loop:

        dw = 0; db = 0
        for i = 1..m:
            z(i) = wᵀx(i) + b;  a(i) = σ(z(i));  dz(i) = a(i) − y(i)
            dw += x(i) dz(i);   db += dz(i)
        dw /= m; db /= m

    Equal to ``grads`` and to ``jax.grad`` (tested).
    """
    _check(params, X, Y)
    m = X.shape[1]
    w, b = params["w"][:, 0], params["b"]

    def body(i, carry):
        dw, db = carry
        x_i = X[:, i]
        a_i = jax.nn.sigmoid(jnp.dot(w, x_i) + b)
        dz_i = a_i - Y[0, i]
        return dw + x_i * dz_i, db + dz_i

    dw, db = jax.lax.fori_loop(0, m, body, (jnp.zeros_like(w), jnp.zeros_like(b)))
    return {"w": (dw / m)[:, None], "b": db / m}


def predict(params: dict, X: Array) -> Array:
    """1 where a ≥ 0.5, else 0; shape (1, m)."""
    return (forward(params, X) >= 0.5).astype(jnp.int32)


def grads_pure_python(w: list[float], b: float, X_rows: list[list[float]], y: list[float]):
    """The notes' per-example loop in pure Python (no numpy, no JAX): the baseline of the
    "vectorization is up to 300× faster" claim. ``X_rows`` holds one example per row (lists).
    Returns ``(dw, db)`` as a list and a float."""
    m, n = len(X_rows), len(w)
    dw, db = [0.0] * n, 0.0
    for i in range(m):
        x = X_rows[i]
        z = b
        for j in range(n):
            z += w[j] * x[j]
        dz = 1.0 / (1.0 + math.exp(-z)) - y[i]
        for j in range(n):
            dw[j] += x[j] * dz
        db += dz
    return [d / m for d in dw], db / m
