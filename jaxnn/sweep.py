"""Train N configurations of one architecture at once: ``vmap`` over seeds, learning rates
and L2 strengths, all epochs in a single compiled program.

Every configuration sees the same minibatch order (drawn from the sweep's own key); the seed
sets its initial weights. The learning rate is an optax hyperparameter
(``optax.inject_hyperparams(optax.sgd)``), so it can differ per configuration inside vmap.

``devices=N`` splits the configurations over N devices with ``jax.sharding`` (a 1-D mesh
"configs"; the data replicated); the configurations are independent, so XLA partitions the
program with no communication. On a 2-core CPU with 2 host devices this halves the time.
"""

from __future__ import annotations

import functools
import itertools
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import mlp, train
from jaxnn.errors import ConfigError


class SweepResult(NamedTuple):
    configs: list[dict]  # seed, lr, l2 of each configuration
    costs: np.ndarray  # (N, epochs): mean minibatch cost per epoch
    train_accuracy: np.ndarray  # (N,)
    test_accuracy: np.ndarray  # (N,)
    seconds: float  # train + evaluate, the compiled program's run
    compile_seconds: float
    params: dict  # leaves with a leading N axis
    devices: int = 1  # the devices the configurations were split over


def grid(seeds, lrs, l2s) -> list[dict]:
    """Every combination of the given seeds, learning rates and L2 strengths."""
    configs = [{"seed": int(s), "lr": float(lr), "l2": float(l2)}
               for s, lr, l2 in itertools.product(seeds, lrs, l2s)]  # fmt: skip
    for c in configs:
        if not c["lr"] > 0:
            raise ConfigError(f"learning rates must be > 0; got {c['lr']}")
        if c["l2"] < 0:
            raise ConfigError(f"L2 strengths must be ≥ 0; got {c['l2']}")
    if not configs:
        raise ConfigError("the sweep is empty: give at least one seed, lr and l2")
    return configs


@functools.lru_cache(maxsize=16)
def make_sweep(layer_dims, hidden: str, output: str, m: int, batch_size: int, model=None):
    """A jitted ``run(keys, lrs, l2s, orders, X_rows, Y_rows, X_test, Y_test)`` training
    every configuration (leading axis of keys/lrs/l2s) for all epochs (the rows of
    ``orders``) in one program: of ``model`` (any ``jaxnn.models.Model``), or of the MLP
    ``layer_dims`` with ``hidden``/``output``."""
    if batch_size < 1 or batch_size > m:
        raise ConfigError(f"batch size must be in 1..{m}; got {batch_size}")
    if model is None:
        model = mlp.model((layer_dims[0],), layer_dims[-1], layer_dims, hidden, output)
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    evaluate = train.make_evaluate(model=model)
    evaluate_rows = train.make_evaluate(rows=True, model=model)

    def one(key, lr, l2, orders, X_rows, Y_rows, X_test, Y_test):
        params = model.init(key)
        opt_state = optimizer.init(params)
        opt_state.hyperparams["learning_rate"] = lr

        def cost_and_grads(p, X, Y, key=None):
            return model.cost_and_grads(p, X, Y, l2, **({"key": key} if model.stochastic else {}))

        step = train.make_step(cost_and_grads, optimizer, model.stochastic)
        epoch_fn = train.make_epoch(step, m, batch_size, example_axis=model.example_axis)
        noise_key = jax.random.fold_in(key, 1)  # dropout's masks: one key per configuration

        def epoch(carry, xs):
            order, index = xs
            epoch_key = train.epoch_key(noise_key, index) if model.stochastic else None
            params, opt_state, costs = epoch_fn(*carry, order, X_rows, Y_rows, epoch_key)
            return (params, opt_state), costs.mean()

        (params, _), costs = jax.lax.scan(epoch, (params, opt_state),
                                          (orders, jnp.arange(orders.shape[0])))  # fmt: skip
        train_acc = evaluate_rows(params, X_rows, Y_rows)[1]
        test_acc = evaluate(params, X_test, Y_test)[1]
        return params, costs, train_acc, test_acc

    in_axes = (0, 0, 0, None, None, None, None, None)
    return jax.jit(jax.vmap(one, in_axes=in_axes))


def run_sweep(configs, layer_dims, X, Y, X_test, Y_test, hidden="relu", output="softmax",
              epochs=10, batch_size=None, data_seed=0, devices=1,
              model=None) -> SweepResult:  # fmt: skip
    """Train every configuration of ``configs`` (from ``grid``) at once: the MLP
    ``layer_dims`` (X, Y as columns), or ``model`` (X in its layout; ``layer_dims`` unused).
    ``devices > 1``: the configurations are split over that many devices (``data_mesh``)."""
    if devices < 1:
        raise ConfigError(f"--devices must be ≥ 1; got {devices}")
    example_axis = 1 if model is None else model.example_axis
    m = X.shape[example_axis]
    batch_size = batch_size or m
    dims = None if model is not None else tuple(layer_dims)
    program = make_sweep(dims, hidden, output, m, batch_size, model)
    data_key = jax.random.PRNGKey(data_seed)
    orders = np.stack([train.epoch_order(data_key, e, m) for e in range(epochs)])
    # pad to a multiple of the devices with copies of the last configuration; dropped below
    padded = list(configs) + [configs[-1]] * (-len(configs) % devices)
    keys = jnp.stack([jax.random.PRNGKey(c["seed"]) for c in padded])
    lrs = jnp.asarray([c["lr"] for c in padded], jnp.float32)
    l2s = jnp.asarray([c["l2"] for c in padded], jnp.float32)
    if devices > 1:
        from jax.sharding import NamedSharding, PartitionSpec

        split = NamedSharding(train.data_mesh(devices, "configs"), PartitionSpec("configs"))
        keys, lrs, l2s = jax.device_put((keys, lrs, l2s), split)
    X_rows, Y_rows = train.device_rows(X, Y, example_axis)
    args = (keys, lrs, l2s, orders, X_rows, Y_rows, jnp.asarray(X_test), jnp.asarray(Y_test))
    start = time.perf_counter()
    compiled = program.lower(*args).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    params, costs, train_acc, test_acc = jax.block_until_ready(compiled(*args))
    seconds = time.perf_counter() - start
    n = len(configs)
    return SweepResult(list(configs), np.asarray(costs)[:n], np.asarray(train_acc)[:n],
                       np.asarray(test_acc)[:n], seconds, compile_seconds,
                       jax.tree.map(lambda leaf: leaf[:n], params),
                       len(costs.sharding.device_set))  # fmt: skip
