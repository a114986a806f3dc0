"""Losses: each returns the cost J, the loss averaged over the m examples (notes §1, §4, §5).

Column convention: predictions and targets are ``(n_y, m)``; one example per column.
``J = (1/m) Σ_i L(a⁽ⁱ⁾, y⁽ⁱ⁾)`` where the per-example loss sums over the rows of its column.

The ``*_with_logits`` forms take the pre-activation ``Z`` and never evaluate ``log(0)``: use
them for training. ``binary_cross_entropy`` and ``cross_entropy`` are the notes' printed
formulas on probabilities, kept as references (they overflow to ``inf`` when ``a`` reaches
0 or 1 in floating point).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def _num_examples(Y: Array) -> int:
    return Y.shape[-1]


def binary_cross_entropy(A: Array, Y: Array) -> Array:
    """J = −(1/m) Σ [y log a + (1−y) log(1−a)], on probabilities A (the printed formula).

    Shapes: A, Y (n_y, m). Not stable: log(0) = −inf when a saturates; prefer
    ``binary_cross_entropy_with_logits``.
    """
    m = _num_examples(Y)
    return -jnp.sum(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A)) / m


def binary_cross_entropy_with_logits(Z: Array, Y: Array) -> Array:
    """BCE of a = σ(z), computed from the logits z without forming a.

    −[y log σ(z) + (1−y) log(1−σ(z))] = softplus(z) − y z, with
    softplus(z) = log(1 + e^z) evaluated as logaddexp(z, 0): finite for any finite z,
    and its gradient σ(z) − y is exact. Shapes: Z, Y (n_y, m).
    """
    m = _num_examples(Y)
    return jnp.sum(jax.nn.softplus(Z) - Y * Z) / m


def cross_entropy(A: Array, Y: Array) -> Array:
    """J = −(1/m) Σ_i Σ_c y_ci log a_ci on probabilities A (C, m), one-hot Y (C, m)."""
    m = _num_examples(Y)
    return -jnp.sum(Y * jnp.log(A)) / m


def softmax_cross_entropy(Z: Array, Y: Array) -> Array:
    """Cross-entropy of softmax(Z) from logits Z (C, m) and one-hot Y (C, m).

    ℓ = −Σ_c y_c log softmax(z)_c = −Σ_c y_c (z_c − max z − log Σ_k e^(z_k − max z)):
    subtracting the column max keeps every exponent ≤ 0.
    """
    m = _num_examples(Y)
    log_probs = jax.nn.log_softmax(Z, axis=0)
    return -jnp.sum(Y * log_probs) / m


def squared_error(A: Array, Y: Array) -> Array:
    """J = (1/m) Σ_i ½‖a⁽ⁱ⁾ − y⁽ⁱ⁾‖². Shapes: A, Y (n_y, m). dJ/dA = (A − Y)/m."""
    m = _num_examples(Y)
    return 0.5 * jnp.sum((A - Y) ** 2) / m


def multiclass_hinge(S: Array, y: Array, margin: float = 1.0) -> Array:
    """Multiclass SVM loss (cs231n sum form): L_i = Σ_{j ≠ y_i} max(0, s_j − s_{y_i} + Δ).

    Shapes: scores S (C, m), integer labels y (m,). Returns the mean over the m examples.
    (The notes print ``Σ_j y_j max(0, S_j − S_y + 1)``; see ``jaxnn verify-notes``.)
    """
    m = S.shape[1]
    correct = jnp.take_along_axis(S, y[None, :].astype(jnp.int32), axis=0)  # (1, m)
    margins = jnp.maximum(0, S - correct + margin)
    not_target = jnp.arange(S.shape[0])[:, None] != y[None, :]
    return jnp.sum(jnp.where(not_target, margins, 0)) / m


def multiclass_hinge_grad(S: Array, y: Array, margin: float = 1.0) -> Array:
    """Hand-derived dJ/dS of ``multiclass_hinge`` (C, m).

    For j ≠ y_i: ∂L_i/∂s_j = 𝟙(s_j − s_{y_i} + Δ > 0); ∂L_i/∂s_{y_i} = −Σ_{j≠y_i} of those.
    Divided by m for the mean.
    """
    m = S.shape[1]
    correct = jnp.take_along_axis(S, y[None, :].astype(jnp.int32), axis=0)
    not_target = jnp.arange(S.shape[0])[:, None] != y[None, :]
    active = ((S - correct + margin) > 0) & not_target
    active = active.astype(S.dtype)
    dS = active - (~not_target) * jnp.sum(active, axis=0, keepdims=True)
    return dS / m


def _is_weight(key: str) -> bool:
    return key[:1] in ("W", "w")


def l2_penalty(params: dict, l2: float) -> Array:
    """λ Ω(θ) with Ω(θ) = Σ_k ‖W⁽ᵏ⁾‖_F² over the weights only, never the biases (notes §5).

    A literal ``l2 == 0`` adds nothing to the program (not even Ω(θ) times zero, a reduction
    over every weight each step); a traced λ (a sweep over strengths) always computes it."""
    if l2_is_zero(l2):
        return jnp.zeros((), jnp.result_type(*params.values()))
    total = sum(jnp.sum(value**2) for key, value in params.items() if _is_weight(key))
    return l2 * total


def l2_penalty_grad(params: dict, l2: float) -> dict:
    """∇ λΩ(θ): 2λ W for each weight, 0 for each bias (same keys as params)."""
    return {
        key: (2 * l2 * value if _is_weight(key) else jnp.zeros_like(value))
        for key, value in params.items()
    }


def l2_is_zero(l2) -> bool:
    """λ is a Python/numpy zero known at trace time (not a traced sweep value)."""
    return isinstance(l2, (int, float, np.floating, np.integer)) and l2 == 0
