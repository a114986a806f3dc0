"""Train N configurations of one model at once: ``vmap`` over seeds, learning rates and L2
strengths, all epochs in a single compiled program.

Any ``jaxnn.models.Model`` sweeps through the one interface the training loop uses
(``train.model_step``: a model's own step, e.g. a GAN's two players, or one optax step on its
cost; ``models.metrics`` for evaluation; noise keys for stochastic models). A configuration
is the run ``jaxnn train --seed S --lr LR --l2 L2`` (``jaxnn.run``) would make: its seed's
key is split into the initial weights' key and the data key, which draws each epoch's
minibatch order and the noise of its steps, and evaluation noise comes from the seed's key
as there; so each configuration's final metrics equal that run's, to float rounding
(tested for every sequence model). ``data_seed``: instead one minibatch order, from
``PRNGKey(data_seed)``, shared by every configuration (``train.fit``'s convention; its noise
keys still the seeds'). The learning rate differs per configuration inside
vmap: the optimizer is built for rate 1 and followed by ``optax.scale(lr)`` (every optimizer
here — SGD, momentum, Adam, after clipping — is linear in its rate, so this is the same
update).

**Memory.** The training set is held once, shared by every configuration (``in_axes=None``);
what grows with the number of configurations N is each one's parameters, optimizer state and
the activations of one minibatch. Evaluation runs over the splits in chunks of
``EVAL_CHUNK`` examples (``lax.map``), so no whole-split activation is ever materialised (a
LeNet-5 sweep that evaluated 60 000 MNIST images in one piece needed ~1.4 GiB per
configuration of temporaries; full-batch training, 12 GiB per configuration). Before running,
``run_sweep`` asks XLA's ``compiled.memory_analysis()`` what the program needs; when that
exceeds the memory available (``available_memory``), it runs the configurations in chunks
that fit (``plan_chunks``), or says in one line that not even one configuration fits.

``devices=N`` splits the configurations over N devices with ``jax.sharding`` (a 1-D mesh
"configs"; the data replicated); the configurations are independent, so XLA partitions the
program with no communication. On a 2-core CPU with 2 host devices this halves the time.
"""

from __future__ import annotations

import functools
import itertools
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import mlp, models, train
from jaxnn.errors import ConfigError

EVAL_CHUNK = 1000  # examples evaluated at once (the evaluation's activations scale with it)
MEMORY_FRACTION = 0.8  # of the available memory a sweep's program may take


class SweepResult(NamedTuple):
    configs: list[dict]  # seed, lr, l2 of each configuration
    costs: np.ndarray  # (N, epochs): mean minibatch cost per epoch
    train_metrics: dict  # name -> (N,): models.metrics on the whole training set
    test_metrics: dict  # name -> (N,): on the test set
    seconds: float  # train + evaluate, the compiled programs' runs
    compile_seconds: float
    params: dict  # leaves with a leading N axis
    devices: int = 1  # the devices the configurations were split over
    chunk: int = 0  # configurations per compiled run (all of them when they fit at once)
    peak_bytes: int = 0  # XLA's memory analysis of one run: arguments + outputs + temporaries

    @property
    def train_accuracy(self) -> np.ndarray:
        return self.train_metrics["accuracy"]

    @property
    def test_accuracy(self) -> np.ndarray:
        return self.test_metrics["accuracy"]


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


def evaluate_in_chunks(model, params, X_rows, Y_rows, l2, key, chunk: int = EVAL_CHUNK):
    """``models.metrics`` over a whole split held as rows, ``chunk`` examples at a time
    (``lax.map``, then the remainder), averaged weighted by the chunks' sizes: exact for
    metrics that are means over examples (cost, accuracy, bits per character, ELBO terms)."""
    m = X_rows.shape[0]
    chunk = min(chunk, m)
    full, remainder = divmod(m, chunk)

    def metrics(X, Y):
        X, Y = train.to_layout(X, model.example_axis), jnp.moveaxis(Y, 0, -1)
        return models.metrics(model, params, X, Y, l2, key)

    def split(A):
        return A[: full * chunk].reshape(full, chunk, *A.shape[1:])

    per_chunk = jax.lax.map(lambda xy: metrics(*xy), (split(X_rows), split(Y_rows)))
    sums = jax.tree.map(lambda v: v.sum() * chunk, per_chunk)
    if remainder:
        last = metrics(X_rows[full * chunk :], Y_rows[full * chunk :])
        sums = jax.tree.map(lambda s, v: s + v * remainder, sums, last)
    return jax.tree.map(lambda s: s / m, sums)


