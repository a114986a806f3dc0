"""A model of the registry (or the notes' logistic regression and MLP) checked at a small
random point: ``check_model``, ``check_any`` and the sizes they use (``GRADCHECK_SIZES``,
``GRADCHECK_DEFAULTS``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import compat, compilation_cache
from jaxnn.gradcheck.compare import Report, check

Array = jax.Array


def random_problem(key: Array, layer_dims, output: str, m: int, dtype=jnp.float32):
    """A random ``(X, Y)`` for gradient checks: X ~ N(0, 1) (n_x, m) and targets that fit
    ``output`` (softmax: one-hot, sigmoid: 0/1, linear: N(0, 1))."""
    key_x, key_y = jax.random.split(key)
    n_x, n_y = layer_dims[0], layer_dims[-1]
    X = jax.random.normal(key_x, (n_x, m), dtype)
    if output == "softmax":
        labels = jax.random.randint(key_y, (m,), 0, n_y)
        Y = jax.nn.one_hot(labels, n_y, dtype=dtype).T
    elif output == "sigmoid":
        Y = jax.random.bernoulli(key_y, 0.5, (n_y, m)).astype(dtype)
    else:
        Y = jax.random.normal(key_y, (n_y, m), dtype)
    return X, Y


# the sizes ``jaxnn gradcheck --model NAME`` checks at by default: (input_shape, width)
GRADCHECK_SIZES = {"lenet5": ((28, 28, 1), 1.0), "alexnet": ((67, 67, 3), 1 / 16),
                   "vgg16": ((32, 32, 3), 1 / 16), "lenet5_1998": ((32, 32, 1), 1.0),
                   "alexnet_2012": ((67, 67, 3), 1 / 16), "vgg11": ((32, 32, 3), 1 / 16),
                   "vgg13": ((32, 32, 3), 1 / 16), "vgg19": ((32, 32, 3), 1 / 16)}  # fmt: skip
# fixed by the paper: the squashing function and the RBF output (not --hidden / --output)
PAPER_FIXED = {"lenet5_1998": ("hidden", "output", "width")}
GRADCHECK_SIZES.update({f"{kind}{depth}": ((8, 8, 3), 1 / 4) for kind in ("resnet", "plain")
                        for depth in (20, 32, 44, 56, 110)})  # fmt: skip
# the other families: (input_shape, num_outputs, options) ``jaxnn gradcheck --model NAME``
# builds by default (``--option`` overrides options)
GRADCHECK_DEFAULTS: dict[str, tuple[tuple, int, dict]] = {
    "rnn": ((7, 3), 4, {"hidden_size": 5}),
    "lstm": ((7, 3), 4, {"hidden_size": 5}),
    "gru": ((7, 3), 4, {"hidden_size": 5}),
    "transformer": ((6,), 5, {"n_layers": 2, "d_model": 4, "heads": 2, "d_ff": 6}),
    "autoencoder": ((6,), 0, {"code": 2, "units": [4], "hidden": "tanh"}),
    "vae": ((6,), 0, {"latent": 2, "units": [4], "hidden": "tanh"}),
    "gan": ((6,), 0, {"noise": 3, "generator": [4], "discriminator": [5], "hidden": "tanh"}),
}


def _cast(tree, dtype):
    """Every floating leaf of ``tree`` in ``dtype``, and every signed integer leaf (token ids,
    drawn as int64 under ``make``'s x64) in the integer of the same width: int32 beside
    float32, where int64 does not exist (JAX would truncate it, warning on every call).
    Keys (uint32) stay as they are."""

    def cast(x):
        if jnp.issubdtype(x.dtype, jnp.floating):
            return x.astype(dtype)
        if jnp.issubdtype(x.dtype, jnp.signedinteger):
            return x.astype(jnp.int32 if jnp.dtype(dtype).itemsize == 4 else jnp.int64)
        return x

    return jax.tree.map(cast, tree)


def _biases_off_zero(params):
    """Biases + 0.1, so that no unit sits exactly at a kink at the checked point."""
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: leaf + 0.1 if str(path[-1]).strip("[]'\"").startswith("b") else leaf,
        params,
    )


def _at_point(make, x64: bool, checks_at, costs_at=None, max_per_leaf=None,
              seed: int = 0) -> Report:  # fmt: skip
    """Check at one random point: ``make()`` (run under float64) draws ``(params, data)``;
    ``checks_at(params, data) -> [(label, cost_fn, hand_grads)]``; ``costs_at(params, data)
    -> [cost_fn]`` the same costs without computing hand gradients (default: from
    ``checks_at``). With ``x64`` off the
    point is cast to float32 for hand vs ``jax.grad`` and upcast back (exactly) for the
    float64 finite differences, so that both sides see the same point."""
    with compat.enable_x64(True), jax.default_matmul_precision("highest"):
        params, data = make()
        if not x64:
            params, data = _cast((params, data), jnp.float32)
        costs_at = costs_at or (lambda *point: [c[1] for c in checks_at(*point)])
        numeric_costs = None if x64 else costs_at(*_cast((params, data), jnp.float64))
    # full float32 matmuls on GPUs too (TensorFloat-32 would add ~1e-4 to every comparison)
    with compat.enable_x64(x64), jax.default_matmul_precision("highest"):
        checks = checks_at(params, data)
    rows, report = [], None
    for index, (label, cost_fn, hand) in enumerate(checks):
        numeric_fn = cost_fn if numeric_costs is None else numeric_costs[index]
        with compat.enable_x64(x64), jax.default_matmul_precision("highest"):
            report = check(cost_fn, params, hand, max_per_leaf=max_per_leaf,
                           numeric_cost_fn=numeric_fn, seed=seed)  # fmt: skip
        rows += [r._replace(name=f"{label}: {r.name}") if len(checks) > 1 else r
                 for r in report.rows]  # fmt: skip
    return Report(rows, report.dtype, report.tolerances)


def _check_examples(m) -> None:
    """A check on no examples compares nothing (every gradient is 0): refuse it."""
    from jaxnn.errors import ConfigError

    if not isinstance(m, int | np.integer) or m < 1:
        raise ConfigError(f"gradcheck needs at least one example: --m must be >= 1, got {m!r}")


def check_any(name: str, input_shape=None, num_outputs=None, options=None, seed: int = 0,
              l2: float = 0.0, m: int = 4, x64: bool = True,
              max_per_leaf: int | None = 40) -> Report:  # fmt: skip
    """Gradient-check model ``name`` of any family through the Model interface
    (``jaxnn.models.checks``): built at ``GRADCHECK_DEFAULTS[name]`` unless given, params
    from its ``init`` with biases moved off zero, data from ``jaxnn.models.example``, and a
    fixed noise key for models whose cost draws noise. A model with several costs (a GAN's
    two players) gets one block of rows per cost, its leaves named ``cost: leaf``."""
    from jaxnn import models

    _check_examples(m)
    default_shape, default_outputs, default_options = GRADCHECK_DEFAULTS.get(name, ((), 0, {}))
    input_shape = tuple(input_shape or default_shape)
    num_outputs = num_outputs or default_outputs
    options = {**default_options, **(options or {})}
    net = models.build(name, input_shape, num_outputs, **options)
    key_params, key_data, key_noise = jax.random.split(jax.random.PRNGKey(seed), 3)

    def make():
        params = _biases_off_zero(net.init(key_params, jnp.float64))
        return params, models.example(net, key_data, m, jnp.float64)

    def checks_at(params, data):
        return models.checks(net, params, *data, l2, key_noise)

    def costs_at(params, data):  # the default checks' cost, without its hand gradients
        kw = {"key": key_noise} if net.stochastic else {}
        return [lambda p: net.cost(p, *data, l2, **kw)]

    report = _at_point(make, x64, checks_at, None if net.checks else costs_at,
                       max_per_leaf=max_per_leaf, seed=seed)  # fmt: skip
    sizes = {"input": "x".join(map(str, input_shape)), "outputs": num_outputs, **options}
    return report._replace(sizes=sizes)


def check_model(
    model: str = "mlp",
    layer_dims=(5, 4, 3),
    hidden: str = "tanh",
    output: str = "softmax",
    seed: int = 0,
    l2: float = 0.0,
    m: int = 8,
    x64: bool = True,
    input_shape=None,
    width: float | None = None,
    num_classes: int = 10,
    max_per_leaf: int | None = 40,
    options: dict | None = None,
    init: str = "glorot",
) -> Report:
    """Gradient-check ``model`` ("logistic", "mlp" or any of ``jaxnn.models.MODELS``) at a
    random point with random data. Families other than the MLP and the convolutional
    networks go through ``check_any`` (with ``input_shape`` and ``options``); the
    convolutional networks are built with ``options`` over ``hidden``, ``output`` and
    ``width`` (``jaxnn gradcheck --option dropout=0``).

    ``x64`` runs hand vs ``jax.grad`` in float64 (inside ``compat.enable_x64``), where the
    tight tolerances apply; otherwise in float32. The finite differences are float64 either
    way. Convolutional models are built at ``input_shape`` and ``width`` (default
    ``GRADCHECK_SIZES``) for ``num_classes`` classes; their finite differences cover at most
    ``max_per_leaf`` random entries of each leaf (``None``: all), while hand vs ``jax.grad``
    always compares every entry.
    """
    from jaxnn import logistic, mlp, models  # local: gradcheck is imported by both
    from jaxnn.errors import ConfigError

    if model not in ("logistic", *models.MODELS):
        raise ConfigError(
            f"unknown model {model!r}; choose one of: logistic, {', '.join(models.MODELS)}"
        )
    _check_examples(m)
    if model not in ("logistic", "mlp", *models.IMAGE_MODELS):
        return check_any(model, input_shape, None, options, seed, l2, m, x64, max_per_leaf)
    key_params, key_data = jax.random.split(jax.random.PRNGKey(seed))
    if model in models.IMAGE_MODELS:
        default_shape, default_width = GRADCHECK_SIZES[model]
        settings = {"hidden": hidden, "output": output, "width": width or default_width}
        for name in PAPER_FIXED.get(model, ()):  # the paper's, unless given in options
            del settings[name]
        net = models.build(model, input_shape or default_shape, num_classes,
                           **{**settings, **(options or {})})  # fmt: skip
        targets = net.output.replace("rbf", "softmax")  # the RBF output reads one-hot labels

        def make():
            key_x, key_y = jax.random.split(key_data)
            X = jax.random.normal(key_x, net.batch_shape(m), jnp.float64)
            _, Y = random_problem(key_y, (1, net.num_outputs), targets, m, jnp.float64)
            return _biases_off_zero(net.init(key_params, jnp.float64)), (X, Y)

        if net.stochastic:  # dropout: one fixed mask, so that the cost is one function
            key_mask = jax.random.fold_in(key_data, 1)

            def fixed_mask_checks(params, data):
                return models.checks(net, params, *data, l2, key_mask)

            report = _at_point(make, x64, fixed_mask_checks, max_per_leaf=max_per_leaf, seed=seed)
            return report._replace(sizes={"dropout": "one fixed mask (the same key in every "
                                                     "cost evaluation)"})  # fmt: skip

        def costs_at(params, data):
            return [lambda p: net.cost(p, *data, l2)]

        def checks_at(params, data):
            hand = compilation_cache.call(jax.jit(net.cost_and_grads), params, *data, l2)[1]
            return [("cost", costs_at(params, data)[0], hand)]

        return _at_point(make, x64, checks_at, costs_at, max_per_leaf, seed)
    if model == "logistic":
        dims = (layer_dims[0], 1)

        def make():
            X, Y = random_problem(key_data, dims, "sigmoid", m, jnp.float64)
            params = {"w": jax.random.normal(key_params, (dims[0], 1), jnp.float64),
                      "b": jnp.asarray(0.1, jnp.float64)}  # fmt: skip
            return params, (X, Y)

        def checks_at(params, data):
            return [("cost", lambda p: logistic.cost(p, *data), logistic.grads(params, *data))]

        return _at_point(make, x64, checks_at)

    def make():
        params = _biases_off_zero(mlp.init(key_params, layer_dims, init, jnp.float64))
        return params, random_problem(key_data, layer_dims, output, m, jnp.float64)

    def checks_at(params, data):
        hand = mlp.cost_and_grads(params, *data, hidden, output, l2)[1]
        return [("cost", lambda p: mlp.cost(p, *data, hidden, output, l2), hand)]

    return _at_point(make, x64, checks_at)
