"""Training: optax steps over a ``cost_and_grads`` function, whole epochs compiled by XLA.

The gradient function is an argument, so the hand-derived backprop (``mlp.cost_and_grads``)
and ``jax.grad`` (``mlp.autodiff_cost_and_grads``) are interchangeable. optax does the update;
``optax.sgd(α)`` is exactly the notes' ``θ := θ − α dθ``.

Gradient descent in all the notes' forms: full batch (``batch_size = m``), minibatch, and
per-example SGD (``batch_size = 1``). Each epoch draws a permutation from an explicit key,
runs the full batches in one ``lax.scan`` and then one step on the last partial batch (the
``m mod batch_size`` remaining examples), so every example is used once per epoch and no
example is dropped or repeated.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxnn import mlp
from jaxnn.errors import ConfigError

Array = jax.Array
CostAndGrads = Callable[[dict, Array, Array], tuple[Array, dict]]

GRADIENTS = ("hand", "autodiff")


def make_cost_and_grads(
    grads: str = "hand", hidden: str = "relu", output: str = "softmax", l2: float = 0.0
) -> CostAndGrads:
    """``(params, X, Y) -> (J, grads)`` with the hand-derived backward or ``jax.grad``."""
    if grads not in GRADIENTS:
        raise ConfigError(f"unknown gradient method {grads!r}; choose one of: hand, autodiff")
    fn = mlp.cost_and_grads if grads == "hand" else mlp.autodiff_cost_and_grads
    return functools.partial(fn, hidden=hidden, output=output, l2=l2)


def make_optimizer(
    learning_rate: float, decay_rate: float = 1.0, steps_per_epoch: int = 1
) -> optax.GradientTransformation:
    """Plain SGD. ``decay_rate < 1`` multiplies the rate by it after each epoch
    (``optax.exponential_decay`` with a staircase): start large and decay (notes §5)."""
    if not (learning_rate > 0) or math.isinf(learning_rate):
        raise ConfigError(f"learning rate must be a finite number > 0; got {learning_rate}")
    if not 0 < decay_rate <= 1:
        raise ConfigError(f"decay rate must be in (0, 1]; got {decay_rate}")
    if decay_rate == 1.0:
        return optax.sgd(learning_rate)
    schedule = optax.exponential_decay(
        learning_rate, transition_steps=steps_per_epoch, decay_rate=decay_rate, staircase=True
    )
    return optax.sgd(schedule)


def make_step(cost_and_grads: CostAndGrads, optimizer: optax.GradientTransformation):
    """One gradient-descent step: ``θ ← θ − α ∇J(θ)`` via optax. Returns ``step(params,
    opt_state, X, Y) -> (params, opt_state, J)`` (not jitted: it is traced into epochs).

    A step whose gradient holds NaN/Inf reports ``J = NaN`` even if the cost itself was
    finite, so the divergence check sees the first bad step."""

    def step(params, opt_state, X, Y):
        J, grads = cost_and_grads(params, X, Y)
        grads_finite = jnp.all(jnp.stack([jnp.isfinite(g).all() for g in jax.tree.leaves(grads)]))
        J = jnp.where(grads_finite, J, jnp.nan)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, J

    return step


def steps_per_epoch(m: int, batch_size: int) -> int:
    return math.ceil(m / batch_size)


def make_epoch(step, m: int, batch_size: int):
    """A jitted ``epoch(params, opt_state, key, X, Y) -> (params, opt_state, costs)``.

    X (n_x, m) and Y (n_y, m) stay on the device. ``costs`` (steps_per_epoch,) holds the
    minibatch cost J before each step.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be ≥ 1; got {batch_size}")
    if batch_size > m:
        raise ConfigError(
            f"batch size {batch_size} is larger than the {m} training examples; "
            f"use at most {m} (full-batch gradient descent)"
        )
    num_full, remainder = divmod(m, batch_size)

    @jax.jit
    def epoch(params, opt_state, key, X, Y):
        order = jax.random.permutation(key, m)
        X_shuffled = jnp.take(X, order, axis=1)
        Y_shuffled = jnp.take(Y, order, axis=1)
        full = num_full * batch_size

        def batches(A):  # (n, full) -> (num_full, n, batch_size), one minibatch per slice
            return A[:, :full].reshape(A.shape[0], num_full, batch_size).transpose(1, 0, 2)

        def body(carry, batch):
            params, opt_state = carry
            params, opt_state, J = step(params, opt_state, *batch)
            return (params, opt_state), J

        (params, opt_state), costs = jax.lax.scan(
            body, (params, opt_state), (batches(X_shuffled), batches(Y_shuffled))
        )
        if remainder:
            params, opt_state, J = step(
                params, opt_state, X_shuffled[:, full:], Y_shuffled[:, full:]
            )
            costs = jnp.concatenate([costs, J[None]])
        return params, opt_state, costs

    return epoch


def epoch_key(key: Array, epoch: int) -> Array:
    """The key of epoch ``epoch`` (0-based): a pure function of the run's key and the
    epoch, so a resumed run draws the same data order as an uninterrupted one."""
    return jax.random.fold_in(key, epoch)


def make_evaluate(hidden: str, output: str, l2: float = 0.0):
    """A jitted ``evaluate(params, X, Y) -> (cost, accuracy)`` on a whole split."""

    @jax.jit
    def evaluate(params, X, Y):
        J = mlp.cost(params, X, Y, hidden, output, l2)
        return J, mlp.accuracy(params, X, Y, hidden, output)

    return evaluate


def fit(
    params: dict,
    X: Array,
    Y: Array,
    cost_and_grads: CostAndGrads,
    optimizer: optax.GradientTransformation,
    epochs: int,
    batch_size: int | None = None,
    key: Array | None = None,
) -> tuple[dict, list[float]]:
    """Train in memory for ``epochs`` epochs (``batch_size=None``: full batch); returns the
    params and the mean minibatch cost of each epoch. For experiments and notebooks;
    ``jaxnn.run.train_and_evaluate`` adds evaluation, files and checkpoints."""
    m = X.shape[1]
    key = jax.random.PRNGKey(0) if key is None else key
    epoch = make_epoch(make_step(cost_and_grads, optimizer), m, batch_size or m)
    opt_state = optimizer.init(params)
    history = []
    for index in range(epochs):
        params, opt_state, costs = epoch(params, opt_state, epoch_key(key, index), X, Y)
        history.append(float(jnp.mean(costs)))
    return params, history
