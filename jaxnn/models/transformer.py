"""A decoder-only Transformer language model (Vaswani et al. 2017's decoder without the
encoder-attention, with pre-LN blocks as in GPT-2 and Xiong et al. 2020) as a
``jaxnn.models.Model``: ``--model transformer`` on token ids ``X (T, m)``, next-token targets
``Y (T, m)`` (< 0 masked), the recurrent language model's data and cost.

Forward, written per step as columns ``x_t`` (computed in rows, ``X⁰ (T, m, d)``: step t's m
examples one per row, so that each projection is one GEMM over all T·m rows and needs no
transpose; ``logits_and_caches``), N blocks, then a read-out::

    x⁰_t = E[:, id_t] + P[:, t]                 E (d, V) tokens, P (d, context) positions
    for each block ℓ:                           (learned, as GPT; not the paper's sinusoids)
        U  = Xˡ + MHA(LN₁(Xˡ))                  causal multi-head self-attention
        Xˡ⁺¹ = U + FFN(LN₂(U))                  position-wise GELU MLP
    s_t = W_y LN_f(x^N_t) + b_y                 logits over the V tokens, every step
    J   = mean cross-entropy over unmasked targets (``jaxnn.layers.temporal``)

The modules and their backwards: ``jaxnn.layers.attention`` (multi-head attention, the
softmax Jacobian), ``jaxnn.layers.feedforward`` (GELU, exact), ``jaxnn.layers.layer_norm``
(over the d features of each step), ``jaxnn.layers.temporal`` (embedding scatter-add,
read-out, masked cross-entropy).

**Residual connections: the fork.** ``U = X + F(X)`` sends X along two paths, so its gradient
is the sum: ``dX = dU + (∂F/∂X)ᵀ dU``. Backward through one block, from ``dXˡ⁺¹``::

    dU  = dXˡ⁺¹ + LN₂ᵀ(FFNᵀ(dXˡ⁺¹))            the identity path plus the branch
    dXˡ = dU + LN₁ᵀ(MHAᵀ(dU))

(``Fᵀ(d)`` is that module's backward applied to d). The identity path carries the cost's
gradient to the first block undiminished, whatever the branches do: deep stacks train.

The embeddings' gradients: ``dE`` the scatter-add of ``dX⁰``'s columns into their tokens,
``dP[:, t] = Σ_columns dX⁰[t]`` for t < T (zero for positions the batch did not reach).

Padding: input ids < 0 are padded steps: they read no token embedding (x⁰_t = P[:, t]), keys
there are masked out of every attention (``padding_mask``) beside the causal mask, and
targets < 0 are masked out of J.

Memory: each block's backward reads its caches — Xˡ, U, the two LN inputs normalised, Q, K,
V, the heads' output C, the MLP's pre-activation (d_ff rows) — O(T·d) each, and each head's
attention weights P: H·T²·m numbers per block, the one that grows with T². ``remat=True``
drops P and recomputes it in the backward from Q and K (``experiments/attention_memory.py``
measures both with XLA's ``memory_analysis``).

Params (a flat dict; ``.ℓ`` the block): ``E (d, V)``, ``P (d, context)``; per block
``gamma_1.ℓ, beta_1.ℓ (d, 1)``, ``W_Q.ℓ, W_K.ℓ, W_V.ℓ (d, d)``, ``W_O.ℓ (d, d)``,
``gamma_2.ℓ, beta_2.ℓ``, ``W_1.ℓ (d_ff, d)``, ``b_1.ℓ``, ``W_2.ℓ (d, d_ff)``, ``b_2.ℓ``; then
``gamma_f, beta_f``, ``W_y (V, d)``, ``b_y (V, 1)``. Weights Glorot-uniform, the two that
write into the residual stream (W_O, W_2) scaled by 1/√(2N) (GPT-2), embeddings N(0, 1)
(``torch.nn.Embedding``'s; GPT-2's 0.02 makes a narrow model's first LN divide by a tiny σ,
a curvature central differences see).
Weight decay (``--l2``) reaches the ``W_*`` only.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnn import losses, validate
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.initializers import glorot_uniform
from jaxnn.layers import attention, feedforward, temporal
from jaxnn.layers.layer_norm import layer_norm_backward, layer_norm_forward
from jaxnn.models import Model

Array = jax.Array

BLOCK = ("gamma_1", "beta_1", "W_Q", "W_K", "W_V", "W_O", "gamma_2", "beta_2", "W_1", "b_1",
         "W_2", "b_2")  # fmt: skip


def _check_size(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer ≥ {low}; got {value!r}")
    return value


def num_layers(params: dict) -> int:
    return sum(1 for name in params if name.startswith("W_Q."))


def _block(params: dict, layer: int) -> dict:
    return {name: params[f"{name}.{layer}"] for name in BLOCK}


def logits_and_caches(params: dict, ids: Array, heads: int, remat: bool = False):
    """``(S (T, m, V), caches)``: the forward pass over token ids ``(T, m)`` (module
    docstring), in rows — step t's m examples one per row, ``X (T, m, d)`` — so that every
    projection is one GEMM over the T·m rows and the layer norms and softmaxes reduce along
    the contiguous last axis (the column convention's ``(T, d, m)`` made XLA transpose before
    and after each product). Keeps each module's cache for the backward (and each head's
    attention weights, ``caches["blocks"][ℓ]["attention"]["core"]["P"]`` (H, m, T, T), for
    pictures)."""
    T = ids.shape[0]
    E, P = params["E"], params["P"]
    tokens = jnp.where((ids >= 0)[:, :, None], temporal.embedding_rows_forward(ids, E), 0.0)
    X = tokens + jnp.transpose(P[:, :T])[:, None, :]  # a padded step: its position alone
    mask = attention.causal_mask(T)[None] & attention.padding_mask(ids >= 0)
    blocks = []
    for layer in range(num_layers(params)):
        p = _block(params, layer)
        A, ln_1 = layer_norm_forward(X, p["gamma_1"], p["beta_1"], axis=2)
        Y, att = attention.multi_head_rows_forward(A, p["W_Q"], p["W_K"], p["W_V"], p["W_O"],
                                                   heads, mask, remat)  # fmt: skip
        U = X + Y
        B, ln_2 = layer_norm_forward(U, p["gamma_2"], p["beta_2"], axis=2)
        F, ff = feedforward.feedforward_rows_forward(B, p["W_1"], p["b_1"], p["W_2"], p["b_2"])
        X = U + F
        blocks.append({"ln_1": ln_1, "attention": att, "ln_2": ln_2, "feedforward": ff})
    X_f, ln_f = layer_norm_forward(X, params["gamma_f"], params["beta_f"], axis=2)
    S = temporal.readout_rows_forward(X_f, params["W_y"], params["b_y"])
    return S, {"blocks": blocks, "ln_f": ln_f, "X_f": X_f}


def backward(params: dict, ids: Array, dS: Array, caches: dict) -> dict:
    """The hand-derived gradients of every parameter from ``dS = ∂J/∂S (T, m, V)`` (rows):
    read-out, final LN, then the blocks in reverse, each residual a fork (module docstring)."""
    dX_f, dW_y, db_y = temporal.readout_rows_backward(dS, caches["X_f"], params["W_y"])
    dX, dgamma_f, dbeta_f = layer_norm_backward(dX_f, caches["ln_f"])
    grads = {"W_y": dW_y, "b_y": db_y, "gamma_f": dgamma_f, "beta_f": dbeta_f}
    for layer in reversed(range(num_layers(params))):
        p, cache = _block(params, layer), caches["blocks"][layer]
        ff = feedforward.feedforward_rows_backward(dX, cache["feedforward"], p["W_1"], p["W_2"])
        dU_branch, dgamma_2, dbeta_2 = layer_norm_backward(ff["dX"], cache["ln_2"])
        dU = dX + dU_branch  # the fork: identity path + the MLP branch
        att = attention.multi_head_rows_backward(dU, cache["attention"], p["W_Q"], p["W_K"],
                                                 p["W_V"], p["W_O"])  # fmt: skip
        dX_branch, dgamma_1, dbeta_1 = layer_norm_backward(att["dX"], cache["ln_1"])
        dX = dU + dX_branch  # the fork: identity path + the attention branch
        block = {"gamma_1": dgamma_1, "beta_1": dbeta_1, "gamma_2": dgamma_2, "beta_2": dbeta_2,
                 "W_Q": att["dW_Q"], "W_K": att["dW_K"], "W_V": att["dW_V"], "W_O": att["dW_O"],
                 "W_1": ff["dW_1"], "b_1": ff["db_1"], "W_2": ff["dW_2"],
                 "b_2": ff["db_2"]}  # fmt: skip
        grads.update({f"{name}.{layer}": value for name, value in block.items()})
    T = ids.shape[0]
    grads["E"] = temporal.embedding_rows_backward(dX, ids, params["E"].shape[1])
    grads["P"] = jnp.zeros_like(params["P"]).at[:, :T].set(jnp.transpose(jnp.sum(dX, axis=1)))
    return grads


def transformer(input_shape=(100,), num_tokens: int = 96, n_layers: int = 2, d_model: int = 64,
                heads: int = 4, d_ff: int = 256, context: int = 0,
                remat: bool = False) -> Model:  # fmt: skip
    """A decoder-only Transformer over sequences of ``input_shape = (T,)`` token ids from a
    vocabulary of ``num_tokens``: ``n_layers`` pre-LN blocks of width ``d_model`` with ``heads``
    heads (d_model / heads each) and an MLP of ``d_ff`` GELU units; ``context`` positions in
    the positional table (0: T, the data's length; it must be ≥ T); ``remat``: recompute the
    attention weights in the backward instead of storing them."""
    input_shape = tuple(int(n) for n in input_shape)
    if len(input_shape) != 1 or input_shape[0] < 1:
        raise ShapeError(
            f"the transformer is a language model over (T,) token ids (e.g. --dataset text); "
            f"got examples of shape {input_shape}"
        )
    T = input_shape[0]
    V = _check_size("the vocabulary size", num_tokens)
    N, d = _check_size("n_layers", n_layers), _check_size("d_model", d_model)
    H, n_ff = _check_size("heads", heads), _check_size("d_ff", d_ff)
    if d % H:
        raise ConfigError(f"heads={H} must divide d_model={d} (each head has d_model / heads)")
    context = T if context == 0 else _check_size("context", context)
    if context < T:
        raise ConfigError(f"context={context} is shorter than the data's sequences (T = {T}): "
                          f"give context ≥ {T}, or 0 for T")  # fmt: skip
    if not isinstance(remat, bool):
        raise ConfigError(f"remat must be true or false; got {remat!r}")

    def init(key, dtype=jnp.float32):
        validate.dtype_available(dtype)
        keys = iter(jax.random.split(key, 3 + 6 * N))
        scale = 1.0 / math.sqrt(2 * N)
        params = {"E": jax.random.normal(next(keys), (d, V), dtype),
                  "P": jax.random.normal(next(keys), (d, context), dtype)}  # fmt: skip
        for layer in range(N):
            block = {"gamma_1": jnp.ones((d, 1), dtype), "beta_1": jnp.zeros((d, 1), dtype),
                     "W_Q": glorot_uniform(next(keys), (d, d), dtype),
                     "W_K": glorot_uniform(next(keys), (d, d), dtype),
                     "W_V": glorot_uniform(next(keys), (d, d), dtype),
                     "W_O": scale * glorot_uniform(next(keys), (d, d), dtype),
                     "gamma_2": jnp.ones((d, 1), dtype), "beta_2": jnp.zeros((d, 1), dtype),
                     "W_1": glorot_uniform(next(keys), (n_ff, d), dtype),
                     "b_1": jnp.zeros((n_ff, 1), dtype),
                     "W_2": scale * glorot_uniform(next(keys), (d, n_ff), dtype),
                     "b_2": jnp.zeros((d, 1), dtype)}  # fmt: skip
            params.update({f"{name}.{layer}": value for name, value in block.items()})
        params.update(gamma_f=jnp.ones((d, 1), dtype), beta_f=jnp.zeros((d, 1), dtype),
                      W_y=glorot_uniform(next(keys), (V, d), dtype),
                      b_y=jnp.zeros((V, 1), dtype))  # fmt: skip
        return params

    def check(X, Y=None):
        if X.ndim != 2 or X.shape[0] != T or not jnp.issubdtype(X.dtype, jnp.integer):
            raise ShapeError(f"the transformer takes token ids X (T, m) = ({T}, m), integers; "
                             f"got {tuple(X.shape)} {X.dtype}")  # fmt: skip
        if Y is not None and tuple(Y.shape) != tuple(X.shape):
            raise ShapeError(f"Y must be {tuple(X.shape)} (next token ids); got {tuple(Y.shape)}")

    def forward(params, X):
        """Next-token probabilities ``(T, V, m)``."""
        check(X)
        return jnp.swapaxes(jax.nn.softmax(logits_and_caches(params, X, H)[0], axis=2), 1, 2)

    def data_cost(params, X, Y):
        check(X, Y)
        S, caches = logits_and_caches(params, X, H, remat)
        J, dS, _ = temporal.softmax_cross_entropy(S, Y, axis=2)
        return J, dS, (S, caches)

    def cost(params, X, Y, l2=0.0):
        return data_cost(params, X, Y)[0] + losses.l2_penalty(params, l2)

    def cost_and_grads(params, X, Y, l2=0.0):
        J, dS, (_, caches) = data_cost(params, X, Y)
        grads = backward(params, X, dS, caches)
        if not losses.l2_is_zero(l2):
            J = J + losses.l2_penalty(params, l2)
            grads = jax.tree.map(jnp.add, grads, losses.l2_penalty_grad(params, l2))
        return J, grads

    def autodiff_cost_and_grads(params, X, Y, l2=0.0):
        return jax.value_and_grad(cost)(params, X, Y, l2)

    def metrics(params, X, Y, l2=0.0):
        J, _, (S, _) = data_cost(params, X, Y)
        mask = Y >= 0
        hits = (jnp.argmax(S, axis=2) == Y) & mask
        return {"cost": J + losses.l2_penalty(params, l2), "bits_per_char": J / math.log(2),
                "accuracy": jnp.sum(hits) / jnp.maximum(jnp.sum(mask), 1)}  # fmt: skip

    def example(key, m, dtype=jnp.float32):
        key_x, key_y, key_mask = jax.random.split(key, 3)
        X = jax.random.randint(key_x, (T, m), 0, V)
        Y = jax.random.randint(key_y, (T, m), 0, V)
        return X, jnp.where(jax.random.bernoulli(key_mask, 0.8, (T, m)), Y, -1)

    describe = f"transformer {T} tokens (vocab {V}) -> {N}×[{H} heads, d {d}, ff {n_ff}] -> {V}"
    return Model(
        "transformer", describe, input_shape, 1, V, "softmax", init, forward, cost,
        cost_and_grads, autodiff_cost_and_grads, input_dtype="int32", targets="given",
        metrics=metrics, example=example,
        options={"n_layers": N, "d_model": d, "heads": H, "d_ff": n_ff, "context": context,
                 "remat": remat},
    )  # fmt: skip


def sample(params: dict, key: Array, prime: Array, length: int, temperature: float = 1.0,
           heads: int = 4) -> Array:  # fmt: skip
    """``length`` token ids drawn one at a time after ``prime`` (ids, at least one, at most the
    context): each step runs the model over the last ``context`` tokens (a window that slides
    once full) and samples softmax(s / temperature) at the newest position. ``(length,)``."""
    if not (temperature > 0):
        raise ConfigError(f"temperature must be > 0; got {temperature}")
    context = params["P"].shape[1]
    prime = jnp.asarray(prime)
    if not 1 <= prime.shape[0] <= context:
        raise ConfigError(f"the prime must hold 1…{context} tokens; got {prime.shape[0]}")
    window = jnp.full((context,), -1, jnp.int32).at[: prime.shape[0]].set(prime)

    def draw(carry, step_key):
        window, count = carry
        S, _ = logits_and_caches(params, jnp.maximum(window, 0)[:, None], heads)
        token = jax.random.categorical(step_key, S[count - 1, 0] / temperature).astype(jnp.int32)
        full = count == context
        shifted = jnp.where(full, jnp.roll(window, -1), window)
        window = shifted.at[jnp.where(full, context - 1, count)].set(token)
        return (window, jnp.minimum(count + 1, context)), token

    start = (window, jnp.asarray(prime.shape[0], jnp.int32))
    _, tokens = jax.lax.scan(draw, start, jax.random.split(key, length))
    return tokens
