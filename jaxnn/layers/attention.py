"""Scaled dot-product attention and multi-head self-attention (Vaswani et al. 2017,
"Attention Is All You Need", §3.2): forwards with caches and hand-derived backwards.

Column convention, as for the recurrent layers: a sequence is ``X (T, d, m)``, step t the
columns ``X[t]``; ``attention_forward`` takes ``Q (T, d_k, *batch)``, ``K (T, d_k, *batch)``,
``V (T, d_v, *batch)``, any batch axes after the feature axis. The arithmetic is done in
**rows** (``*_rows_*``): a sequence ``X (T, m, d)``, step t's examples one per row, and the
attention core on ``Q (*batch, T, d_k)`` with the batch axes (heads, examples) leading. That
is the layout XLA:CPU's matrix kernels read without copying: the projections ``X W_Qᵀ`` are
one GEMM over all T·m rows, each head's ``Q Kᵀ`` and ``P V`` a batched GEMM; in columns every
one of them needed a transpose before and after (``bench/profile_seq.py`` measures them).
The column functions are the rows' with the axes moved, so one derivation serves both.

**Scaled dot-product attention** (eq. 1), for every batch entry::

    S[t, s] = q_t · k_s / √d_k  (+ −∞ where the mask forbids query t to read key s)
    P[t, :] = softmax(S[t, :])                         a row of weights over the keys
    o_t     = Σ_s P[t, s] v_s                          O (T, d_v, *batch)

Backward, derived here. With ``dO = ∂J/∂O``::

    dV[s]  = Σ_t P[t, s] dO[t]                       (o_t is linear in each v_s)
    dP[t, s] = dO[t] · v_s
    dS[t, :] = P[t, :] ⊙ (dP[t, :] − Σ_s dP[t, s] P[t, s])      the softmax Jacobian,
               diag(p) − p pᵀ, applied to a row: (diag(p) − p pᵀ) dp = p ⊙ (dp − pᵀdp)
    dQ[t]  = Σ_s dS[t, s] k_s / √d_k     dK[s] = Σ_t dS[t, s] q_t / √d_k

A masked entry has P = 0, so its dS is 0: no gradient flows through a forbidden pair. A row
whose every key is masked (a query with nothing to read) gets P = 0 and o_t = 0, not the NaN
of softmax over −∞ alone. Masks are booleans broadcastable to ``(*batch, T_q, T_k)``, True
where query t may read key s: ``causal_mask`` (s ≤ t, a decoder: no step reads the future)
and ``padding_mask`` (keys at padded steps are never read), combined with ``&``.

The cache is Q, K, V and P: P is T_q·T_k numbers per head and example, the part that grows
quadratically with the sequence. ``remat=True`` stores no P but each row's log-sum-exp
``L = log Σ_s exp S[t, s]`` (T_q numbers), and recomputes ``P = exp(S − L)`` from Q and K in
the backward (one more Q Kᵀ matmul, as FlashAttention does): O(T·d) stored per head instead
of O(T²).

**Multi-head self-attention** (§3.2.2), H heads of size d_k = d_v = d_model / H. No biases in
the projections, as in the paper's equations::

    Q = W_Q x_t,  K = W_K x_t,  V = W_V x_t         W_Q, W_K, W_V (H·d_k, d_model), all t
    heads: Q, K, V split into H blocks of d_k rows; O_h = attention(Q_h, K_h, V_h)
    y_t = W_O concat_h(O_h)[t]                      W_O (d_model, H·d_k)

Backward: ``dC = W_Oᵀ dY`` (C the concatenated heads) and ``dW_O = Σ_t dy_t c_tᵀ``; each head's
attention backward gives ``dQ, dK, dV``; then ``dW_Q = Σ_t dq_t x_tᵀ`` (likewise K, V), and x_t,
read by all three projections, sums the three paths:
``dx_t = W_Qᵀ dq_t + W_Kᵀ dk_t + W_Vᵀ dv_t``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnn.errors import ShapeError

Array = jax.Array


def causal_mask(T: int) -> Array:
    """``(T, T)`` booleans, True where key s ≤ query t."""
    return jnp.tril(jnp.ones((T, T), bool))


def padding_mask(valid: Array) -> Array:
    """``valid (T, m)`` booleans (True at real steps) -> ``(m, 1, T)``: key s readable in
    example j iff ``valid[s, j]``; broadcasts against ``(m, T_q, T_k)`` scores."""
    return jnp.transpose(valid)[:, None, :]


def _scores(Q: Array, K: Array) -> Array:
    """``S (*batch, T_q, T_k) = q_t · k_s / √d_k`` from rows ``Q (*batch, T_q, d_k)``,
    ``K (*batch, T_k, d_k)``: one batched ``Q Kᵀ``, the batch axes leading (GEMM's layout)."""
    return jnp.einsum("...tk,...sk->...ts", Q, K) / math.sqrt(Q.shape[-1])


def _softmax(S: Array, mask: Array | None) -> tuple[Array, Array]:
    """``(P, L)``: the row softmax over the readable keys (a row with none is all zeros) and
    each row's log-sum-exp ``L (*batch, T_q, 1)``, from which ``P = exp(S − L)`` again."""
    if mask is None:
        mask = jnp.ones(S.shape[-2:], bool)
    S = jnp.where(mask, S, -jnp.inf)
    top = jax.lax.stop_gradient(jnp.max(S, axis=-1, keepdims=True))
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    E = jnp.where(mask, jnp.exp(S - top), 0.0)
    total = jnp.sum(E, axis=-1, keepdims=True)
    return E / jnp.where(total > 0, total, 1.0), top + jnp.log(total)


def attention_rows_forward(Q: Array, K: Array, V: Array, mask: Array | None = None,
                           remat: bool = False) -> tuple[Array, dict]:  # fmt: skip
    """The core in rows, every batch axis leading: ``Q (*batch, T_q, d_k)``,
    ``K (*batch, T_k, d_k)``, ``V (*batch, T_k, d_v)`` -> ``(O (*batch, T_q, d_v), cache)``:
    ``S = Q Kᵀ/√d_k``, ``P = softmax(S)`` by rows, ``O = P V``, batched matmuls of the layout
    XLA's GEMMs take without a copy. The cache holds Q, K, V, the mask and, unless ``remat``,
    ``P (*batch, T_q, T_k)``."""
    P, L = _softmax(_scores(Q, K), mask)
    O = jnp.einsum("...ts,...sd->...td", P, V)
    if remat:
        return O, {"Q": Q, "K": K, "V": V, "mask": mask, "P": None, "L": L}
    return O, {"Q": Q, "K": K, "V": V, "mask": mask, "P": P}


def attention_rows_backward(dO: Array, cache: dict) -> tuple[Array, Array, Array]:
    """``(dQ, dK, dV)`` from ``dO (*batch, T_q, d_v)``, rows (module docstring)::

    dV = Pᵀ dO     dP = dO Vᵀ     dS = P ⊙ (dP − rowsum(dP ⊙ P))
    dQ = dS K / √d_k     dK = dSᵀ Q / √d_k
    """
    Q, K, V = cache["Q"], cache["K"], cache["V"]
    P = cache["P"]
    if P is None:  # remat: recompute the weights from Q and K instead of storing them
        # tied to dO by the barrier, so that XLA cannot merge this P with the forward's (one
        # jitted program holds both) and keep that one alive: what jax.checkpoint does too
        Q, K, dO = jax.lax.optimization_barrier((Q, K, dO))
        S = _scores(Q, K)
        mask = jnp.ones(S.shape[-2:], bool) if cache["mask"] is None else cache["mask"]
        P = jnp.where(mask, jnp.exp(S - cache["L"]), 0.0)  # one pass: the row sums are kept
    dV = jnp.einsum("...ts,...td->...sd", P, dO)
    dP = jnp.einsum("...td,...sd->...ts", dO, V)
    dS = P * (dP - jnp.sum(dP * P, axis=-1, keepdims=True))
    scale = 1.0 / math.sqrt(Q.shape[-1])
    dQ = jnp.einsum("...ts,...sd->...td", dS, K) * scale
    dK = jnp.einsum("...ts,...td->...sd", dS, Q) * scale
    return dQ, dK, dV


def _check_core(Q: Array, K: Array, V: Array) -> None:
    if Q.ndim < 2 or Q.shape[1:] != K.shape[1:] or K.shape[0] != V.shape[0]:
        raise ShapeError(
            f"attention takes Q (T_q, d_k, …), K (T_k, d_k, …), V (T_k, d_v, …) with the same "
            f"batch axes; got Q {tuple(Q.shape)}, K {tuple(K.shape)}, V {tuple(V.shape)}"
        )


def _to_rows(A: Array) -> Array:
    """``(T, d, *batch) -> (*batch, T, d)``."""
    return jnp.moveaxis(A, (0, 1), (-2, -1))


def _to_columns(A: Array) -> Array:
    """``(*batch, T, d) -> (T, d, *batch)``, the inverse of ``_to_rows``."""
    return jnp.moveaxis(A, (-2, -1), (0, 1))


def attention_forward(Q: Array, K: Array, V: Array, mask: Array | None = None,
                      remat: bool = False) -> tuple[Array, dict]:  # fmt: skip
    """``O = softmax(Q Kᵀ/√d_k, masked) V`` per batch entry in the column convention:
    ``Q (T_q, d_k, *batch)``, ``K (T_k, d_k, *batch)``, ``V (T_k, d_v, *batch)`` ->
    ``(O (T_q, d_v, *batch), cache)``: ``attention_rows_forward`` on the same numbers moved
    to rows (its cache: Q, K, V in rows, the mask and, unless ``remat``,
    ``P (*batch, T_q, T_k)``)."""
    _check_core(Q, K, V)
    O, cache = attention_rows_forward(_to_rows(Q), _to_rows(K), _to_rows(V), mask, remat)
    return _to_columns(O), cache


def attention_backward(dO: Array, cache: dict) -> tuple[Array, Array, Array]:
    """``(dQ, dK, dV)`` in columns from ``dO (T_q, d_v, *batch)`` and ``attention_forward``'s
    cache."""
    return tuple(_to_columns(d) for d in attention_rows_backward(_to_rows(dO), cache))


def _split_heads(A: Array, heads: int) -> Array:
    """``(T, m, H·d_k) -> (H, m, T, d_k)``: head h is features h·d_k … (h+1)·d_k − 1; the
    batch axes (heads, examples) lead, as the batched products want them (one copy)."""
    T, m, n = A.shape
    return jnp.transpose(A.reshape(T, m, heads, n // heads), (2, 1, 0, 3))


def _merge_heads(A: Array) -> Array:
    """``(H, m, T, d_k) -> (T, m, H·d_k)``, the inverse of ``_split_heads``."""
    H, m, T, d_k = A.shape
    return jnp.transpose(A, (2, 1, 0, 3)).reshape(T, m, H * d_k)


def _rows_project(X: Array, W: Array) -> Array:
    """``x W_ᵀ`` for every row: ``(T, m, d) × W (n, d) -> (T, m, n)``, one GEMM over T·m rows."""
    return jnp.einsum("tmd,nd->tmn", X, W)


def _rows_weight_gradient(dA: Array, X: Array) -> Array:
    """``Σ_t Σ_j da_tj x_tjᵀ``: ``dA (T, m, n)``, ``X (T, m, d)`` -> ``(n, d)``."""
    return jnp.einsum("tmn,tmd->nd", dA, X)


def multi_head_rows_forward(X: Array, W_Q: Array, W_K: Array, W_V: Array, W_O: Array,
                            heads: int, mask: Array | None = None,
                            remat: bool = False) -> tuple[Array, dict]:  # fmt: skip
    """Self-attention of ``X (T, m, d_model)`` — rows: step t's m examples, one per row, the
    layout in which the projections are single GEMMs over all T·m rows — with ``heads`` heads
    -> ``(Y (T, m, d_model), cache)``; as ``multi_head_forward``. Heads are batched as
    ``(H, m, T, d_k)``, so a mask broadcastable to ``(m, T, T)`` broadcasts over them."""
    if X.ndim != 3 or X.shape[2] != W_Q.shape[1] or W_Q.shape[0] % heads:
        raise ShapeError(
            f"multi-head attention takes rows X (T, m, d_model) with d_model = {W_Q.shape[1]} "
            f"and {heads} heads dividing {W_Q.shape[0]} rows; got X {tuple(X.shape)}"
        )
    Q, K, V = (_split_heads(_rows_project(X, W), heads) for W in (W_Q, W_K, W_V))
    O, core = attention_rows_forward(Q, K, V, mask, remat)
    C = _merge_heads(O)
    return _rows_project(C, W_O), {"X": X, "C": C, "core": core, "heads": heads}


def multi_head_rows_backward(dY: Array, cache: dict, W_Q: Array, W_K: Array, W_V: Array,
                             W_O: Array) -> dict:  # fmt: skip
    """``{"dX", "dW_Q", "dW_K", "dW_V", "dW_O"}`` from rows ``dY (T, m, d_model)``."""
    X, C = cache["X"], cache["C"]
    dO = _split_heads(_rows_project(dY, W_O.T), cache["heads"])
    dQ, dK, dV = (_merge_heads(d) for d in attention_rows_backward(dO, cache["core"]))
    dX = _rows_project(dQ, W_Q.T) + _rows_project(dK, W_K.T) + _rows_project(dV, W_V.T)
    return {"dX": dX, "dW_Q": _rows_weight_gradient(dQ, X), "dW_K": _rows_weight_gradient(dK, X),
            "dW_V": _rows_weight_gradient(dV, X), "dW_O": _rows_weight_gradient(dY, C)}  # fmt: skip


def multi_head_forward(X: Array, W_Q: Array, W_K: Array, W_V: Array, W_O: Array, heads: int,
                       mask: Array | None = None,
                       remat: bool = False) -> tuple[Array, dict]:  # fmt: skip
    """Self-attention of ``X (T, d_model, m)`` with ``heads`` heads -> ``(Y (T, d_model, m),
    cache)``. ``mask`` broadcastable to ``(m, T, T)`` (``causal_mask``, ``padding_mask``);
    ``remat``: recompute each head's P in the backward. The column convention's entry to
    ``multi_head_rows_forward`` (X moved to rows ``(T, m, d_model)`` and back)."""
    if X.ndim != 3 or X.shape[1] != W_Q.shape[1] or W_Q.shape[0] % heads:
        raise ShapeError(
            f"multi-head attention takes X (T, d_model, m) with d_model = {W_Q.shape[1]} and "
            f"{heads} heads dividing {W_Q.shape[0]} rows; got X {tuple(X.shape)}"
        )
    Y, cache = multi_head_rows_forward(jnp.swapaxes(X, 1, 2), W_Q, W_K, W_V, W_O, heads, mask,
                                       remat)  # fmt: skip
    return jnp.swapaxes(Y, 1, 2), cache


def multi_head_backward(dY: Array, cache: dict, W_Q: Array, W_K: Array, W_V: Array,
                        W_O: Array) -> dict:  # fmt: skip
    """``{"dX", "dW_Q", "dW_K", "dW_V", "dW_O"}`` from ``dY (T, d_model, m)``, the columns'
    entry to ``multi_head_rows_backward``."""
    grads = multi_head_rows_backward(jnp.swapaxes(dY, 1, 2), cache, W_Q, W_K, W_V, W_O)
    return {**grads, "dX": jnp.swapaxes(grads["dX"], 1, 2)}
