"""The layers LeNet-5 of 1998 has and modern networks do not (LeCun, Bottou, Bengio & Haffner,
"Gradient-based learning applied to document recognition", Proc. IEEE 86(11), 1998, §II.B).

* ``normalise_input`` — pixels in [0, 1] (0 background) to the paper's levels: background
  −0.1, foreground 1.175 (§II.B: "the mean input roughly 0, and the variance roughly 1"):
  ``A = −0.1 + 1.275 X``; backward ``dX = 1.275 dA``.
* ``subsample`` — S2 and S4, *trainable subsampling*: "the four inputs to a unit in S2 are
  added, then multiplied by a trainable coefficient, and added to a trainable bias" (one
  coefficient and one bias per map; the squashing function follows as its own layer):

      Z[i, h, w, c] = u_c · Σ_{p, q < f} A_prev[i, h·f + p, w·f + q, c] + b_c
      du_c = Σ_{i,h,w} dZ[i,h,w,c] · Σ_{p,q} A_prev[…],   db_c = Σ_{i,h,w} dZ[i,h,w,c]
      dA_prev[i, h·f + p, w·f + q, c] = u_c · dZ[i, h, w, c]   (zero where no window reaches)

* ``partial_conv`` — C3: each output map is a convolution of only the input maps the
  connection table lists (Table I). Only the listed kernels are parameters: ``W (f, f, K)``
  for the K table entries (60 in Table I), scattered into a dense kernel
  ``W_full (f, f, n_C_prev, n_C)`` whose other entries are the constant 0, then the ordinary
  convolution (``jaxnn.layers.conv``). Backward: the ordinary convolution's
  ``dW_full``, of which only the listed entries are gradients of parameters:
  ``dW = dW_full[:, :, table_in, table_out]`` (the chain rule through the scatter, a
  gather); ``dA_prev`` and ``db`` are the ordinary ones. Nothing ever writes the unlisted
  entries, so they stay exactly zero however long one trains.
* ``rbf`` — the output layer of Euclidean radial basis function units,
  ``y_i = Σ_j (x_j − w_ij)²`` (Eq. 7), with **fixed** ±1 parameter vectors w_i (not trained;
  §II.B: the paper draws them as 7×12 bitmaps of the characters, which are not published as
  data). jaxnn uses rows 1–C of the normalised Paley Hadamard matrix of order 84
  (``hadamard_codes``): ±1 codes, each with 42 entries +1, any two at Hamming distance 42 —
  the "maximally distinct" codes the paper says random ±1 codes approximate. Backward:

      ∂y_i/∂x_j = 2 (x_j − w_ij)   ⇒   dX = 2 (X ⊙ Σ_i dY_i − Wᵀ dY)

**Second derivatives** (``*_backward2``; LeCun et al. 1998, Appendix C): the diagonal
Gauss–Newton approximation the paper's stochastic diagonal Levenberg–Marquardt update uses
(``jaxnn.optim.sdlm``), each beside its layer's first-order backward, derived in its
docstring. ``d2`` names ``∂²E/∂·²``, one number per unit (or parameter), never negative.

Shapes as elsewhere: images ``(m, n_H, n_W, n_C)``; the RBF layer reads columns ``(84, m)``
and outputs the penalties ``Y (C, m)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import initializers
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import conv as conv_ops

Array = jax.Array

BACKGROUND, FOREGROUND = -0.1, 1.175

# Table I: C3 map k reads these S2 maps. Six from contiguous triples, six from contiguous
# quadruples, three from non-contiguous quadruples, one from all six.
TABLE_I = ((0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
           (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
           (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
           (0, 1, 2, 3, 4, 5))  # fmt: skip


# ---- input normalisation -------------------------------------------------------------------


def normalise_input():
    """A ``Layer``: ``A = −0.1 + 1.275 X`` (pixels in [0, 1], 0 the background)."""
    from jaxnn.layers import Layer, _no_macs, _no_params

    scale = FOREGROUND - BACKGROUND

    def forward(params, X):
        return BACKGROUND + scale * X, None

    def backward(params, cache, dA, need_dA_prev):
        return (scale * dA if need_dA_prev else None), {}

    def backward2(params, cache, d2A, dA, need_d2A_prev):  # A linear in X: d2X = scale² d2A
        return (scale * scale * d2A if need_d2A_prev else None), {}

    return Layer("normalise", f"pixels → [{BACKGROUND}, {FOREGROUND}]", lambda s: tuple(s),
                 _no_params, forward, backward, _no_macs, backward2=backward2)  # fmt: skip


# ---- trainable subsampling -----------------------------------------------------------------


class SubsampleCache(NamedTuple):
    A_prev: Array
    S: Array  # the window sums (m, n_H, n_W, n_C)
    u: Array


def subsample_forward(A_prev: Array, u: Array, b: Array, f: int = 2
                      ) -> tuple[Array, SubsampleCache]:  # fmt: skip
    """``Z = u_c · Σ_window A_prev + b_c`` over non-overlapping f×f windows."""
    if A_prev.ndim != 4:
        raise ShapeError(f"subsampling input must be 4-D (m, n_H, n_W, n_C); got "
                         f"{tuple(A_prev.shape)}")  # fmt: skip
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H, n_W = n_H_prev // f, n_W_prev // f
    tiles = A_prev[:, : n_H * f, : n_W * f].reshape(m, n_H, f, n_W, f, n_C)
    S = tiles.sum(axis=(2, 4))
    return u * S + b, SubsampleCache(A_prev, S, u)


def subsample_backward(dZ: Array, cache: SubsampleCache, f: int = 2, need_dA_prev: bool = True
                       ) -> tuple[Array | None, Array, Array]:  # fmt: skip
    """``(dA_prev, du, db)`` (module docstring)."""
    A_prev, S, u = cache
    du = jnp.sum(dZ * S, axis=(0, 1, 2))
    db = jnp.sum(dZ, axis=(0, 1, 2))
    if not need_dA_prev:
        return None, du, db
    m, n_H, n_W, n_C = dZ.shape
    spread = jnp.broadcast_to((u * dZ)[:, :, None, :, None, :], (m, n_H, f, n_W, f, n_C))
    dA_prev = spread.reshape(m, n_H * f, n_W * f, n_C)
    rest = ((0, 0), (0, A_prev.shape[1] - n_H * f), (0, A_prev.shape[2] - n_W * f), (0, 0))
    return jnp.pad(dA_prev, rest), du, db


def subsample_backward2(
    d2Z: Array, cache: SubsampleCache, f: int = 2, need_d2A_prev: bool = True
) -> tuple[Array | None, Array, Array]:
    """``(d2A_prev, d2u, d2b)``: second derivatives, diagonal Gauss–Newton (Appendix C).

    Unit ``Z[i, h, w, c]`` has f² connections, each of weight ``u_c`` from one input
    ``x = A_prev[i, h·f + p, w·f + q, c]``, and a bias. Per connection ``∂²E/∂u² ≈ x²
    ∂²E/∂Z²`` and ``∂²E/∂x² ≈ u² ∂²E/∂Z²``; ``u_c`` is shared by every connection of map c,
    so its second derivative is their sum (the cross terms between the connections dropped,
    as the paper does — not ``(Σ_window x)²``, which keeping them would give):

        d2u_c = Σ_{i,h,w} d2Z[i,h,w,c] · Σ_{p,q} A_prev[i, h·f + p, w·f + q, c]²
        d2b_c = Σ_{i,h,w} d2Z[i,h,w,c]
        d2A_prev[i, h·f + p, w·f + q, c] = u_c² · d2Z[i, h, w, c]   (zero where no window reaches)

    — ``subsample_backward`` with ``S → Σ_window A_prev²`` and ``u → u²``."""
    A_prev, _, u = cache
    m, n_H, n_W, n_C = d2Z.shape
    tiles = A_prev[:, : n_H * f, : n_W * f].reshape(m, n_H, f, n_W, f, n_C)
    squares = (tiles * tiles).sum(axis=(2, 4))
    return subsample_backward(d2Z, SubsampleCache(A_prev, squares, u * u), f, need_d2A_prev)


def subsample(f: int = 2, init: str = "lecun98"):
    """A ``Layer``: S2/S4's trainable subsampling; params ``u (n_C,)``, ``b (n_C,)``."""
    from jaxnn.layers import Layer, _image

    if f < 1:
        raise ConfigError(f"a subsampling window needs f ≥ 1; got {f}")
    weight_init = initializers.get(init)

    def shape(in_shape):
        n_H, n_W, n_C = _image(in_shape, "subsampling")
        if n_H < f or n_W < f:
            raise ShapeError(f"a {f}×{f} window does not fit an input of size {n_H}×{n_W}: use "
                             "a larger input (--input-shape)")  # fmt: skip
        return (n_H // f, n_W // f, n_C)

    def init_fn(key, in_shape, dtype):
        n_C = _image(in_shape, "subsampling")[2]
        # one weight per unit, fed by f² inputs: the paper's rule with F = f²
        u = weight_init(key, (n_C,), dtype, fans=(n_C, f * f))
        return {"u": u, "b": jnp.zeros((n_C,), dtype)}

    def forward(params, A_prev):
        return subsample_forward(A_prev, params["u"], params["b"], f)

    def backward(params, cache, dZ, need_dA_prev):
        dA_prev, du, db = subsample_backward(dZ, cache, f, need_dA_prev)
        return dA_prev, {"u": du, "b": db}

    def backward2(params, cache, d2Z, dA, need_d2A_prev):
        d2A_prev, d2u, d2b = subsample_backward2(d2Z, cache, f, need_d2A_prev)
        return d2A_prev, {"u": d2u, "b": d2b}

    def macs(in_shape):
        return math.prod(shape(in_shape)) * (f * f)

    return Layer("subsample", f"subsample {f}×{f} (u, b per map)", shape, init_fn, forward,
                 backward, macs, backward2=backward2)  # fmt: skip


# ---- partially connected convolution (C3) --------------------------------------------------


def table_indices(table) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, outputs)``: the (input map, output map) pair of every table entry, int32
    whatever the x64 mode (numpy's default int64 indices, traced once under
    ``compat.enable_x64`` and again without it, failed JAX's index normalisation: a float32
    gradient check of ``lenet5_1998`` with a stochastic layer)."""
    ins = [i for k, row in enumerate(table) for i in row]
    outs = [k for k, row in enumerate(table) for _ in row]
    return np.asarray(ins, np.int32), np.asarray(outs, np.int32)


def full_kernel(W: Array, table, n_C_prev: int) -> Array:
    """``W_full (f, f, n_C_prev, n_C)``: the table's kernels, zeros elsewhere."""
    ins, outs = table_indices(table)
    f = W.shape[0]
    return jnp.zeros((f, f, n_C_prev, len(table)), W.dtype).at[:, :, ins, outs].set(W)


