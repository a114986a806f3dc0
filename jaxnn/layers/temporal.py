"""Layers applied at every step of a sequence: token embedding, the dense read-out, and the
temporal softmax cross-entropy with a mask for padded steps.

Token ids are ``(T, m)`` integers, one sequence per column; ids < 0 mark padding.

* Embedding: ``x_t = E[:, ids_t]`` with ``E (n_e, V)``: column j of x_t is column
  ``ids_t[j]`` of E. Backward: each column of ``dx_t`` is added into the column of E it was
  read from — a scatter-add, since a token read k times gets k contributions:
  ``dE[:, v] = Σ_{t,j: ids_tj = v} dx_t[:, j]``. Padding (id < 0) reads column 0 and sends
  nothing back (its gradient is masked to zero by the loss anyway).
* Read-out: ``s_t = W_hy h_t + b_y`` for every t; ``dW_hy = Σ_t ds_t h_tᵀ``,
  ``db_y = Σ_t Σ_columns ds_t``, ``dh_t = W_hyᵀ ds_t``.
* Temporal softmax cross-entropy: ``J = −(1/N) Σ_{t,j: mask} log softmax(s_t)[:, j][y_tj]``,
  N the number of unmasked targets (targets < 0 are masked), so J is the mean loss per
  predicted token (in nats; ÷ ln 2 for bits per character). Its gradient at the logits is
  the MLP's softmax one, per step and masked: ``ds_t = mask_t ⊙ (softmax(s_t) − onehot(y_t)) / N``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def embedding_forward(ids: Array, E: Array) -> Array:
    """``(T, m)`` ids -> ``X (T, n_e, m)``: step t's columns are E's columns ``ids_t``."""
    return jnp.moveaxis(E[:, jnp.maximum(ids, 0)], 0, 1)


def embedding_backward(dX: Array, ids: Array, num_tokens: int) -> Array:
    """``dE (n_e, V)``: scatter-add of ``dX (T, n_e, m)``'s columns into their tokens."""
    n_e = dX.shape[1]
    columns = jnp.moveaxis(dX, 1, 0).reshape(n_e, -1)  # (n_e, T·m), ids in the same order
    flat = ids.reshape(-1)
    columns = jnp.where(flat[None, :] >= 0, columns, 0.0)
    return jnp.zeros((n_e, num_tokens), dX.dtype).at[:, jnp.maximum(flat, 0)].add(columns)


def embedding_rows_forward(ids: Array, E: Array) -> Array:
    """``(T, m)`` ids -> rows ``X (T, m, n_e)``: row j of step t is E's column ``ids_t[j]``."""
    return jnp.transpose(E)[jnp.maximum(ids, 0)]


def embedding_rows_backward(dX: Array, ids: Array, num_tokens: int) -> Array:
    """``dE (n_e, V)`` from rows ``dX (T, m, n_e)``: each row added into its token's column."""
    rows = jnp.where((ids >= 0)[..., None], dX, 0.0).reshape(-1, dX.shape[-1])
    dE_rows = jnp.zeros((num_tokens, dX.shape[-1]), dX.dtype)
    return jnp.transpose(dE_rows.at[jnp.maximum(ids, 0).reshape(-1)].add(rows))


def readout_rows_forward(H: Array, W: Array, b: Array) -> Array:
    """Rows ``S (T, m, n_y) = H Wᵀ + bᵀ``: ``s_t = W h_t + b`` for every row, one GEMM."""
    return H @ W.T + b[:, 0]


def readout_rows_backward(dS: Array, H: Array, W: Array) -> tuple[Array, Array, Array]:
    """``(dH, dW, db)`` of the read-out in rows (sums over every row)."""
    rows = tuple(range(H.ndim - 1))
    return (dS @ W, jnp.tensordot(dS, H, axes=(rows, rows)),
            jnp.sum(dS, axis=rows)[:, None])  # fmt: skip


def readout_forward(H: Array, W: Array, b: Array) -> Array:
    """``S (T, n_y, m) = W h_t + b`` for every step."""
    return jnp.einsum("yh,thm->tym", W, H) + b


def readout_backward(dS: Array, H: Array, W: Array) -> tuple[Array, Array, Array]:
    """``(dH, dW, db)`` of the per-step read-out (sums over the steps)."""
    return (jnp.einsum("yh,tym->thm", W, dS), jnp.einsum("tym,thm->yh", dS, H),
            jnp.sum(dS, axis=(0, 2))[:, None])  # fmt: skip


def softmax_cross_entropy(S: Array, targets: Array, axis: int = 1) -> tuple[Array, Array, Array]:
    """``(J, dS, N)``: the mean cross-entropy over unmasked targets (``targets (T, m)``
    ids, < 0 masked), its gradient ``dS (T, V, m)`` at the logits ``S (T, V, m)``, and the
    number N of unmasked targets (J = 0 and dS = 0 when all are masked). ``axis``: the
    vocabulary's axis of S (2 for rows ``S (T, m, V)``)."""
    mask = (targets >= 0).astype(S.dtype)
    count = jnp.sum(mask)
    N = jnp.maximum(count, 1.0)
    log_probs = jax.nn.log_softmax(S, axis=axis)
    onehot = jax.nn.one_hot(jnp.maximum(targets, 0), S.shape[axis], axis=axis, dtype=S.dtype)
    J = -jnp.sum(jnp.sum(onehot * log_probs, axis=axis) * mask) / N
    dS = (jnp.exp(log_probs) - onehot) * jnp.expand_dims(mask, axis) / N
    return J, dS, count
