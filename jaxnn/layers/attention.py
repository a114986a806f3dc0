"""Scaled dot-product attention and multi-head self-attention (Vaswani et al. 2017,
"Attention Is All You Need", §3.2): forwards with caches and hand-derived backwards.

Column convention, as for the recurrent layers: a sequence is ``X (T, d, m)``, step t the
columns ``X[t]``. Queries, keys and values keep that layout, ``Q (T, d_k, *batch)``,
``K (T, d_k, *batch)``, ``V (T, d_v, *batch)``, any batch axes after the feature axis (the
heads and the examples: ``(T, d_k, H, m)``).

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
    """``S (*batch, T_q, T_k) = q_t · k_s / √d_k``."""
    return jnp.einsum("td...,sd...->...ts", Q, K) / math.sqrt(Q.shape[1])


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


def attention_forward(Q: Array, K: Array, V: Array, mask: Array | None = None,
                      remat: bool = False) -> tuple[Array, dict]:  # fmt: skip
    """``O = softmax(Q Kᵀ/√d_k, masked) V`` per batch entry: ``Q (T_q, d_k, *batch)``,
    ``K (T_k, d_k, *batch)``, ``V (T_k, d_v, *batch)`` -> ``(O (T_q, d_v, *batch), cache)``.
    The cache holds Q, K, V, the mask and, unless ``remat``, P."""
    if Q.ndim < 2 or Q.shape[1:] != K.shape[1:] or K.shape[0] != V.shape[0]:
        raise ShapeError(
            f"attention takes Q (T_q, d_k, …), K (T_k, d_k, …), V (T_k, d_v, …) with the same "
            f"batch axes; got Q {tuple(Q.shape)}, K {tuple(K.shape)}, V {tuple(V.shape)}"
        )
    P, L = _softmax(_scores(Q, K), mask)
    O = jnp.einsum("...ts,sd...->td...", P, V)
    if remat:
        return O, {"Q": Q, "K": K, "V": V, "mask": mask, "P": None, "L": L}
    return O, {"Q": Q, "K": K, "V": V, "mask": mask, "P": P}


def attention_backward(dO: Array, cache: dict) -> tuple[Array, Array, Array]:
    """``(dQ, dK, dV)`` from ``dO (T_q, d_v, *batch)`` (module docstring)."""
    Q, K, V = cache["Q"], cache["K"], cache["V"]
    P = cache["P"]
    if P is None:  # remat: recompute the weights from Q and K instead of storing them
        # tied to dO by the barrier, so that XLA cannot merge this P with the forward's (one
        # jitted program holds both) and keep that one alive: what jax.checkpoint does too
        Q, K, dO = jax.lax.optimization_barrier((Q, K, dO))
        S = _scores(Q, K)
        mask = jnp.ones(S.shape[-2:], bool) if cache["mask"] is None else cache["mask"]
        P = jnp.where(mask, jnp.exp(S - cache["L"]), 0.0)  # one pass: the row sums are kept
    dV = jnp.einsum("...ts,td...->sd...", P, dO)
    dP = jnp.einsum("td...,sd...->...ts", dO, V)
    dS = P * (dP - jnp.sum(dP * P, axis=-1, keepdims=True))
    scale = 1.0 / math.sqrt(Q.shape[1])
    dQ = jnp.einsum("...ts,sd...->td...", dS, K) * scale
    dK = jnp.einsum("...ts,td...->sd...", dS, Q) * scale
    return dQ, dK, dV


def _project(W: Array, X: Array) -> Array:
    """``W x_t`` for every step: ``(n, d) × (T, d, m) -> (T, n, m)``."""
    return jnp.einsum("nd,tdm->tnm", W, X)


def _split_heads(A: Array, heads: int) -> Array:
    """``(T, H·d_k, m) -> (T, d_k, H, m)``: head h is rows h·d_k … (h+1)·d_k − 1."""
    T, n, m = A.shape
    return jnp.transpose(A.reshape(T, heads, n // heads, m), (0, 2, 1, 3))


def _merge_heads(A: Array) -> Array:
    """``(T, d_k, H, m) -> (T, H·d_k, m)``, the inverse of ``_split_heads``."""
    T, d_k, H, m = A.shape
    return jnp.transpose(A, (0, 2, 1, 3)).reshape(T, H * d_k, m)


def multi_head_forward(X: Array, W_Q: Array, W_K: Array, W_V: Array, W_O: Array, heads: int,
                       mask: Array | None = None,
                       remat: bool = False) -> tuple[Array, dict]:  # fmt: skip
    """Self-attention of ``X (T, d_model, m)`` with ``heads`` heads -> ``(Y (T, d_model, m),
    cache)``. ``mask`` broadcastable to ``(m, T, T)`` (``causal_mask``, ``padding_mask``);
    ``remat``: recompute each head's P in the backward."""
    if X.ndim != 3 or X.shape[1] != W_Q.shape[1] or W_Q.shape[0] % heads:
        raise ShapeError(
            f"multi-head attention takes X (T, d_model, m) with d_model = {W_Q.shape[1]} and "
            f"{heads} heads dividing {W_Q.shape[0]} rows; got X {tuple(X.shape)}"
        )
    Q, K, V = (_split_heads(_project(W, X), heads) for W in (W_Q, W_K, W_V))
    O, core = attention_forward(Q, K, V, mask, remat)  # (m, T, T) broadcasts over the heads
    C = _merge_heads(O)
    return _project(W_O, C), {"X": X, "C": C, "core": core, "heads": heads}


def multi_head_backward(dY: Array, cache: dict, W_Q: Array, W_K: Array, W_V: Array,
                        W_O: Array) -> dict:  # fmt: skip
    """``{"dX", "dW_Q", "dW_K", "dW_V", "dW_O"}`` from ``dY (T, d_model, m)``."""
    X, C = cache["X"], cache["C"]
    dW_O = jnp.einsum("tdm,tnm->dn", dY, C)
    dO = _split_heads(_project(W_O.T, dY), cache["heads"])
    dQ, dK, dV = (_merge_heads(d) for d in attention_backward(dO, cache["core"]))
    dX = _project(W_Q.T, dQ) + _project(W_K.T, dK) + _project(W_V.T, dV)
    return {"dX": dX, "dW_Q": jnp.einsum("tnm,tdm->nd", dQ, X),
            "dW_K": jnp.einsum("tnm,tdm->nd", dK, X), "dW_V": jnp.einsum("tnm,tdm->nd", dV, X),
            "dW_O": dW_O}  # fmt: skip