def partial_conv_backward2(d2Z: Array, cache, table, need_d2A_prev: bool = True
                           ) -> tuple[Array | None, Array, Array]:  # fmt: skip
    """``(d2A_prev, d2W, d2b)`` of C3: the ordinary convolution's second-order backward
    (``conv.conv_backward2``) on the dense kernel, whose unlisted entries are the constant 0
    — their connections carry ``0² · d2Z``, nothing — then the listed entries gathered:
    ``d2W = d2W_full[:, :, table_in, table_out]``. Each kernel entry is shared by the
    connections of every output position; ``conv_backward2`` sums over them."""
    ins, outs = table_indices(table)
    d2A_prev, d2W_full, d2b = conv_ops.conv_backward2(d2Z, cache, need_d2A_prev)
    return d2A_prev, d2W_full[:, :, ins, outs], d2b


def partial_conv(f: int, table=TABLE_I, init: str = "lecun98", padding="valid"):
    """A ``Layer``: ``len(table)`` maps, map k a convolution of the input maps ``table[k]``
    only; params ``W (f, f, K)`` (K table entries) and ``b (1, 1, 1, n_C)``."""
    from jaxnn.layers import Layer, _image

    table = tuple(tuple(int(i) for i in row) for row in table)
    ins, outs = table_indices(table)
    if min(len(row) for row in table) < 1 or len(set(zip(ins, outs, strict=True))) != len(ins):
        raise ConfigError("a connection table lists each output map's inputs once, ≥ 1 each")
    n_C = len(table)
    weight_init = initializers.get(init)

    def shape(in_shape):
        n_H, n_W, n_C_prev = _image(in_shape, "partial conv")
        if ins.max() >= n_C_prev:
            raise ShapeError(f"the connection table reads map {ins.max()}; the input has "
                             f"{n_C_prev} maps")  # fmt: skip
        return (conv_ops.conv_geometry(n_H, f, 1, padding).n_out,
                conv_ops.conv_geometry(n_W, f, 1, padding).n_out, n_C)  # fmt: skip

    def init_fn(key, in_shape, dtype):
        n_C_prev = _image(in_shape, "partial conv")[2]
        if init == "lecun98":  # U[−2.4/F_k, 2.4/F_k], F_k the fan-in of the map fed
            fan_in = jnp.asarray([f * f * len(table[k]) for k in outs], dtype)
            W = jax.random.uniform(key, (f, f, len(ins)), dtype, -1.0, 1.0) * (2.4 / fan_in)
        else:  # the average fans of the connected maps
            W = weight_init(key, (f, f, len(ins)), dtype,
                            fans=(f * f * len(ins) / n_C_prev, f * f * len(ins) / n_C))  # fmt: skip
        return {"W": W, "b": jnp.zeros((1, 1, 1, n_C), dtype)}

    def forward(params, A_prev):
        W_full = full_kernel(params["W"], table, A_prev.shape[3])
        return conv_ops.conv_forward(A_prev, W_full, params["b"], 1, padding)

    def backward(params, cache, dZ, need_dA_prev):
        dA_prev, dW_full, db = conv_ops.conv_backward(dZ, cache, need_dA_prev)
        return dA_prev, {"W": dW_full[:, :, ins, outs], "b": db}

    def backward2(params, cache, d2Z, dA, need_d2A_prev):
        d2A_prev, d2W, d2b = partial_conv_backward2(d2Z, cache, table, need_d2A_prev)
        return d2A_prev, {"W": d2W, "b": d2b}

    def macs(in_shape):
        n_H, n_W, _ = shape(in_shape)
        return n_H * n_W * f * f * len(ins)

    return Layer("conv", f"conv {f}×{f} {n_C}, table ({len(ins)} of "
                 f"{n_C * (ins.max() + 1)} map pairs)", shape, init_fn, forward, backward,
                 macs, backward2=backward2)  # fmt: skip


