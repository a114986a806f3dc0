"""Inverted dropout (Srivastava et al. 2014; notes §5, regularisation) with its backward.

In training, every unit is kept with probability ``keep_prob = 1 − rate`` and the kept ones
are scaled by ``1 / keep_prob``, so that the expected activation is unchanged and evaluation
needs no rescaling ("inverted" dropout):

    D ~ Bernoulli(keep_prob), elementwise, the shape of A_prev
    A = D ⊙ A_prev / keep_prob                     E[A] = A_prev

**Backward.** A is linear in A_prev with the diagonal Jacobian ``diag(D) / keep_prob``, so

    dA_prev = D ⊙ dA / keep_prob

— the same mask, drawn once in the forward and kept in the cache (no parameters, no dD).

**Keys.** The mask is drawn from the key the training loop passes for the step
(``jaxnn.train``: step i of epoch e gets ``fold_in(epoch_key(run_key, e), i)``, and
``jaxnn.layers.sequential`` folds in the layer's index): a run is reproducible from its seed,
and ``--resume`` continues with the very same masks. ``key=None`` is **evaluation**: the layer
is the identity (``A = A_prev``, ``dA_prev = dA``) — ``predict``, metrics and sample scoring
never see a mask. A gradient check passes one fixed key, so that the cost it differentiates
(by hand, by ``jax.grad`` and by central differences) is one deterministic function: the
network with that one mask. The mask is drawn from a float32 uniform in every precision
(``u < keep_prob``, u ~ U[0, 1) float32, exactly ``jax.random.bernoulli``'s float32 mask),
so a float32 run, an ``--x64`` run and the float64 finite differences of a float32 check all
see the same mask for the same key.

Shapes: any; images ``(m, n_H, n_W, n_C)`` or columns ``(n, m)`` alike.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.errors import ConfigError

Array = jax.Array


def check_rate(rate: float) -> float:
    """The drop probability, a number in [0, 1)."""
    if not (0.0 <= float(rate) < 1.0):
        raise ConfigError(
            f"dropout rate {rate!r} must be in [0, 1) (the probability of dropping a unit; "
            "0 turns dropout off)"
        )
    return float(rate)


def dropout_forward(A_prev: Array, rate: float, key: Array | None) -> tuple[Array, Array | None]:
    """``A = D ⊙ A_prev / keep_prob`` with ``D ~ Bernoulli(1 − rate)`` from ``key``; the
    cache is the mask ``D`` (None in evaluation, ``key=None``: then ``A = A_prev``)."""
    if key is None or rate == 0.0:
        return A_prev, None
    keep_prob = 1.0 - rate
    # the uniform draw in float32 whatever the x64 mode: jax.random.bernoulli draws in the
    # default float dtype, so float64 finite differences of a float32 check (and x64 runs)
    # saw another mask (issue 33); this is bit for bit the float32 bernoulli's mask
    D = jax.random.uniform(key, A_prev.shape, jnp.float32) < jnp.float32(keep_prob)
    return jnp.where(D, A_prev / keep_prob, jnp.zeros_like(A_prev)), D


def dropout_backward(dA: Array, D: Array | None, rate: float) -> Array:
    """``dA_prev = D ⊙ dA / keep_prob`` (the identity when no mask was drawn)."""
    if D is None:
        return dA
    return jnp.where(D, dA / (1.0 - rate), jnp.zeros_like(dA))


def dropout(rate: float = 0.5):
    """A ``jaxnn.layers.Layer``: inverted dropout with drop probability ``rate`` (the
    papers' "dropout 0.5"); stochastic, so its forward takes the step's key."""
    from jaxnn.layers import Layer, _no_macs, _no_params

    rate = check_rate(rate)

    def forward(params, A_prev, key=None):
        return dropout_forward(A_prev, rate, key)

    def backward(params, D, dA, need_dA_prev):
        return (dropout_backward(dA, D, rate) if need_dA_prev else None), {}

    return Layer("dropout", f"dropout {rate:g}", lambda in_shape: tuple(in_shape), _no_params,
                 forward, backward, _no_macs, stochastic=True)  # fmt: skip
