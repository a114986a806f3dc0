"""The LSTM layer (Hochreiter & Schmidhuber 1997, with a forget gate): forward and BPTT.

Column convention: ``x_t (n_x, m)``, ``h_t, c_t (n_h, m)``; a sequence ``X (T, n_x, m)``.
The four gates share one pre-activation, stacked in the order i, f, o, g::

    z_t = W_x x_t + W_h h_{t-1} + b       W_x (4n_h, n_x), W_h (4n_h, n_h), b (4n_h, 1)
    i = σ(z_i)   f = σ(z_f)   o = σ(z_o)   g = tanh(z_g)        (the four n_h-row blocks)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

BPTT, derived here (the deeplearning.ai course's printed LSTM backward has two wrong
equations; these are checked against ``jax.grad`` and finite differences in the tests).
Going t = T..1 with ``dh_next = ∂J/∂h_t`` and ``dc_next = ∂J/∂c_t`` through the future
(zero after the last step), and ``dH[t]`` the gradient from the outputs read at step t::

    dh  = dH[t] + dh_next
    do  = dh ⊙ tanh(c_t)                         h_t = o ⊙ tanh(c_t)
    dc  = dc_next + dh ⊙ o ⊙ (1 − tanh²(c_t))    c_t reaches J through h_t and c_{t+1}
    di  = dc ⊙ g     dg = dc ⊙ i     df = dc ⊙ c_{t-1}
    dz  = [di ⊙ i(1−i); df ⊙ f(1−f); do ⊙ o(1−o); dg ⊙ (1 − g²)]     σ′ = σ(1−σ), tanh′ = 1−tanh²
    dc_next ← dc ⊙ f                             c_{t-1} reaches c_t through f ⊙ c_{t-1}
    dh_next ← W_hᵀ dz

and, summed over the steps that share them (each sum one matmul over all T·m columns)::

    dW_x = Σ_t dz_t x_tᵀ     dW_h = Σ_t dz_t h_{t-1}ᵀ     db = Σ_t Σ_columns dz_t
    dx_t = W_xᵀ dz_t

The cache is the gates and cells of every step, ``(i, f, o, g, c)`` — 5·T·n_h·m numbers
beside H. ``remat=True`` keeps only H and C and recomputes each step's gates from
``h_{t-1}`` in the backward scan (one more ``W_h h`` product per step): the hand-derived
form of ``jax.checkpoint`` on the step, for long sequences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.layers.rnn import check_sequence, input_projection

Array = jax.Array


def gates(z: Array) -> tuple[Array, Array, Array, Array]:
    """``(i, f, o, g)`` from the stacked pre-activation ``z (4n_h, m)``."""
    z_i, z_f, z_o, z_g = jnp.split(z, 4, axis=0)
    return jax.nn.sigmoid(z_i), jax.nn.sigmoid(z_f), jax.nn.sigmoid(z_o), jnp.tanh(z_g)


def lstm_forward(X: Array, h0: Array, c0: Array, W_x: Array, W_h: Array, b: Array,
                 remat: bool = False) -> tuple[Array, dict]:  # fmt: skip
    """``(H (T, n_h, m), cache)``; the cache holds C and, unless ``remat``, the gates."""
    check_sequence(X, W_x.shape[1], "LSTM layer")

    def step(carry, xw_t):
        h_prev, c_prev = carry
        i, f, o, g = gates(xw_t + W_h @ h_prev)
        c = f * c_prev + i * g
        h = o * jnp.tanh(c)
        return (h, c), ((h, c) if remat else (h, c, i, f, o, g))

    XW = input_projection(X, W_x, b)
    _, stacked = jax.lax.scan(step, (h0, c0), XW)
    cache = {"C": stacked[1], "XW": XW if remat else None}
    if not remat:
        cache["gates"] = stacked[2:]
    return stacked[0], cache


def lstm_backward(dH: Array, X: Array, H: Array, cache: dict, h0: Array, c0: Array,
                  W_x: Array, W_h: Array, need_dX: bool = True) -> dict:  # fmt: skip
    """BPTT through the LSTM (module docstring). Returns ``{"dX", "dh0", "dc0", "dW_x",
    "dW_h", "db", "dh": (T, n_h, m) the total ∂J/∂h_t}``."""
    C = cache["C"]
    H_prev = jnp.concatenate([h0[None], H[:-1]])
    C_prev = jnp.concatenate([c0[None], C[:-1]])

    def step(carry, inputs):
        dh_next, dc_next = carry
        if cache.get("gates") is None:  # remat: the gates again from h_{t-1}
            dh_out, c, c_prev, h_prev, xw_t = inputs
            i, f, o, g = gates(xw_t + W_h @ h_prev)
        else:
            dh_out, c, c_prev, (i, f, o, g) = inputs
        dh = dh_out + dh_next
        tanh_c = jnp.tanh(c)
        do = dh * tanh_c
        dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
        dz = jnp.concatenate([dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f),
                              do * o * (1.0 - o), dc * i * (1.0 - g * g)])  # fmt: skip
        return (W_h.T @ dz, dc * f), (dz, dh)

    if cache.get("gates") is None:
        inputs = (dH, C, C_prev, H_prev, cache["XW"])
    else:
        inputs = (dH, C, C_prev, cache["gates"])
    (dh0, dc0), (dZ, dh_total) = jax.lax.scan(
        step, (jnp.zeros_like(h0), jnp.zeros_like(c0)), inputs, reverse=True
    )
    return {
        "dX": jnp.einsum("hx,thm->txm", W_x, dZ) if need_dX else None,
        "dh0": dh0,
        "dc0": dc0,
        "dW_x": jnp.einsum("thm,txm->hx", dZ, X),
        "dW_h": jnp.einsum("thm,tkm->hk", dZ, H_prev),
        "db": jnp.sum(dZ, axis=(0, 2))[:, None],
        "dh": dh_total,
    }