# ---- Euclidean RBF output ------------------------------------------------------------------


def hadamard_codes(num_classes: int = 10, n: int = 84) -> np.ndarray:
    """``(C, 84)`` ±1 codes: rows 1…C of the normalised Paley (type I) Hadamard matrix of
    order 84 = 83 + 1 (83 is a prime ≡ 3 mod 4). ``H = I + S`` with the skew matrix
    ``S = [[0, 1ᵀ], [−1, Q]]``, Q the Jacobsthal matrix ``Q_ab = χ(b − a)`` (χ the Legendre
    symbol mod 83); then ``H Hᵀ = 84 I``: distinct rows agree in exactly 42 places."""
    q = n - 1
    if num_classes > q:
        raise ConfigError(f"the RBF codes cover at most {q} classes; got {num_classes}")
    squares = {(x * x) % q for x in range(1, q)}
    chi = np.array([0] + [1 if d in squares else -1 for d in range(1, q)])
    Q = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]
    S = np.zeros((n, n), dtype=np.int64)
    S[0, 1:], S[1:, 0], S[1:, 1:] = 1, -1, Q
    H = np.eye(n, dtype=np.int64) + S
    H = H * H[0][None, :]  # normalise: first row all +1 (columns times ±1 keep H Hᵀ = nI)
    H = H * H[:, :1]  # and first column +1
    return H[1 : num_classes + 1].astype(np.float64)


