"""Training: optax steps over a ``cost_and_grads`` function, whole epochs compiled by XLA.

The gradient function is an argument, so the hand-derived backprop (``model.cost_and_grads``)
and ``jax.grad`` (``model.autodiff_cost_and_grads``) are interchangeable, for every model
family (``jaxnn.models``). optax does the update; ``optax.sgd(α)`` is exactly the notes'
``θ := θ − α dθ`` (``momentum`` and ``adam`` are optax's own).

Examples sit on the model's ``example_axis``: columns ``X (n_x, m)`` for the MLP, images
``X (m, n_H, n_W, n_C)`` for convolutional networks; ``Y`` is always ``(n_y, m)``.

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
import numpy as np
import optax

from jaxnn.errors import ConfigError
from jaxnn.optim import sdlm

Array = jax.Array
CostAndGrads = Callable[[dict, Array, Array], tuple[Array, dict]]

GRADIENTS = ("hand", "autodiff")
OPTIMIZERS = ("sgd", "momentum", "adam", "sdlm")


def make_cost_and_grads(
    grads: str = "hand", hidden: str = "relu", output: str = "softmax", l2: float = 0.0,
    model=None,
) -> CostAndGrads:  # fmt: skip
    """``(params, X, Y) -> (J, grads)`` with the hand-derived backward or ``jax.grad``: of
    ``model`` (a ``jaxnn.models.Model``; by default the MLP with ``hidden``/``output``)."""
    if grads not in GRADIENTS:
        raise ConfigError(f"unknown gradient method {grads!r}; choose one of: hand, autodiff")
    model = _model_or_mlp(model, hidden, output)
    fn = model.cost_and_grads if grads == "hand" else model.autodiff_cost_and_grads
    return functools.partial(fn, l2=l2)


def _model_or_mlp(model, hidden: str, output: str):
    """``model``, or the MLP with ``hidden``/``output`` as a Model: one model among the others
    (its functions take params of any layer sizes; the sizes here only shape its ``init``)."""
    if model is not None:
        return model
    from jaxnn.models import mlp as mlp_module

    return mlp_module.model((1,), 1, hidden=hidden, output=output)


def make_optimizer(
    learning_rate: float, decay_rate: float = 1.0, steps_per_epoch: int = 1,
    name: str = "sgd", clip_norm: float | None = None, beta1: float | None = None,
) -> optax.GradientTransformation:  # fmt: skip
    """optax's ``sgd`` (the notes' update; default), ``sgd`` with momentum 0.9, or ``adam``.
    ``decay_rate < 1`` multiplies the rate by it after each epoch (``optax.exponential_decay``
    with a staircase): start large and decay (notes §5). ``clip_norm``: gradients are first
    scaled to a global norm of at most this (``optax.clip_by_global_norm``). ``beta1``: the
    first-moment coefficient, momentum's μ or Adam's β₁ (default 0.9; GANs use β₁ = 0.5).
    ``sdlm``: LeNet-5's stochastic diagonal Levenberg–Marquardt (``jaxnn.optim.sdlm``), its
    own per-pass schedule with η = ``learning_rate`` for the first two passes; its curvature
    is re-estimated before each pass by ``jaxnn.optim.sdlm.make_refresh``."""
    if not (learning_rate > 0) or math.isinf(learning_rate):
        raise ConfigError(f"learning rate must be a finite number > 0; got {learning_rate}")
    if not 0 < decay_rate <= 1:
        raise ConfigError(f"decay rate must be in (0, 1]; got {decay_rate}")
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    if clip_norm is not None and not (0 < clip_norm < math.inf):
        raise ConfigError(f"gradient clipping norm must be a finite number > 0; got {clip_norm}")
    if name == "sdlm" and decay_rate != 1.0:
        raise ConfigError("--optimizer sdlm follows the paper's per-pass schedule of η: "
                          "--decay does not apply")  # fmt: skip
    if beta1 is not None and (name in ("sgd", "sdlm") or not 0 <= beta1 < 1):
        raise ConfigError(f"beta1 {beta1}: the momentum / Adam β₁ coefficient must be in "
                          "[0, 1), with --optimizer momentum or adam")  # fmt: skip
    b1 = 0.9 if beta1 is None else beta1
    rate = learning_rate
    if decay_rate != 1.0:
        rate = optax.exponential_decay(
            learning_rate, transition_steps=steps_per_epoch, decay_rate=decay_rate, staircase=True
        )
    optimizer = {"sgd": lambda: optax.sgd(rate), "momentum": lambda: optax.sgd(rate, b1),
                 "adam": lambda: optax.adam(rate, b1=b1),
                 "sdlm": lambda: sdlm.sdlm(learning_rate, steps_per_epoch)}[name]()  # fmt: skip
    if clip_norm is not None:
        return optax.chain(optax.clip_by_global_norm(clip_norm), optimizer)
    return optimizer


def make_step(
    cost_and_grads: CostAndGrads, optimizer: optax.GradientTransformation,
    stochastic: bool = False,
):  # fmt: skip
    """One gradient-descent step: ``θ ← θ − α ∇J(θ)`` via optax. Returns ``step(params,
    opt_state, X, Y, key=None) -> (params, opt_state, J)`` (not jitted: it is traced into
    epochs). ``stochastic``: the cost draws noise, and gets the step's ``key``.

    A non-finite gradient at step k makes the params, and so the cost of step k + 1,
    non-finite; ``params_finite`` checks the params after an epoch for the last step."""

    def step(params, opt_state, X, Y, key=None):
        if stochastic:
            J, grads = cost_and_grads(params, X, Y, key=key)
        else:
            J, grads = cost_and_grads(params, X, Y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, J

    return step


def model_step(model, grads: str, optimizer: optax.GradientTransformation, l2: float = 0.0):
    """``(init_opt_state, step)`` for ``model``: its own (``Model.make_step``: a GAN's two
    players) or one optax step on its cost with the ``grads`` gradients."""
    if model.make_step is not None:
        return model.make_step(grads, optimizer, l2)
    cost_and_grads = make_cost_and_grads(grads, l2=l2, model=model)
    return optimizer.init, make_step(cost_and_grads, optimizer, model.stochastic)


@jax.jit
def params_finite(params) -> Array:
    """True when every parameter is finite (one reduction per epoch, not per step)."""
    return jnp.all(jnp.stack([jnp.isfinite(leaf).all() for leaf in jax.tree.leaves(params)]))


def steps_per_epoch(m: int, batch_size: int) -> int:
    return math.ceil(m / batch_size)


def device_rows(X: Array, Y: Array, example_axis: int = 1) -> tuple[Array, Array]:
    """The training set as the epoch function holds it on the device: one example per *row*,
    ``X_rows (m, n_x)`` (or ``(m, n_H, n_W, n_C)``, already rows), ``Y_rows (m, n_y)``.
    Drawing a minibatch then copies contiguous rows (a column gather from ``X (n_x, m)``
    touches a cache line per number and cost as much as the matmuls on Fashion-MNIST); each
    minibatch is handed to ``step`` in the model's layout (``to_layout``), a transpose XLA
    folds into the matmul."""

    def rows(A, axis):  # numpy column views of row-major data transpose back for free
        if axis == 0:
            return jnp.asarray(A)
        xp = np if isinstance(A, np.ndarray) else jnp
        return jnp.asarray(xp.moveaxis(A, axis, 0))

    return rows(X, example_axis), rows(Y, np.ndim(Y) - 1)


def to_layout(A_rows: Array, example_axis: int) -> Array:
    """A minibatch of rows ``(m, …)`` with its examples moved to ``example_axis``."""
    return A_rows if example_axis == 0 else jnp.moveaxis(A_rows, 0, example_axis)


def data_mesh(num_devices: int | None = None, axis: str = "data"):
    """A 1-D ``Mesh`` named ``axis`` over the first ``num_devices`` devices (all by default).

    Data parallelism the JAX way: ``make_epoch(..., mesh=mesh)`` shards each minibatch's
    examples (columns) over the mesh and replicates the params; XLA inserts the all-reduce
    of the gradient sums. With ``jax.distributed.initialize()`` the devices of every host
    take part."""
    from jax.sharding import Mesh

    devices = jax.devices()
    num_devices = num_devices or len(devices)
    if not 1 <= num_devices <= len(devices):
        raise ConfigError(
            f"--devices {num_devices}: this machine has {len(devices)} "
            f"{devices[0].platform} device(s). On a CPU, the jaxnn command creates N host "
            f"devices itself unless XLA_FLAGS fixes their number; in Python, call "
            f"jax.config.update('jax_num_cpu_devices', {num_devices}) before any JAX operation"
        )
    return Mesh(np.array(devices[:num_devices]), (axis,))


def replicate(tree, mesh):
    """Put every leaf of ``tree`` on every device of ``mesh`` (params, the dataset)."""
    if mesh is None:
        return tree
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = NamedSharding(mesh, PartitionSpec())
    if jax.process_count() > 1:  # several hosts: each gives its (identical) full copy
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree
        )
    return jax.device_put(tree, sharding)


def minibatch_taker(mesh=None, example_axis: int = 1):
    """``take(indices, X_rows, Y_rows) -> (X, Y)``: the minibatch of those rows in the model's
    layout (X's examples on ``example_axis``, Y's on its last axis), split over the mesh's
    "data" axis when there is one and the batch divides (``make_epoch``, ``ChunkedEpoch``)."""
    shards = 1 if mesh is None else mesh.devices.size

    def shard(A, axis):
        if mesh is None or A.shape[axis] % shards:
            return A
        from jax.sharding import NamedSharding, PartitionSpec

        spec = PartitionSpec(*(("data" if a == axis else None) for a in range(A.ndim)))
        return jax.lax.with_sharding_constraint(A, NamedSharding(mesh, spec))

    def take(indices, X_rows, Y_rows):
        # a plain gather (the indices are a permutation's): jnp.take's default fills rows of
        # out-of-range indices with NaN, a select that XLA fused into the step's first and
        # last layers, or not, by the rows' count, and rounded otherwise (jaxnn.stream)
        X = to_layout(jnp.take(X_rows, indices, axis=0, mode="clip"), example_axis)
        Y = jnp.moveaxis(jnp.take(Y_rows, indices, axis=0, mode="clip"), 0, -1)
        return shard(X, example_axis), shard(Y, Y.ndim - 1)

    return take


def check_epoch(m: int, batch_size: int, mesh=None) -> None:
    """A ConfigError unless ``batch_size`` minibatches can cut ``m`` examples (split over the
    ``mesh``'s devices): ``make_epoch``'s and ``ChunkedEpoch``'s checks."""
    if batch_size < 1:
        raise ConfigError(f"batch size must be ≥ 1; got {batch_size}")
    if batch_size > m:
        raise ConfigError(
            f"batch size {batch_size} is larger than the {m} training examples; "
            f"use at most {m} (full-batch gradient descent)"
        )
    shards = 1 if mesh is None else mesh.devices.size
    if batch_size % shards:
        raise ConfigError(
            f"batch size {batch_size} must be a multiple of the {shards} devices it is split "
            f"over; use e.g. {batch_size - batch_size % shards or shards}"
        )


def make_epoch(step, m: int, batch_size: int, mesh=None, example_axis: int = 1):
    """A jitted ``epoch(params, opt_state, order, X_rows, Y_rows, key=None) -> (params,
    opt_state, costs)``.

    The data (from ``device_rows``) stays on the device; ``order`` is the epoch's permutation
    of the m examples (``epoch_order``). The full minibatches run in one ``lax.scan``, then one
    step on the last partial batch. ``costs`` (steps_per_epoch,) holds the minibatch cost J
    before each step. ``key`` (the epoch's, ``epoch_key``): step i gets ``fold_in(key, i)``
    (for models whose cost draws noise; others ignore it). With a ``mesh`` (``data_mesh``),
    each minibatch's examples are split over its devices (the batch size must be a multiple
    of the device count). X's minibatches reach ``step`` with their examples on
    ``example_axis`` (1: columns or token ids, 0: images, 2: sequences of vectors).
    """
    check_epoch(m, batch_size, mesh)
    num_full, remainder = divmod(m, batch_size)
    take = minibatch_taker(mesh, example_axis)

    @jax.jit
    def epoch(params, opt_state, order, X_rows, Y_rows, key=None):
        full = num_full * batch_size

        def minibatch(indices):
            return take(indices, X_rows, Y_rows)

        def step_key(i):
            return None if key is None else jax.random.fold_in(key, i)

        def body(carry, xs):
            (params, opt_state), (i, indices) = carry, xs
            params, opt_state, J = step(params, opt_state, *minibatch(indices), step_key(i))
            return (params, opt_state), J

        (params, opt_state), costs = jax.lax.scan(
            body, (params, opt_state),
            (jnp.arange(num_full), order[:full].reshape(num_full, batch_size)),
        )  # fmt: skip
        if remainder:
            params, opt_state, J = step(params, opt_state, *minibatch(order[full:]),
                                        step_key(num_full))  # fmt: skip
            costs = jnp.concatenate([costs, J[None]])
        return params, opt_state, costs

    return epoch


def epoch_key(key: Array, epoch: int) -> Array:
    """The key of epoch ``epoch`` (0-based): a pure function of the run's key and the
    epoch, so a resumed run draws the same data order as an uninterrupted one."""
    return jax.random.fold_in(key, epoch)


def epoch_order(key: Array, epoch: int, m: int) -> np.ndarray:
    """The permutation of the m examples for epoch ``epoch``, drawn from ``epoch_key(key,
    epoch)``. Drawn on the host (numpy's generator seeded with the key's bits): a sort-based
    permutation on the device would cost ~6% of a Fashion-MNIST epoch."""
    seed = np.asarray(jax.random.key_data(epoch_key(key, epoch))
                      if jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                      else epoch_key(key, epoch), dtype=np.uint32)  # fmt: skip
    return np.random.default_rng(seed.tolist()).permutation(m).astype(np.int32)


def make_evaluate(
    hidden: str = "relu", output: str = "softmax", l2: float = 0.0, rows: bool = False,
    model=None,
):  # fmt: skip
    """A jitted ``evaluate(params, X, Y) -> (cost, accuracy)`` on a whole split
    (``rows=True``: X and Y as from ``device_rows``) for ``model`` (by default the MLP with
    ``hidden``/``output``), from its metrics (a model with state: the running statistics)."""
    from jaxnn import models

    model = _model_or_mlp(model, hidden, output)

    @jax.jit
    def evaluate(params, X, Y):
        if rows:  # the transposes are folded into the first matmul by XLA
            X, Y = to_layout(X, model.example_axis), Y.T
        metrics = models.metrics(model, params, X, Y, l2)
        return metrics["cost"], metrics["accuracy"]

    return evaluate


def make_metrics(model, l2: float = 0.0, rows: bool = False):
    """A jitted ``metrics(params, X, Y, key=None) -> {name: value}`` on a whole split for
    any ``model`` (``jaxnn.models.metrics``: cost and accuracy for classifiers; a model's
    own, e.g. bits per character, negative ELBO). ``rows=True``: X and Y as from
    ``device_rows``. ``key``: the noise of stochastic models (fixed, so that evaluations are
    comparable across epochs)."""
    from jaxnn import models

    @jax.jit
    def metrics(params, X, Y, key=None):
        if rows:
            X, Y = to_layout(X, model.example_axis), jnp.moveaxis(Y, 0, -1)
        return models.metrics(model, params, X, Y, l2, key)

    return metrics


def fit(
    params: dict,
    X: Array,
    Y: Array,
    cost_and_grads: CostAndGrads,
    optimizer: optax.GradientTransformation,
    epochs: int,
    batch_size: int | None = None,
    key: Array | None = None,
    example_axis: int = 1,
    stochastic: bool = False,
) -> tuple[dict, list[float]]:
    """Train in memory for ``epochs`` epochs (``batch_size=None``: full batch); returns the
    params and the mean minibatch cost of each epoch. For experiments and notebooks;
    ``jaxnn.run.train_and_evaluate`` adds evaluation, files and checkpoints. Image models:
    ``X (m, n_H, n_W, n_C)`` and ``example_axis=0``. ``stochastic``: ``cost_and_grads``
    takes ``key=`` (step i of epoch e gets ``fold_in(epoch_key(key, e), i)``)."""
    m = X.shape[example_axis]
    key = jax.random.PRNGKey(0) if key is None else key
    epoch = make_epoch(make_step(cost_and_grads, optimizer, stochastic), m, batch_size or m,
                       example_axis=example_axis)  # fmt: skip
    opt_state = optimizer.init(params)
    if sdlm.holds_sdlm(opt_state):  # fit knows no model to take the curvature of
        raise ConfigError(
            "train.fit does not re-estimate SDLM's curvature between passes: use "
            "jaxnn.run.train_and_evaluate (or sdlm.make_refresh yourself)"
        )
    X_rows, Y_rows = device_rows(X, Y, example_axis)
    history = []
    for index in range(epochs):
        order = epoch_order(key, index, m)
        step_keys = epoch_key(key, index) if stochastic else None
        params, opt_state, costs = epoch(params, opt_state, order, X_rows, Y_rows, step_keys)
        history.append(float(jnp.mean(costs)))
    return params, history
