"""The gated recurrent unit (Cho et al. 2014, "Learning Phrase Representations using RNN
Encoder-Decoder for Statistical Machine Translation", §2.3): forward and BPTT.

Column convention: ``x_t (n_x, m)``, ``h_t (n_h, m)``; a sequence ``X (T, n_x, m)``. The
three blocks of rows are stacked in the order z (update), r (reset), n (candidate)::

    a_t = W_x x_t + b                                  W_x (3n_h, n_x), b (3n_h, 1)
    z = σ(a_z + U_z h_{t-1})      r = σ(a_r + U_r h_{t-1})          W_h = [U_z; U_r; U_n]
    n = tanh(a_n + U_n (r ⊙ h_{t-1}))                                W_h (3n_h, n_h)
    h_t = z ⊙ h_{t-1} + (1 − z) ⊙ n

**Where the reset gate applies.** Cho et al.'s equation (8) puts it *before* the matmul,
``U (r ⊙ h_{t-1})``: r chooses which parts of the previous state the candidate may read.
cuDNN (and so PyTorch's ``nn.GRU``) puts it *after*, ``r ⊙ (U h_{t-1} + b_hn)``, which lets
one matmul ``W_h h_{t-1}`` serve all three blocks before r is known. We follow the paper
(the network named after a paper is the paper's network); the price is a second,
dependent matmul per step (``U_n`` after r). The update gate is the paper's too: z = 1
keeps the old state, ``h_t = z ⊙ h_{t-1} + (1 − z) ⊙ h̃_t`` (eq. 7).

BPTT, derived here (the paper prints no gradients). With ``dh = ∂J/∂h_t`` in total (the
output read at t plus ``dh_next`` through the future), going t = T..1::

    dn   = dh ⊙ (1 − z)                 dz = dh ⊙ (h_{t-1} − n)
    da_n = dn ⊙ (1 − n²)                da_z = dz ⊙ z(1 − z)
    d(rh) = U_nᵀ da_n                   the gradient at r ⊙ h_{t-1}
    dr   = d(rh) ⊙ h_{t-1}              da_r = dr ⊙ r(1 − r)
    dh_next ← dh ⊙ z + d(rh) ⊙ r + U_zᵀ da_z + U_rᵀ da_r      h_{t-1}'s four paths

and, with ``da_t = [da_z; da_r; da_n]`` summed over the steps that share the weights::

    dW_x = Σ_t da_t x_tᵀ      db = Σ_t Σ_columns da_t      dx_t = W_xᵀ da_t
    dU_z = Σ_t da_z h_{t-1}ᵀ   dU_r = Σ_t da_r h_{t-1}ᵀ   dU_n = Σ_t da_n (r ⊙ h_{t-1})ᵀ

The cache is the gates of every step, ``(z, r, n)`` — 3·T·n_h·m numbers beside H.
``remat=True`` keeps only H and recomputes each step's gates from ``x_t`` and ``h_{t-1}``
in the backward scan, adding the parameter gradients into the scan's carry, as
``jaxnn.layers.lstm`` does (its forward step is then wrapped in ``jax.checkpoint`` so that
``jax.grad`` saves the same way).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.layers.rnn import check_sequence, input_projection

Array = jax.Array


def gates(a: Array, h_prev: Array, W_h: Array) -> tuple[Array, Array, Array]:
    """``(z, r, n)`` from the input part ``a = W_x x_t + b (3n_h, m)`` and ``h_{t-1}``."""
    n_h = h_prev.shape[0]
    zr = jax.nn.sigmoid(a[: 2 * n_h] + W_h[: 2 * n_h] @ h_prev)
    z, r = zr[:n_h], zr[n_h:]
    n = jnp.tanh(a[2 * n_h :] + W_h[2 * n_h :] @ (r * h_prev))
    return z, r, n


def gru_forward(X: Array, h0: Array, W_x: Array, W_h: Array, b: Array,
                remat: bool = False) -> tuple[Array, dict]:  # fmt: skip
    """``(H (T, n_h, m), cache)``; the cache holds the gates ``(Z, R, N)`` unless ``remat``."""
    check_sequence(X, W_x.shape[1], "GRU layer")

    def step(h_prev, a_t):
        z, r, n = gates(a_t, h_prev, W_h)
        h = z * h_prev + (1.0 - z) * n
        return h, (h if remat else (h, z, r, n))

    if remat:  # jax.grad of this forward recomputes each step's gates too (see lstm.py)

        def step_from_x(h_prev, x_t):
            return step(h_prev, W_x @ x_t + b)

        _, H = jax.lax.scan(jax.checkpoint(step_from_x), h0, X)
        return H, {"gates": None}
    _, (H, *stacked) = jax.lax.scan(step, h0, input_projection(X, W_x, b))
    return H, {"gates": tuple(stacked)}


def _step_backward(dh, h_prev, z, r, n, W_h):
    """One step of the module docstring's BPTT: ``(da (3n_h, m), dh_prev)``."""
    n_h = h_prev.shape[0]
    da_n = dh * (1.0 - z) * (1.0 - n * n)
    da_z = dh * (h_prev - n) * z * (1.0 - z)
    d_rh = W_h[2 * n_h :].T @ da_n
    da_r = d_rh * h_prev * r * (1.0 - r)
    da_zr = jnp.concatenate([da_z, da_r])
    dh_prev = dh * z + d_rh * r + W_h[: 2 * n_h].T @ da_zr
    return jnp.concatenate([da_zr, da_n]), dh_prev


