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

and, summed over the steps that share them (added into the backward scan's carry, one
``(4n_h, m) × (m, ·)`` matmul per step)::

    dW_x = Σ_t dz_t x_tᵀ     dW_h = Σ_t dz_t h_{t-1}ᵀ     db = Σ_t Σ_columns dz_t
    dx_t = W_xᵀ dz_t

Where the work goes (``bench/profile_seq.py``): the products are small (4n_h × n_h × m), and
hoisting them out of the scans as single GEMMs over all T·m columns — ``W_x X`` before the
forward scan, ``dW = dZ Xᵀ`` after the backward one — cost more than they saved: their
operands and results are ``(T, 4n_h, m)`` stacks whose GEMM-friendly order puts T·m rows
first, so XLA:CPU transposed and copied each (4n_h × T·m floats, twice per stack). Inside
the scans every product reads and writes ``(·, m)`` columns as they lie.

The cache is the gates and cells of every step, ``(i, f, o, g, c)`` — 5·T·n_h·m numbers
beside H. ``remat=True`` keeps only H and C and recomputes each step's gates from ``x_t``
and ``h_{t-1}`` in the backward scan, adding each step's parameter gradients into the
scan's carry: the hand-derived form of ``jax.checkpoint`` on the step, for long sequences
(the forward's step is wrapped in ``jax.checkpoint`` then, so that ``jax.grad`` of it saves
the same way). ``experiments/rnn_memory.py`` measures what each form stores.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.layers.rnn import check_sequence

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

    # W_x x_t in the step, not as one GEMM over all T·m columns before the scan: that GEMM's
    # output came out in rows and XLA transposed it to (T, 4n_h, m) and copied it into the
    # loop (4n_h × T·m, twice), more than the 4n_h × n_x × m product per step costs
    def step_from_x(carry, x_t):
        return step(carry, W_x @ x_t + b)

    if remat:
        # jax.checkpoint for jax.grad of this forward (the autodiff path): each step's
        # residuals are recomputed in the backward pass, only the carry (h, c) is stored
        _, (H, C) = jax.lax.scan(jax.checkpoint(step_from_x), (h0, c0), X)
        return H, {"C": C, "gates": None}
    _, (H, C, *stacked) = jax.lax.scan(step_from_x, (h0, c0), X)
    return H, {"C": C, "gates": tuple(stacked)}


def _step_backward(dh, dc_next, c, c_prev, i, f, o, g):
    """One step of the module docstring's BPTT: ``(dz (4n_h, m), dc_prev)``."""
    tanh_c = jnp.tanh(c)
    do = dh * tanh_c
    dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
    dz = jnp.concatenate([dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f),
                          do * o * (1.0 - o), dc * i * (1.0 - g * g)])  # fmt: skip
    return dz, dc * f


def lstm_backward(dH: Array | None, X: Array, H: Array, cache: dict, h0: Array, c0: Array,
                  W_x: Array, W_h: Array, b: Array | None = None, need_dX: bool = True,
                  dh_last: Array | None = None, need_dh: bool = False) -> dict:  # fmt: skip
    """BPTT through the LSTM (module docstring). ``dH (T, n_h, m)``: ∂J/∂h_t through
    outputs at every step, or None with ``dh_last`` (many-to-one: only h_T is read out).
    Returns ``{"dX", "dh0", "dc0", "dW_x", "dW_h", "db"}`` and, with ``need_dh``, ``"dh"``
    (T, n_h, m), the total ∂J/∂h_t.

    Each step adds its ``dz_t x_tᵀ`` and ``dz_t h_{t-1}ᵀ`` into the scan's carry
    (``accumulate``). With the gates cached the step reads them; ``remat`` caches
    (``cache["gates"] is None``, needs ``b``) recompute each step's gates from ``x_t`` and
    ``h_{t-1}``: memory O(n_h·m) per step (H and C) instead of O(14 n_h·m), for a sequential
    matmul per step more."""
    T = H.shape[0]
    C = cache["C"]
    zeros_h = jnp.zeros_like(h0)
    dh_start = zeros_h if dh_last is None else dh_last
    per_step = jnp.zeros((T, 0), H.dtype) if dH is None else dH  # scan needs a leading T

    def previous(A, a0, t):
        return jnp.where(t > 0, A[jnp.maximum(t - 1, 0)], a0)

    def accumulate(dz, dc_prev, dh, x_t, h_prev, dW_x, dW_h, db):
        """One backward step's carry and outputs. The parameter sums accumulate in the carry,
        each step's ``dz_t x_tᵀ`` and ``dz_t h_{t-1}ᵀ`` a GEMM over the m columns: stacking
        every ``dz_t`` for one GEMM over all T·m columns after the scan made XLA write the
        stack and then transpose it (4n_h × T·m twice)."""
        carry = (W_h.T @ dz, dc_prev, dW_x + dz @ x_t.T, dW_h + dz @ h_prev.T,
                 db + jnp.sum(dz, axis=1, keepdims=True))  # fmt: skip
        return carry, ((W_x.T @ dz) if need_dX else None, dh if need_dh else None)

    if cache["gates"] is None:

        def remat_step(carry, inputs):
            dh_next, dc_next, dW_x, dW_h, db = carry
            t, dh_out = inputs
            h_prev, c_prev = previous(H, h0, t), previous(C, c0, t)
            i, f, o, g = gates(W_x @ X[t] + W_h @ h_prev + b)
            dh = dh_next if dH is None else dh_out + dh_next
            dz, dc_prev = _step_backward(dh, dc_next, C[t], c_prev, i, f, o, g)
            return accumulate(dz, dc_prev, dh, X[t], h_prev, dW_x, dW_h, db)

        start = (dh_start, jnp.zeros_like(c0), jnp.zeros_like(W_x), jnp.zeros_like(W_h),
                 jnp.zeros((W_x.shape[0], 1), W_x.dtype))  # fmt: skip
        (dh0, dc0, dW_x, dW_h, db), (dX, dh_total) = jax.lax.scan(
            remat_step, start, (jnp.arange(T), per_step), reverse=True
        )
        out = {"dX": dX, "dh0": dh0, "dc0": dc0, "dW_x": dW_x, "dW_h": dW_h, "db": db}
        return {**out, "dh": dh_total} if need_dh else out

    def step(carry, inputs):
        dh_next, dc_next, dW_x, dW_h, db = carry
        t, dh_out, c, (i, f, o, g) = inputs
        dh = dh_next if dH is None else dh_out + dh_next
        h_prev = previous(H, h0, t)
        dz, dc_prev = _step_backward(dh, dc_next, c, previous(C, c0, t), i, f, o, g)
        return accumulate(dz, dc_prev, dh, X[t], h_prev, dW_x, dW_h, db)

    start = (dh_start, jnp.zeros_like(c0), jnp.zeros_like(W_x), jnp.zeros_like(W_h),
             jnp.zeros((W_x.shape[0], 1), W_x.dtype))  # fmt: skip
    (dh0, dc0, dW_x, dW_h, db), (dX, dh_total) = jax.lax.scan(
        step, start, (jnp.arange(T), per_step, C, cache["gates"]), reverse=True
    )
    out = {"dX": dX, "dh0": dh0, "dc0": dc0, "dW_x": dW_x, "dW_h": dW_h, "db": db}
    return {**out, "dh": dh_total} if need_dh else out
