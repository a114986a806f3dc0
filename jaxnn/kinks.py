"""Which branch a program takes: the "activation pattern" that finite differences must not cross.

A network built from ReLUs, leaky ReLUs, max-pools, hinges and clips is only *piecewise*
smooth: inside each piece (one fixed choice of every ``max``, every ``where``, every pooling
window's winner) the cost is smooth, and at the boundaries between pieces its derivative
jumps. A central difference ``(J(θ + h eᵢ) − J(θ − h eᵢ)) / 2h`` whose stencil straddles such a
boundary measures neither side's derivative — the "kinks" of cs231n's notes on gradient
checking — so an entry whose stencil crosses one says nothing about the gradient at θ.

``with_pattern(fn, *args)`` returns ``fn`` rewritten to also return its *pattern*: the
outcome of every branch decision the traced program makes. It walks ``fn``'s jaxpr (so it
needs no help from the model) and records, per primitive:

* comparisons (``gt ge lt le eq ne``) and the predicate of ``select_n``: their boolean
  outputs — ``jnp.where(Z > 0, …)`` (ReLU, leaky ReLU), hinges, masks;
* ``max``/``min`` (elementwise, ``jnp.maximum``, ``jnp.clip``), ``clamp``, ``abs``,
  ``sign``, ``floor``/``ceil``/``round``: which side is active;
* ``reduce_max``/``reduce_min``, ``argmax``/``argmin``: where the extremum sits;
* ``reduce_window_max``/``min`` (max-pooling, ``lax.reduce_window(…, lax.max, …)``): which
  entry of each window wins, as the window-numbered scatter ``jax.vjp`` of the pool sends
  back (a ``reduce_window`` with a computation of its own is evaluated without a pattern);
* ``cond``: the branch index.

It recurses into ``pjit``, ``custom_jvp_call``/``custom_vjp_call`` and other call-like
primitives (their ``jaxpr`` parameter) and into ``scan`` (re-scanned, the body's pattern
stacked over steps: an RNN's ReLU at every time step). A ``while_loop`` is evaluated as is,
without a pattern of its own (none of jaxnn's costs uses one).

Two points with the same pattern lie in the same smooth piece (up to pieces that touch
again along the segment, which a step of 10⁻⁵ does not see); a different pattern means the
stencil crossed a kink. The pattern is conservative: a branch whose outcome does not change
the cost (the ``max`` that stabilises a softmax) also counts, which can only exclude an
entry, never pass a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jcore

Array = jax.Array

_COMPARISONS = {"gt", "ge", "lt", "le", "eq", "ne"}
_PIECEWISE_CONSTANT = {"sign", "floor", "ceil", "round", "argmax", "argmin"}
_CALLS = {"pjit", "jit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call",
          "custom_vjp_call", "custom_vjp_call_jaxpr", "custom_lin"}  # fmt: skip
_WINDOWED = {"reduce_window_max", "reduce_window_min"}


def _sub_jaxpr(params: dict):
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if key in params:
            sub = params[key]
            return (sub.jaxpr, sub.consts) if hasattr(sub, "consts") else (sub, ())
    return None


def _branch_pattern(primitive, params: dict, invals: list, outvals: list) -> list[Array]:
    """The branch outcomes of one primitive application (empty for smooth primitives)."""
    name = primitive.name
    if name in _COMPARISONS or name in _PIECEWISE_CONSTANT:
        return list(outvals)
    if name in ("max", "min"):
        a, b = invals
        return [jnp.greater(a, b), jnp.equal(a, b)]
    if name == "clamp":
        low, x, high = invals
        return [jnp.less(x, low), jnp.greater(x, high)]
    if name == "abs":
        return [jnp.greater_equal(invals[0], 0)]
    if name == "select_n":
        return [invals[0]]
    if name == "cond":
        return [invals[0]]
    if name in ("reduce_max", "reduce_min"):
        (x,), (out,) = invals, outvals
        return [jnp.equal(x, jnp.expand_dims(out, tuple(params["axes"])))]
    if name in _WINDOWED and jnp.issubdtype(invals[0].dtype, jnp.floating):
        # max-pool: scatter each window's number back to its winner (the pool's own VJP)
        out, vjp = jax.vjp(lambda x: primitive.bind(x, **params), invals[0])
        window_numbers = jnp.arange(1, out.size + 1, dtype=out.dtype).reshape(out.shape)
        return [vjp(window_numbers)[0]]
    return []


def _differentiably_used(jaxpr) -> set:
    """The variables the outputs depend on other than through ``stop_gradient`` (the max that
    stabilises a softmax is a branch that cannot bend the cost)."""
    needed = {v for v in jaxpr.outvars if not isinstance(v, jcore.Literal)}
    for eqn in reversed(jaxpr.eqns):
        if eqn.primitive.name != "stop_gradient" and any(v in needed for v in eqn.outvars):
            needed.update(v for v in eqn.invars if not isinstance(v, jcore.Literal))
    return needed


def _eval(jaxpr, consts, args) -> tuple[list, list[Array]]:
    """Evaluate ``jaxpr`` on ``args`` (traceable: called under ``jit``), collecting the
    branch outcomes of every primitive in order."""
    env: dict = {}

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for var, value in zip(jaxpr.constvars, consts, strict=True):
        env[var] = value
    for var, value in zip(jaxpr.invars, args, strict=True):
        env[var] = value
    pattern: list[Array] = []
    needed = _differentiably_used(jaxpr)
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        sub = _sub_jaxpr(eqn.params) if name in _CALLS else None
        if sub is not None:
            n_in = len(sub[0].invars)
            outvals, inner = _eval(sub[0], sub[1], invals[len(invals) - n_in :])
            pattern += inner
        elif name == "scan":
            outvals, inner = _scan(eqn.params, invals)
            pattern += inner
        else:
            outvals = eqn.primitive.bind(*invals, **eqn.params)
            if not eqn.primitive.multiple_results:
                outvals = [outvals]
            if any(v in needed for v in eqn.outvars):
                pattern += _branch_pattern(eqn.primitive, eqn.params, invals, list(outvals))
        for var, value in zip(eqn.outvars, outvals, strict=True):
            env[var] = value
    return [read(v) for v in jaxpr.outvars], pattern


def _scan(params: dict, invals: list) -> tuple[list, list[Array]]:
    """``lax.scan`` again, its body evaluated by ``_eval``: the pattern stacked over steps."""
    n_consts, n_carry = params["num_consts"], params["num_carry"]
    body = params["jaxpr"]
    consts, init, xs = invals[:n_consts], invals[n_consts:n_consts + n_carry], \
        invals[n_consts + n_carry:]  # fmt: skip

    def step(carry, x):
        outs, inner = _eval(body.jaxpr, body.consts, [*consts, *carry, *x])
        return outs[:n_carry], (outs[n_carry:], inner)

    carry, (ys, inner) = lax.scan(step, list(init), list(xs), length=params["length"],
                                  reverse=params["reverse"])  # fmt: skip
    return [*carry, *ys], list(inner)


def with_pattern(fn: Callable, *example_args) -> Callable:
    """``fn'(*args) -> (fn(*args), pattern)``: ``fn`` (one array output, e.g. a cost) and the
    list of its branch outcomes at ``args`` (see the module docstring). ``example_args`` fix
    the structure, shapes and dtypes ``fn'`` is traced at."""
    run, consts = traced(fn, *example_args)
    return lambda *args: run(consts, *args)