class RBFCache(NamedTuple):
    X: Array


def rbf_forward(X: Array, codes: Array) -> tuple[Array, RBFCache]:
    """``Y[i, e] = Σ_j (X[j, e] − w_ij)²``: ``X (n, m)`` columns, ``codes (C, n)``."""
    if X.ndim != 2 or X.shape[0] != codes.shape[1]:
        raise ShapeError(f"the RBF layer reads columns ({codes.shape[1]}, m); got "
                         f"{tuple(X.shape)}")  # fmt: skip
    diff = X[None, :, :] - codes[:, :, None]
    return jnp.sum(diff * diff, axis=1), RBFCache(X)


def rbf_backward(dY: Array, cache: RBFCache, codes: Array) -> Array:
    """``dX = 2 (X ⊙ Σ_i dY_i − Wᵀ dY)``."""
    X = cache.X
    return 2 * (X * jnp.sum(dY, axis=0, keepdims=True) - codes.T @ dY)


def rbf_backward2(d2Y: Array, dY: Array, cache: RBFCache, codes: Array) -> Array:
    """``d2X``: the second derivatives at the RBF layer's input (F6's output), the paper's
    boundary condition (Appendix C).

    ``y_i = Σ_j (x_j − w_ij)²`` has ``∂y_i/∂x_j = 2 (x_j − w_ij)`` and ``∂²y_i/∂x_j² = 2``, so

        ∂²E/∂x_j² = Σ_i (∂y_i/∂x_j)² ∂²E/∂y_i² + Σ_i (∂²y_i/∂x_j²) ∂E/∂y_i
                  ≈ 4 Σ_i (x_j − w_ij)² d2Y_i + 2 Σ_i dY_i

    (cross terms between units dropped, as everywhere). The second term — the RBF's own
    curvature — is kept, unlike a squashing function's ``f″``: it is never negative here
    (Eq. 9: ``dY = Y / m ≥ 0``; Eq. 10: ``Σ_i dY_i = (1 − Σ_i p_i) / m > 0``), and for Eq. 9,
    whose E is linear in the penalties (``d2Y = 0``), it is the whole and exact second
    derivative ``2 / m`` of the squared distance to the correct code."""
    diff = cache.X[None, :, :] - codes[:, :, None]
    return 4 * jnp.sum(d2Y[:, None, :] * diff * diff, axis=0) + 2 * jnp.sum(
        dY, axis=0, keepdims=True
    )


