"""The tanh recurrent layer: forward over a sequence and backprop through time (BPTT).

Column convention at every step (notes §4): ``x_t (n_x, m)``, ``h_t (n_h, m)``, one example
per column; a sequence is ``X (T, n_x, m)`` and the hidden states ``H (T, n_h, m)``.

Forward, for t = 1..T with ``h_0`` given (zeros by default)::

    a_t = W_xh x_t + W_hh h_{t-1} + b_h          W_xh (n_h, n_x), W_hh (n_h, n_h), b_h (n_h, 1)
    h_t = tanh(a_t)

BPTT (derived; the notes print no recurrent formulas). The cost J reaches h_t along two
paths: the output read at step t (``dH[t] = ∂J/∂h_t`` through the outputs, zero where a
step has none) and h_{t+1}, which h_t feeds. With ``dh_next = ∂J/∂h_t`` through the
future (zero after the last step), going t = T..1::

    dh_t   = dH[t] + dh_next                    the total ∂J/∂h_t
    da_t   = (1 − h_t²) ⊙ dh_t                  tanh′(a) = 1 − tanh(a)²
    dh_next ← W_hhᵀ da_t                        (for step t − 1; at t = 1 it is ∂J/∂h_0)

and the parameters, being shared by all steps, sum their steps' contributions::

    dW_hh = Σ_t da_t h_{t-1}ᵀ     dW_xh = Σ_t da_t x_tᵀ     db_h = Σ_t Σ_columns da_t
    dx_t  = W_xhᵀ da_t

Only the recurrence ``dh_next ← W_hhᵀ da_t`` is sequential: the reverse ``lax.scan``
carries it and stacks every ``da_t``, then each sum over t is one matrix product over all
T·m columns at once (``W_xh x_t`` likewise for the whole sequence before the forward scan).
The same sums as the per-step ``+=`` of the course's loop, in a form XLA runs fast.

``dh_t`` is returned too: ``‖∂J/∂h_t‖`` against t is the vanishing gradient, seen.
The 1/m of the cost is already in ``dH`` (the output layer divides once).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.errors import ShapeError

Array = jax.Array


def check_sequence(X: Array, n_x: int, what: str = "recurrent layer") -> None:
    if X.ndim != 3 or X.shape[1] != n_x:
        raise ShapeError(
            f"{what} expects a sequence X (T, n_x, m) with n_x = {n_x} (step t is the columns "
            f"X[t]); got {tuple(X.shape)}"
        )


def input_projection(X: Array, W: Array, b: Array) -> Array:
    """``W x_t + b`` for every step at once: ``(T, n_x, m) -> (T, n, m)``, one matmul."""
    return jnp.einsum("hx,txm->thm", W, X) + b


def rnn_forward(X: Array, h0: Array, W_xh: Array, W_hh: Array, b_h: Array) -> Array:
    """The hidden states ``H (T, n_h, m)``: ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)``.

    ``X (T, n_x, m)``, ``h0 (n_h, m)``. H is the whole cache BPTT needs (with X and h0)."""
    check_sequence(X, W_xh.shape[1])

    def step(h_prev, xw_t):
        h = jnp.tanh(xw_t + W_hh @ h_prev)
        return h, h

    _, H = jax.lax.scan(step, h0, input_projection(X, W_xh, b_h))
    return H


def rnn_backward(dH: Array | None, X: Array, H: Array, h0: Array, W_xh: Array, W_hh: Array,
                 need_dX: bool = True, dh_last: Array | None = None,
                 need_dh: bool = False) -> dict:  # fmt: skip
    """BPTT (see the module docstring). ``dH (T, n_h, m)``: ∂J/∂h_t through outputs at
    every step, or None with ``dh_last`` (many-to-one: only h_T is read out).

    Returns ``{"dX": (T, n_x, m) or None, "dh0": (n_h, m), "dW_xh", "dW_hh", "db_h"}`` and,
    with ``need_dh``, ``"dh": (T, n_h, m)`` the total ∂J/∂h_t."""
    T = H.shape[0]
    per_step = jnp.zeros((T, 0), H.dtype) if dH is None else dH  # scan needs a leading T

    def step(dh_next, inputs):
        dh_out, h = inputs
        dh = dh_next if dH is None else dh_out + dh_next
        da = (1.0 - h * h) * dh
        return W_hh.T @ da, (da, dh if need_dh else None)

    start = jnp.zeros_like(h0) if dh_last is None else dh_last
    dh0, (dA, dh_total) = jax.lax.scan(step, start, (per_step, H), reverse=True)
    H_prev = jnp.concatenate([h0[None], H[:-1]])
    out = {
        "dX": jnp.einsum("hx,thm->txm", W_xh, dA) if need_dX else None,
        "dh0": dh0,
        "dW_xh": jnp.einsum("thm,txm->hx", dA, X),
        "dW_hh": jnp.einsum("thm,tkm->hk", dA, H_prev),
        "db_h": jnp.sum(dA, axis=(0, 2))[:, None],
    }
    return {**out, "dh": dh_total} if need_dh else out
