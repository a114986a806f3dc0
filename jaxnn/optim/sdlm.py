"""Stochastic diagonal Levenberg–Marquardt (SDLM): the optimizer LeNet-5 was trained with.

LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition"
(Proc. IEEE 1998), Appendix C; LeCun, Bottou, Orr & Müller, "Efficient BackProp" (1998), §9.1.
Each parameter ``w_k`` gets its own step size from the diagonal second derivative ``h_kk`` of
the cost:

    w_k ← w_k − ε_k ∂E/∂w_k,      ε_k = η / (μ + h_kk)                     (Appendix C)

a Newton step on the diagonal of the Hessian, damped by μ where the curvature is small (the
Levenberg–Marquardt part: ``μ`` keeps ε_k ≤ η/μ). ``h_kk`` is not the exact Hessian's
diagonal but its Gauss–Newton form, backpropagated by hand layer by layer
(``jaxnn.layers``' ``backward2``; ``Model.curvature``), and it is *re-estimated before each
pass* on a sample of training examples and held fixed during the pass. The paper's
settings (§III.C, "Results" of LeNet-5 on MNIST):

    μ = 0.02
    η = 0.0005 for passes 1–2, 0.0002 for 3–5, 0.0001 for 6–8, 0.00005 for 9–12,
        0.00001 after
    h_kk re-estimated on 500 examples before each pass

The paper updates after every example (batch 1). Here ``learning_rate`` is η of the first
two passes and the later ones keep the paper's ratios to it (0.4, 0.2, 0.1, 0.02), so
``learning_rate = 0.0005`` is the paper's schedule; jaxnn's cost is the mean over the
minibatch, so with batch B the step moves by the mean gradient — B single-example steps of a
small η move by about B times that, so ``learning_rate = B × η`` matches a per-example η only
while the steps are small (at LeNet-5's first pass they are not: ``docs/lenet1998_sdlm.md``).
``jaxnn sweep`` and ``train.fit`` refuse it: they do not re-estimate the curvature.

``h_kk`` is the mean over the sample's examples of each example's second derivative (the
paper's running average over the sample, taken in one batch), computed by

* the model's hand-derived ``curvature`` (layer-built models whose every layer has a
  ``backward2``: ``lenet5_1998``), for ``grads="hand"``; otherwise
* autodiff: Hutchinson's estimate of the Hessian's diagonal, ``E_v[v ⊙ H v]`` over Rademacher
  vectors v (``H v`` by forward-over-reverse differentiation of the model's cost), in
  absolute value — the exact Hessian's diagonal can be negative where the Gauss–Newton one
  cannot, and a negative ``μ + h`` would step uphill.

Every registered model takes it (``tests/test_sdlm.py`` checks the registry) except the GAN,
whose two players step on two costs with one optimizer (``check_model`` says so).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn.errors import ConfigError

Array = jax.Array

MU = 0.02  # §III.C: "The parameter μ was set to 0.02"
ETA = 0.0005  # §III.C: η of the first two passes
# §III.C: (passes, η / ETA): 0.0005 ×2, 0.0002 ×3, 0.0001 ×3, 0.00005 ×4, then 0.00001
SCHEDULE = ((2, 1.0), (3, 0.4), (3, 0.2), (4, 0.1), (None, 0.02))
SAMPLE = 500  # §III.C: h_kk re-estimated on 500 examples before each pass
PROBES = 8  # Hutchinson probes of the autodiff estimate
PROBE_SALT = 0x5D1A  # the probes: fold_in(the epoch's key, this), apart from its steps' keys


class SDLMState(NamedTuple):
    """``count``: steps taken (the pass is ``count // steps_per_epoch``); ``h``: the
    diagonal second derivatives, a pytree like the params (``refresh`` sets them)."""

    count: Array
    h: optax.Params


def eta(pass_index: Array, learning_rate: float) -> Array:
    """η of pass ``pass_index`` (0-based): ``learning_rate`` times the paper's ratio."""
    bounds = np.cumsum([n for n, _ in SCHEDULE[:-1]])  # 2, 5, 8, 12
    ratios = jnp.asarray([r for _, r in SCHEDULE])
    return learning_rate * ratios[jnp.searchsorted(jnp.asarray(bounds), pass_index, "right")]


def sdlm(learning_rate: float = ETA, steps_per_epoch: int = 1, mu: float = MU
         ) -> optax.GradientTransformation:  # fmt: skip
    """The update ``−η / (μ + h) ⊙ g`` with η on the paper's per-pass schedule (module
    docstring). ``h`` starts at 0; ``refresh`` re-estimates it before each pass."""
    if not mu > 0:
        raise ConfigError(f"SDLM's μ must be > 0; got {mu}")

    def init(params):
        return SDLMState(jnp.zeros((), jnp.int32), jax.tree.map(jnp.zeros_like, params))

    def update(grads, state, params=None):
        del params
        rate = eta(state.count // steps_per_epoch, learning_rate)
        updates = jax.tree.map(lambda g, h: (-rate / (mu + h)).astype(g.dtype) * g, grads,
                               state.h)  # fmt: skip
        return updates, SDLMState(state.count + 1, state.h)

    return optax.GradientTransformation(init, update)


def step_sizes(state: SDLMState, learning_rate: float, steps_per_epoch: int, mu: float = MU):
    """The ε_k of the current pass, a pytree like the params (for the docs' figures)."""
    rate = eta(state.count // steps_per_epoch, learning_rate)
    return jax.tree.map(lambda h: rate / (mu + h), state.h)


# ---- the curvature: by hand where derived, by autodiff otherwise --------------------------


def check_model(model) -> None:
    """A ConfigError for a model SDLM cannot train: one whose own step runs several costs
    (the GAN's two players)."""
    if model.make_step is not None and not _is_stateful(model):
        raise ConfigError(f"--optimizer sdlm estimates the curvature of one cost; {model.name} "
                          "steps on several (its players'): use adam")  # fmt: skip


def _is_stateful(model) -> bool:
    """Params ``{"params", "state"}`` (batch norm's running statistics): the optimizer sees
    ``params`` only (``jaxnn.models.stateful``)."""
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    return isinstance(shapes, dict) and set(shapes) == {"params", "state"}


def curvature_source(model, grads: str = "hand") -> str:
    """ "hand" (the model's ``curvature``) or "autodiff" (Hutchinson); a ConfigError where
    neither applies (``check_model``)."""
    check_model(model)
    return "hand" if grads == "hand" and model.curvature is not None else "autodiff"


def make_curvature(model, grads: str = "hand", l2: float = 0.0, probes: int = PROBES):
    """``curvature(params, X, Y, key) -> h``: the diagonal second derivatives of the cost at
    ``params`` on ``(X, Y)`` (the model's layout), a pytree like what the optimizer updates
    (a stateful model's ``params``). ``key``: the autodiff estimate's probes."""
    source = curvature_source(model, grads)
    stateful = _is_stateful(model)
    if source == "hand":
        return lambda params, X, Y, key: model.curvature(params, X, Y, l2)
    kw = {"key": jax.random.PRNGKey(0)} if model.stochastic else {}  # one fixed noise draw

    def hutchinson(params, X, Y, key):
        trained = params["params"] if stateful else params

        def cost(p):
            return model.cost({"params": p, "state": params["state"]} if stateful else p,
                              X, Y, l2, **kw)  # fmt: skip

        leaves, tree = jax.tree.flatten(trained)

        def probe(probe_key):
            keys = jax.random.split(probe_key, len(leaves))
            v = tree.unflatten([jax.random.rademacher(k, x.shape, x.dtype)
                                for k, x in zip(keys, leaves, strict=True)])  # fmt: skip
            Hv = jax.jvp(jax.grad(cost), (trained,), (v,))[1]
            return jax.tree.map(jnp.multiply, v, Hv)

        estimates = jax.lax.map(probe, jax.random.split(key, probes))
        return jax.tree.map(lambda e: jnp.abs(jnp.mean(e, axis=0)), estimates)

    return hutchinson


def _replace_h(opt_state, fn):
    """``opt_state`` with every ``SDLMState``'s h replaced by ``fn(state)`` (the state may
    sit inside a chain: gradient clipping first)."""
    if isinstance(opt_state, SDLMState):
        return opt_state._replace(h=fn(opt_state))
    if isinstance(opt_state, tuple) and not hasattr(opt_state, "_fields"):
        return tuple(_replace_h(s, fn) for s in opt_state)
    return opt_state


def holds_sdlm(opt_state) -> bool:
    """Whether ``opt_state`` is (or chains) SDLM's: ``refresh`` has work to do."""
    found = []
    _replace_h(opt_state, lambda s: found.append(s) or s.h)
    return bool(found)


def make_refresh(model, grads: str = "hand", l2: float = 0.0, size: int = SAMPLE):
    """The hook the training loop calls before each pass (``jaxnn.run``):
    ``refresh(opt_state, params, X_rows, Y_rows, order, key) -> opt_state`` with SDLM's
    ``h`` re-estimated on ``size`` training examples — the first ``size`` of the epoch's
    permutation ``order`` that lie among the rows given (the run's on-device evaluation
    subset, the first 10,000 training examples: the same code path for a streamed training
    set). Any other optimizer's state comes back unchanged. A pure function of its
    arguments: a resumed run re-estimates exactly what an uninterrupted one did."""
    curvature = None

    def take(order, X_rows, Y_rows):
        order = np.asarray(order)
        indices = order[order < X_rows.shape[0]][:size]
        X = jnp.take(X_rows, indices, axis=0)  # rows; the model's layout (train.to_layout):
        X = X if model.example_axis == 0 else jnp.moveaxis(X, 0, model.example_axis)
        return X, jnp.moveaxis(jnp.take(Y_rows, indices, axis=0), 0, -1)

    def refresh(opt_state, params, X_rows, Y_rows, order, key):
        nonlocal curvature
        if not holds_sdlm(opt_state):
            return opt_state
        if curvature is None:
            curvature = jax.jit(make_curvature(model, grads, l2))
        h = curvature(params, *take(order, X_rows, Y_rows), jax.random.fold_in(key, PROBE_SALT))
        return _replace_h(opt_state, lambda s: jax.tree.map(lambda a, b: b.astype(a.dtype),
                                                            s.h, h))  # fmt: skip

    return refresh


# ---- references by JAX: what the hand-derived approximation is compared with --------------


def exact_diagonals(model, params, X, Y, hessian: bool = True):
    """``(hessian_diag or None, gauss_newton_diag)`` of the cost of a layer-built model ending
    in LeNet-5's RBF output with Eq. 9, by JAX, as pytrees like params: the exact Hessian's
    diagonal (``jax.hessian`` of the flattened params: small nets only) and the exact
    Gauss–Newton diagonal ``Σ_e Jₑᵀ H_L Jₑ`` with the split at F6's output x, where Eq. 9
    is ``(1/m) Σ_e ‖x_e − w_{D_e}‖²`` and ``H_L = 2/m · I``: ``2/m Σ_{e,j} (∂x_ej/∂θ)²``. Both
    keep the cross terms the paper's approximation drops; the Hessian also keeps the
    ``f″ ∂E/∂a`` terms that the Gauss–Newton form drops."""
    import jax.flatten_util

    from jaxnn.layers import sequential

    if model.output != "rbf" or (model.options or {}).get("loss", "eq9") != "eq9":
        raise ConfigError("exact_diagonals splits at the RBF output with Eq. 9's cost")
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    net = model.net[:-1]  # up to F6's squash: the RBF layer and Eq. 9 are the loss

    def features(v):
        return sequential.forward(net, unravel(v), X)[0]

    J = jax.jacrev(features)(flat)  # (84, m, n)
    gauss_newton = unravel(2 / X.shape[0] * jnp.sum(J * J, axis=(0, 1)))
    if not hessian:
        return None, gauss_newton
    H = jax.hessian(lambda v: model.cost(unravel(v), X, Y))(flat)
    return unravel(jnp.diag(H)), gauss_newton