def rbf(num_classes: int):
    """A ``Layer``: ``num_classes`` Euclidean RBF units with fixed codes (no parameters)."""
    from jaxnn.layers import Layer, _no_params

    codes_np = hadamard_codes(num_classes)

    def codes_like(X):
        return jnp.asarray(codes_np, X.dtype)

    def shape(in_shape):
        if tuple(in_shape) != (codes_np.shape[1],):
            raise ShapeError(f"the RBF output reads {codes_np.shape[1]} units (F6); got "
                             f"{in_shape}")  # fmt: skip
        return (num_classes,)

    def forward(params, X):
        return rbf_forward(X, codes_like(X))

    def backward(params, cache, dY, need_dA_prev):
        return (rbf_backward(dY, cache, codes_like(cache.X)) if need_dA_prev else None), {}

    def backward2(params, cache, d2Y, dY, need_d2A_prev):
        return (rbf_backward2(d2Y, dY, cache, codes_like(cache.X)) if need_d2A_prev else None), {}

    return Layer("rbf", f"RBF {num_classes} (fixed ±1 codes)", shape, _no_params, forward,
                 backward, lambda in_shape: num_classes * in_shape[0],
                 backward2=backward2)  # fmt: skip


# ---- the paper's loss on the RBF penalties -------------------------------------------------


def _eq10_posterior(P: Array, j: float) -> Array:
    """``e^(−y_i) / (e^(−j) + Σ_k e^(−y_k))`` per column, computed as a softmax of
    ``[−j, −y_1, …]`` with its first row dropped (stable for large penalties)."""
    logits = jnp.concatenate([jnp.full((1, P.shape[1]), -j, P.dtype), -P], axis=0)
    return jax.nn.softmax(logits, axis=0)[1:]


def rbf_cost(P: Array, Y: Array, j: float | None = None) -> Array:
    """Eq. 9, ``E = (1/m) Σ_e y_{D_e}`` (the correct class's penalty), or with ``j`` Eq. 10,
    ``E = (1/m) Σ_e (y_{D_e} + log(e^(−j) + Σ_i e^(−y_i)))``: the second, discriminative
    term pushes the other classes' penalties up. ``P (C, m)`` penalties, ``Y (C, m)`` one-hot."""
    m = Y.shape[1]
    J = jnp.sum(P * Y) / m
    if j is None:
        return J
    logits = jnp.concatenate([jnp.full((1, P.shape[1]), -j, P.dtype), -P], axis=0)
    return J + jnp.sum(jax.scipy.special.logsumexp(logits, axis=0)) / m


def rbf_cost_grad(P: Array, Y: Array, j: float | None = None) -> Array:
    """``dP = ∂E/∂P``: Eq. 9 ``Y / m``; Eq. 10 ``(Y − e^(−y_i) / (e^(−j) + Σ_k e^(−y_k))) / m``
    (the derivative of ``log(e^(−j) + Σ e^(−y))`` in ``y_i`` is minus that ratio)."""
    m = Y.shape[1]
    if j is None:
        return Y / m
    return (Y - _eq10_posterior(P, j)) / m


def rbf_cost_grad2(P: Array, Y: Array, j: float | None = None) -> Array:
    """``d2P = ∂²E/∂P²``, the diagonal: Eq. 9 is linear in the penalties, so 0; Eq. 10's
    ``log(e^(−j) + Σ_k e^(−y_k))`` has ``∂²/∂y_i² = p_i − p_i²`` (``p_i`` its posterior,
    ``_eq10_posterior``; the off-diagonal ``−p_i p_k`` dropped), over m."""
    m = Y.shape[1]
    if j is None:
        return jnp.zeros_like(P)
    p = _eq10_posterior(P, j)
    return p * (1 - p) / m