def primary_score(model) -> tuple[str, bool]:
    """``(metric, higher_is_better)`` by which a sweep ranks ``model``'s configurations: a
    classifier (targets from classes) by its accuracy; every other model — a language model
    (its accuracy is the next character's, a by-product), a regressor, an autoencoder, a VAE,
    a GAN — by the first metric its ``metrics`` reports, its cost (for a language model the
    cross-entropy in nats per token: perplexity = e^cost), lower first."""
    return ("accuracy", True) if model.targets == "labels" else ("cost", False)


def make_sweep(*args, **kwargs):
    """``_make_sweep`` (below), its programs cached when its arguments are hashable (a model
    whose ``options`` hold a dict is built afresh)."""
    try:
        hash((args, tuple(sorted(kwargs.items()))))
    except TypeError:
        return _make_sweep.__wrapped__(*args, **kwargs)
    return _make_sweep(*args, **kwargs)


@functools.lru_cache(maxsize=16)
def _make_sweep(layer_dims, hidden: str, output: str, m: int, batch_size: int, model=None,
                optimizer: str = "sgd", beta1: float | None = None,
                clip_norm: float | None = None, eval_chunk: int = EVAL_CHUNK,
                shared_order: bool = False):  # fmt: skip
    """A jitted ``run(keys, lrs, l2s, orders, X_rows, Y_rows, X_test, Y_test)`` training
    every configuration (leading axis of keys/lrs/l2s, and of ``orders`` (N, epochs, m)
    unless ``shared_order``: then one ``(epochs, m)`` for all) for all epochs in one
    program: of ``model`` (any ``jaxnn.models.Model``), or of the MLP ``layer_dims`` with
    ``hidden``/``output``. ``keys`` are the seeds' ``PRNGKey``s. The data is rows
    (``train.device_rows``), shared by every configuration. Returns ``(params, costs,
    train_metrics, test_metrics)``."""
    from jaxnn.run import EVAL_KEY_SALT

    if batch_size < 1 or batch_size > m:
        raise ConfigError(f"batch size must be in 1..{m}; got {batch_size}")
    if optimizer == "sdlm":  # its curvature is re-estimated between passes, outside a program
        raise ConfigError("jaxnn sweep does not re-estimate SDLM's curvature between passes: "
                          "train each setting with jaxnn train --optimizer sdlm")  # fmt: skip
    if model is None:
        model = mlp.model((layer_dims[0],), layer_dims[-1], layer_dims, hidden, output)
    unit_rate = train.make_optimizer(1.0, name=optimizer, clip_norm=clip_norm, beta1=beta1)

    def one(key, lr, l2, orders, X_rows, Y_rows, X_test, Y_test):
        key_init, key_data = jax.random.split(key)  # as jaxnn.run splits PRNGKey(seed)
        params = model.init(key_init)
        init_opt_state, step = train.model_step(
            model, "hand", optax.chain(unit_rate, optax.scale(lr)), l2
        )
        epoch_fn = train.make_epoch(step, m, batch_size, example_axis=model.example_axis)

        def epoch(carry, index_order):
            index, order = index_order
            step_key = train.epoch_key(key_data, index) if model.stochastic else None
            params, opt_state, costs = epoch_fn(*carry, order, X_rows, Y_rows, step_key)
            return (params, opt_state), costs.mean()

        (params, _), costs = jax.lax.scan(
            epoch, (params, init_opt_state(params)), (jnp.arange(len(orders)), orders)
        )
        key_eval = jax.random.fold_in(key, EVAL_KEY_SALT) if model.stochastic else None
        train_metrics, test_metrics = (
            evaluate_in_chunks(model, params, X, Y, l2, key_eval, eval_chunk)
            for X, Y in ((X_rows, Y_rows), (X_test, Y_test))
        )  # fmt: skip
        return params, costs, train_metrics, test_metrics

    in_axes = (0, 0, 0, None if shared_order else 0, None, None, None, None)
    return jax.jit(jax.vmap(one, in_axes=in_axes))