def traced(fn: Callable, *example_args) -> tuple[Callable, list]:
    """``(run, consts)``: ``run(consts, *args)`` is ``with_pattern(fn)``, with the arrays
    ``fn`` closes over (its data) passed in as ``consts`` rather than baked in — so that a
    compiled ``run`` serves every point and every dataset of the same shapes."""
    closed = jax.make_jaxpr(fn)(*example_args)
    _, out_tree = jax.tree.flatten(jax.eval_shape(fn, *example_args))

    def run(consts, *args):
        outs, pattern = _eval(closed.jaxpr, consts, jax.tree.leaves(args))
        return jax.tree.unflatten(out_tree, outs), pattern

    return run, list(closed.consts)


def crossed(pattern: list[Array], reference: list[Array]) -> Array:
    """True when any branch outcome differs between two patterns (NaNs count as a change)."""
    changed = jnp.asarray(False)
    for a, b in zip(pattern, reference, strict=True):
        same = (a == b) | ((a != a) & (b != b)) if jnp.issubdtype(a.dtype, jnp.inexact) else a == b
        changed = changed | ~jnp.all(same)
    return changed


def pattern_size(pattern: list[Array]) -> int:
    """How many branch decisions the pattern holds (for reports)."""
    return int(sum(np.size(p) for p in pattern))