def gru_backward(dH: Array | None, X: Array, H: Array, cache: dict, h0: Array, W_x: Array,
                 W_h: Array, b: Array | None = None, need_dX: bool = True,
                 dh_last: Array | None = None, need_dh: bool = False) -> dict:  # fmt: skip
    """BPTT through the GRU (module docstring). ``dH (T, n_h, m)``: ∂J/∂h_t through outputs
    at every step, or None with ``dh_last`` (many-to-one). Returns ``{"dX", "dh0", "dW_x",
    "dW_h", "db"}`` and, with ``need_dh``, ``"dh"`` (T, n_h, m), the total ∂J/∂h_t.
    ``remat`` caches (``cache["gates"] is None``, needs ``b``) recompute the gates."""
    T, n_h = H.shape[0], H.shape[1]
    dh_start = jnp.zeros_like(h0) if dh_last is None else dh_last
    per_step = jnp.zeros((T, 0), H.dtype) if dH is None else dH  # scan needs a leading T
    H_prev = jnp.concatenate([h0[None], H[:-1]])

    def recurrent_grad(dA, H_prev, R):
        """``dW_h = [Σ_t da_zr h_{t-1}ᵀ; Σ_t da_n (r ⊙ h_{t-1})ᵀ]`` over stacked steps."""
        zr = jnp.einsum("thm,tkm->hk", dA[:, : 2 * n_h], H_prev)
        return jnp.concatenate([zr, jnp.einsum("thm,tkm->hk", dA[:, 2 * n_h :], R * H_prev)])

    if cache["gates"] is None:

        def remat_step(carry, inputs):
            dh_next, dW_x, dW_h, db = carry
            x_t, h_prev, dh_out = inputs
            z, r, n = gates(W_x @ x_t + b, h_prev, W_h)
            dh = dh_next if dH is None else dh_out + dh_next
            da, dh_prev = _step_backward(dh, h_prev, z, r, n, W_h)
            dW_h = dW_h + recurrent_grad(da[None], h_prev[None], r[None])
            carry = (dh_prev, dW_x + da @ x_t.T, dW_h, db + jnp.sum(da, axis=1, keepdims=True))
            return carry, ((W_x.T @ da) if need_dX else None, dh if need_dh else None)

        start = (dh_start, jnp.zeros_like(W_x), jnp.zeros_like(W_h),
                 jnp.zeros((W_x.shape[0], 1), W_x.dtype))  # fmt: skip
        (dh0, dW_x, dW_h, db), (dX, dh_total) = jax.lax.scan(
            remat_step, start, (X, H_prev, per_step), reverse=True
        )
        out = {"dX": dX, "dh0": dh0, "dW_x": dW_x, "dW_h": dW_h, "db": db}
        return {**out, "dh": dh_total} if need_dh else out

    def step(dh_next, inputs):
        h_prev, dh_out, (z, r, n) = inputs
        dh = dh_next if dH is None else dh_out + dh_next
        da, dh_prev = _step_backward(dh, h_prev, z, r, n, W_h)
        return dh_prev, (da, dh if need_dh else None)

    dh0, (dA, dh_total) = jax.lax.scan(
        step, dh_start, (H_prev, per_step, cache["gates"]), reverse=True
    )
    R = cache["gates"][1]
    out = {
        "dX": jnp.einsum("hx,thm->txm", W_x, dA) if need_dX else None,
        "dh0": dh0,
        "dW_x": jnp.einsum("thm,txm->hx", dA, X),
        "dW_h": recurrent_grad(dA, H_prev, R),
        "db": jnp.sum(dA, axis=(0, 2))[:, None],
    }
    return {**out, "dh": dh_total} if need_dh else out