def available_memory(device=None) -> int | None:
    """Bytes the sweep may use on ``device``: an accelerator's limit (``memory_stats``),
    or for a CPU the host's available memory (``/proc/meminfo``); None when unknown."""
    device = device or jax.local_devices()[0]  # this process's (several hosts: its own)
    try:
        stats = device.memory_stats()
    except (AttributeError, jax.errors.JaxRuntimeError):
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def needed_bytes(compiled) -> int:
    """What XLA's memory analysis says a compiled program holds at its peak: arguments,
    outputs and temporaries (an upper bound: outputs may alias arguments)."""
    analysis = compiled.memory_analysis()
    return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes
               + analysis.temp_size_in_bytes)  # fmt: skip


def plan_chunks(n: int, bytes_n: int, bytes_1: int, limit: int, devices: int = 1) -> int:
    """Configurations per run so that a run fits in ``limit`` bytes, from the programs for n
    and for one configuration (memory is affine in the count: shared data + a per-
    configuration part). A multiple of ``devices``; 0 when not even one fits."""
    per = max((bytes_n - bytes_1) / max(n - 1, 1), 1.0)
    fits = int((limit - (bytes_1 - per)) // per)
    return max(fits // devices * devices, 0) if fits < n else n


def _gib(count: float) -> str:
    return f"{count / 2**30:.2f} GiB"


def run_sweep(configs, layer_dims, X, Y, X_test, Y_test, hidden="relu", output="softmax",
              epochs=10, batch_size=None, data_seed=None, devices=1, model=None,
              optimizer="sgd", beta1=None, clip_norm=None,
              memory_limit: int | None = None) -> SweepResult:  # fmt: skip
    """Train every configuration of ``configs`` (from ``grid``) at once: the MLP
    ``layer_dims`` (X, Y as columns), or ``model`` (X in its layout; ``layer_dims`` unused).
    ``data_seed``: None (default), each configuration's minibatch order drawn from its seed
    as ``jaxnn train --seed`` draws it; a number, one order from ``PRNGKey(data_seed)``
    shared by all (module docstring).
    ``devices > 1``: the configurations are split over that many devices (``data_mesh``).
    ``memory_limit`` (bytes; default ``MEMORY_FRACTION`` of ``available_memory``): when the
    program for all configurations needs more, they run in chunks that fit, one line on
    stderr saying so; when one configuration alone does not fit, a ``ConfigError``."""
    if devices < 1:
        raise ConfigError(f"--devices must be ≥ 1; got {devices}")
    example_axis = 1 if model is None else model.example_axis
    m = X.shape[example_axis]
    batch_size = batch_size or m
    dims = None if model is not None else tuple(layer_dims)
    shared = data_seed is not None
    program = make_sweep(dims, hidden, output, m, batch_size, model, optimizer, beta1, clip_norm,
                         shared_order=shared)  # fmt: skip

    def orders_of(key_data):  # every epoch's permutation, as jaxnn.run draws them
        return np.stack([train.epoch_order(key_data, e, m) for e in range(epochs)])

    shared_orders = orders_of(jax.random.PRNGKey(data_seed)) if shared else None

    def order_args(part):
        return shared_orders if shared else _orders(part, orders_of, devices)

    X_rows, Y_rows = train.device_rows(X, Y, example_axis)
    test_rows = train.device_rows(X_test, Y_test, example_axis)
    data_args = (X_rows, Y_rows, *test_rows)
    if memory_limit is None:
        available = available_memory()
        memory_limit = None if available is None else int(available * MEMORY_FRACTION)

    def compile_for(count):
        start = time.perf_counter()
        like = configs[:1] * count
        compiled = program.lower(*_config_args(like, devices), order_args(like),
                                 *data_args).compile()  # fmt: skip
        return compiled, time.perf_counter() - start

    chunk = -(-len(configs) // devices) * devices  # all at once, padded to the devices
    compiled, compile_seconds = compile_for(chunk)
    needed = needed_bytes(compiled)
    if memory_limit is not None and needed > memory_limit:
        one, seconds = compile_for(devices)
        compile_seconds += seconds
        chunk = plan_chunks(chunk, needed, needed_bytes(one), memory_limit, devices)
        if chunk < devices:
            raise ConfigError(
                f"this sweep needs {_gib(needed_bytes(one))} for one configuration "
                f"(XLA's memory analysis) and {_gib(memory_limit)} is available: use a "
                f"smaller --batch-size (now {batch_size}) or a smaller model"
            )
        print(f"jaxnn sweep: {len(configs)} configurations need {_gib(needed)} at once and "
              f"{_gib(memory_limit)} is available: running them {chunk} at a time",
              file=sys.stderr)  # fmt: skip
        compiled, seconds = compile_for(chunk) if chunk > devices else (one, 0.0)
        compile_seconds += seconds
        needed = needed_bytes(compiled)
    parts, seconds = [], 0.0
    for start in range(0, len(configs), chunk):
        part = list(configs[start : start + chunk])
        part += part[-1:] * (chunk - len(part))  # padded: the compiled count; dropped below
        begin = time.perf_counter()
        parts.append(jax.block_until_ready(compiled(*_config_args(part, devices),
                                                    order_args(part), *data_args)))  # fmt: skip
        seconds += time.perf_counter() - begin
    n = len(configs)
    params, costs, train_metrics, test_metrics = jax.tree.map(
        lambda *leaves: np.concatenate([np.asarray(leaf) for leaf in leaves])[:n], *parts
    )
    device_count = len(parts[0][1].sharding.device_set)
    return SweepResult(list(configs), costs, train_metrics, test_metrics, seconds,
                       compile_seconds, params, device_count, chunk, needed)  # fmt: skip


def _config_args(configs, devices: int):
    """``(keys, lrs, l2s)`` of ``configs``, padded to a multiple of ``devices`` (copies of
    the last) and split over them."""
    padded = list(configs) + [configs[-1]] * (-len(configs) % devices)
    keys = jnp.stack([jax.random.PRNGKey(c["seed"]) for c in padded])
    lrs = jnp.asarray([c["lr"] for c in padded], jnp.float32)
    l2s = jnp.asarray([c["l2"] for c in padded], jnp.float32)
    if devices > 1:
        from jax.sharding import NamedSharding, PartitionSpec

        split = NamedSharding(train.data_mesh(devices, "configs"), PartitionSpec("configs"))
        keys, lrs, l2s = jax.device_put((keys, lrs, l2s), split)
    return keys, lrs, l2s


def _orders(configs, orders_of, devices: int):
    """Each configuration's orders ``(N, epochs, m)``, from its seed's data key (the second
    half of ``split(PRNGKey(seed))``, as ``jaxnn.run``), padded and split as ``_config_args``."""
    padded = list(configs) + [configs[-1]] * (-len(configs) % devices)
    orders, drawn = [], {}
    for c in padded:
        if c["seed"] not in drawn:  # a seed's orders serve all of its lrs and l2s
            drawn[c["seed"]] = orders_of(jax.random.split(jax.random.PRNGKey(c["seed"]))[1])
        orders.append(drawn[c["seed"]])
    orders = np.stack(orders)
    if devices > 1:
        from jax.sharding import NamedSharding, PartitionSpec

        split = NamedSharding(train.data_mesh(devices, "configs"), PartitionSpec("configs"))
        return jax.device_put(orders, split)
    return orders


def dataset_arrays(dataset, model, output: str):
    """``(X, Y, X_test, Y_test)`` of a loaded dataset in ``model``'s layout, with the targets
    it learns (classes, the dataset's own, or none), as ``jaxnn.run`` trains it."""
    from jaxnn import data
    from jaxnn.run import _targets

    def split(X, labels, given):
        Y = _targets(labels, dataset.num_classes, output, model, given, X.shape[1])
        return data.in_layout(X, model.input_shape, model.example_axis), Y

    return (*split(dataset.X_train, dataset.labels_train, dataset.Y_train),
            *split(dataset.X_test, dataset.labels_test, dataset.Y_test))  # fmt: skip


__all__ = ["EVAL_CHUNK", "SweepResult", "available_memory", "dataset_arrays", "grid",
           "make_sweep", "needed_bytes", "plan_chunks", "primary_score", "run_sweep"]  # fmt: skip
