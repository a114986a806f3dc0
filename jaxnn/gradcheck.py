"""Gradient checking: hand-derived vs ``jax.grad`` vs central finite differences.

The notes' relative error ``‖a − b‖ / (‖a‖ + ‖b‖)`` compares gradients leaf by leaf.
Finite differences need float64 to be meaningful at tight tolerances: run under
``jaxnn.compat.enable_x64(True)`` (``jax.enable_x64``) with float64 params
(the CLI's ``--x64``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn import compat

Array = jax.Array

# (hand vs autodiff, anything vs numeric) tolerances on the relative error, by dtype.
TOLERANCES = {
    np.dtype("float64"): (1e-10, 1e-7),
    np.dtype("float32"): (1e-5, 2e-2),
}
# ε ≈ ε_mach^(1/3) balances truncation (ε²) against round-off (ε_mach / ε) error.
DEFAULT_EPS = {np.dtype("float64"): 1e-5, np.dtype("float32"): 1e-3}


def relative_error(a, b) -> float:
    """‖a − b‖ / (‖a‖ + ‖b‖) over all leaves of two same-structured pytrees (0 if both are 0)."""
    flat_a = np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(a)])
    flat_b = np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(b)])
    denominator = np.linalg.norm(flat_a) + np.linalg.norm(flat_b)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(flat_a - flat_b) / denominator)


def numerical_grad(f: Callable, params, eps: float | None = None, entries=None):
    """Central differences ``(f(θ + ε eᵢ) − f(θ − ε eᵢ)) / 2ε`` for every entry of a pytree.

    ``f(params)`` must return a scalar. Returns a pytree shaped like ``params``; with
    ``entries`` (indices into the flattened params, ``ravel_pytree`` order), only those are
    differentiated and the rest of the returned pytree is NaN.
    """
    flat, unravel = ravel_pytree(params)
    if eps is None:
        eps = DEFAULT_EPS.get(np.dtype(flat.dtype), 1e-3)

    def one(i):
        step = jnp.zeros_like(flat).at[i].set(eps)
        return (f(unravel(flat + step)) - f(unravel(flat - step))) / (2 * eps)

    if entries is None:
        derivatives = jax.lax.map(jax.jit(one), jnp.arange(flat.size), batch_size=64)
        return unravel(derivatives.astype(flat.dtype))
    entries = jnp.asarray(entries, jnp.int32)
    derivatives = jax.lax.map(jax.jit(one), entries, batch_size=64)
    full = jnp.full(flat.shape, jnp.nan, flat.dtype).at[entries].set(derivatives)
    return unravel(full)


def leaf_names(params) -> list[str]:
    """Each leaf's path: ``W1`` for the MLP's flat dict, ``conv1.W`` for nested params."""
    paths = jax.tree_util.tree_flatten_with_path(params)[0]
    return [".".join(str(getattr(k, "key", k)) for k in path) for path, _ in paths]


def sample_entries(params, max_per_leaf: int | None, seed: int = 0) -> np.ndarray | None:
    """Indices into the flattened params: every entry of each leaf with at most
    ``max_per_leaf`` entries, a random ``max_per_leaf`` of the larger ones (cs231n's sparse
    gradient check). ``None``: all of them."""
    if max_per_leaf is None:
        return None
    rng, chosen, offset = np.random.default_rng(seed), [], 0
    for leaf in jax.tree.leaves(params):
        size = int(np.size(leaf))
        picks = np.arange(size) if size <= max_per_leaf else np.sort(
            rng.choice(size, max_per_leaf, replace=False))  # fmt: skip
        chosen.append(offset + picks)
        offset += size
    return np.concatenate(chosen)


class LeafReport(NamedTuple):
    name: str
    shape: tuple[int, ...]
    hand_vs_autodiff: float | None
    hand_vs_numeric: float | None
    autodiff_vs_numeric: float
    ok: bool
    checked: int | None = None  # entries finite-differenced (None: all)


class Report(NamedTuple):
    rows: list[LeafReport]
    dtype: str
    tolerances: tuple[float, float]
    sizes: dict | None = None  # what the model was built with (check_model)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def worst(self) -> dict[str, float]:
        columns = ("hand_vs_autodiff", "hand_vs_numeric", "autodiff_vs_numeric")
        return {column: max((getattr(r, column) or 0.0) for r in self.rows) for column in columns}

    def format(self) -> str:
        """The per-leaf table printed by ``jaxnn gradcheck``."""

        def cell(value):
            return "       —" if value is None else f"{value:8.1e}"

        width = max([6, *(len(r.name) for r in self.rows)])
        shape_width = max([12, *(len(str(r.shape)) for r in self.rows)])
        lines = [
            f"{'leaf':<{width}} {'shape':<{shape_width}} {'hand~auto':>9} {'hand~num':>9} "
            f"{'auto~num':>9}  ok",
        ]
        for r in self.rows:
            sampled = "" if r.checked is None else f"  (~num on {r.checked} entries)"
            lines.append(
                f"{r.name:<{width}} {str(r.shape):<{shape_width}} {cell(r.hand_vs_autodiff):>9} "
                f"{cell(r.hand_vs_numeric):>9} {cell(r.autodiff_vs_numeric):>9}  "
                f"{'yes' if r.ok else 'NO'}{sampled}"
            )
        tight, loose = self.tolerances
        lines.append(
            f"dtype {self.dtype}; pass if hand~auto <= {tight:g} and ~num <= {loose:g} "
            "(relative error ‖a−b‖/(‖a‖+‖b‖))"
        )
        return "\n".join(lines)


def check(
    cost_fn: Callable,
    params: dict,
    hand_grads: dict | None = None,
    eps: float | None = None,
    tolerances: tuple[float, float] | None = None,
    max_per_leaf: int | None = None,
) -> Report:
    """Compare hand-derived gradients, ``jax.grad(cost_fn)`` and finite differences per leaf.

    ``cost_fn(params) -> J``; ``hand_grads`` has the structure of ``params`` (omit it to
    check autodiff against numeric only). A leaf passes when every available relative error
    is within ``tolerances = (hand vs autodiff, vs numeric)``, by default from
    ``TOLERANCES``. ``max_per_leaf``: finite differences on at most that many random entries
    of each leaf (hand vs autodiff still compares every entry) — for large models.
    """
    dtype = np.dtype(jax.tree.leaves(params)[0].dtype)
    tight, loose = tolerances or TOLERANCES.get(dtype, TOLERANCES[np.dtype("float32")])
    autodiff = jax.tree.leaves(jax.grad(cost_fn)(params))
    numeric = jax.tree.leaves(
        numerical_grad(cost_fn, params, eps, sample_entries(params, max_per_leaf))
    )
    hand = jax.tree.leaves(hand_grads) if hand_grads is not None else None
    rows = []
    names_and_leaves = zip(leaf_names(params), jax.tree.leaves(params), strict=True)
    for index, (name, leaf) in enumerate(names_and_leaves):
        picked = np.isfinite(np.ravel(np.asarray(numeric[index])))

        def on_picked(g, picked=picked):
            return np.ravel(np.asarray(g))[picked]

        hand_auto = hand_num = None
        if hand is not None:
            hand_auto = relative_error(hand[index], autodiff[index])
            hand_num = relative_error(on_picked(hand[index]), on_picked(numeric[index]))
        auto_num = relative_error(on_picked(autodiff[index]), on_picked(numeric[index]))
        ok = auto_num <= loose
        if hand is not None:
            ok = ok and hand_auto <= tight and hand_num <= loose
        checked = None if picked.all() else int(picked.sum())
        rows.append(LeafReport(name, tuple(np.shape(leaf)), hand_auto, hand_num, auto_num, ok,
                               checked))  # fmt: skip
    return Report(rows, str(dtype), (tight, loose))


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
# the other families: (input_shape, num_outputs, options) ``jaxnn gradcheck --model NAME``
# builds by default (``--option`` overrides options)
GRADCHECK_DEFAULTS: dict[str, tuple[tuple, int, dict]] = {
    "rnn": ((7, 3), 4, {"hidden_size": 5}),
    "lstm": ((7, 3), 4, {"hidden_size": 5}),
    "autoencoder": ((6,), 0, {"code": 2, "units": [4], "hidden": "tanh"}),
    "vae": ((6,), 0, {"latent": 2, "units": [4], "hidden": "tanh"}),
    "gan": ((6,), 0, {"noise": 3, "generator": [4], "discriminator": [5], "hidden": "tanh"}),
}


def check_any(name: str, input_shape=None, num_outputs=None, options=None, seed: int = 0,
              l2: float = 0.0, m: int = 4, x64: bool = True,
              max_per_leaf: int | None = 40) -> Report:  # fmt: skip
    """Gradient-check model ``name`` of any family through the Model interface
    (``jaxnn.models.checks``): built at ``GRADCHECK_DEFAULTS[name]`` unless given, params
    from its ``init`` with biases moved off zero, data from ``jaxnn.models.example``, and a
    fixed noise key for models whose cost draws noise. A model with several costs (a GAN's
    two players) gets one block of rows per cost, its leaves named ``cost: leaf``."""
    from jaxnn import models

    default_shape, default_outputs, default_options = GRADCHECK_DEFAULTS.get(name, ((), 0, {}))
    input_shape = tuple(input_shape or default_shape)
    num_outputs = num_outputs or default_outputs
    options = {**default_options, **(options or {})}
    with compat.enable_x64(x64), jax.default_matmul_precision("highest"):
        dtype = jnp.float64 if x64 else jnp.float32
        net = models.build(name, input_shape, num_outputs, **options)
        key_params, key_data, key_noise = jax.random.split(jax.random.PRNGKey(seed), 3)
        params = jax.tree_util.tree_map_with_path(
            lambda path, leaf: leaf + 0.1 if str(path[-1]).strip("[]'\"").startswith("b")
            else leaf, net.init(key_params, dtype),
        )  # biases off zero, so that no unit sits exactly at a kink  # fmt: skip
        X, Y = models.example(net, key_data, m, dtype)
        rows, tolerances = [], None
        checks = models.checks(net, params, X, Y, l2, key_noise)
        for label, cost_fn, hand in checks:
            report = check(jax.jit(cost_fn), params, hand, max_per_leaf=max_per_leaf)
            tolerances = report.tolerances
            rows += [r._replace(name=f"{label}: {r.name}") if len(checks) > 1 else r
                     for r in report.rows]  # fmt: skip
        sizes = {"input": "x".join(map(str, input_shape)), "outputs": num_outputs, **options}
        return Report(rows, str(np.dtype(dtype)), tolerances, sizes)


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
) -> Report:
    """Gradient-check ``model`` ("logistic", "mlp" or any of ``jaxnn.models.MODELS``) at a
    random point with random data. Families other than the MLP and the convolutional
    networks go through ``check_any`` (with ``input_shape`` and ``options``).

    ``x64`` runs the whole check in float64 (inside ``compat.enable_x64``), where the tight
    tolerances apply; otherwise float32. Convolutional models are built at ``input_shape``
    and ``width`` (default ``GRADCHECK_SIZES``) for ``num_classes`` classes; their finite
    differences cover at most ``max_per_leaf`` random entries of each leaf (``None``: all),
    while hand vs ``jax.grad`` always compares every entry.
    """
    from jaxnn import logistic, mlp, models  # local: gradcheck is imported by both
    from jaxnn.errors import ConfigError

    if model not in ("logistic", *models.MODELS):
        raise ConfigError(
            f"unknown model {model!r}; choose one of: logistic, {', '.join(models.MODELS)}"
        )
    if model not in ("logistic", "mlp", *models.IMAGE_MODELS):
        return check_any(model, input_shape, None, options, seed, l2, m, x64, max_per_leaf)
    # full float32 matmuls on GPUs too (TensorFloat-32 would add ~1e-4 to every comparison)
    with compat.enable_x64(x64), jax.default_matmul_precision("highest"):
        dtype = jnp.float64 if x64 else jnp.float32
        key_params, key_data = jax.random.split(jax.random.PRNGKey(seed))
        if model in models.IMAGE_MODELS:
            default_shape, default_width = GRADCHECK_SIZES[model]
            settings = {"hidden": hidden, "output": output, "width": width or default_width}
            for name in PAPER_FIXED.get(model, ()):
                del settings[name]
            net = models.build(model, input_shape or default_shape, num_classes, **settings)
            params = {
                layer: {k: v + 0.1 if k == "b" else v for k, v in leaves.items()}
                for layer, leaves in net.init(key_params, dtype).items()
            }  # as below
            key_x, key_y = jax.random.split(key_data)
            X = jax.random.normal(key_x, net.batch_shape(m), dtype)
            _, Y = random_problem(key_y, (1, net.num_outputs), net.output.replace("rbf", "softmax"),
                                  m, dtype)  # fmt: skip
            if net.stochastic:  # dropout: one fixed mask, so that the cost is one function
                [(_, cost_fn, hand)] = models.checks(net, params, X, Y, l2, key_y)
                report = check(cost_fn, params, hand, max_per_leaf=max_per_leaf)
                return report._replace(sizes={"dropout": "one fixed mask (the same key in "
                                                         "every cost evaluation)"})  # fmt: skip
            _, hand = jax.jit(net.cost_and_grads)(params, X, Y, l2)
            return check(lambda p: net.cost(p, X, Y, l2), params, hand,
                         max_per_leaf=max_per_leaf)  # fmt: skip
        if model == "logistic":
            dims = (layer_dims[0], 1)
            X, Y = random_problem(key_data, dims, "sigmoid", m, dtype)
            params = {
                "w": jax.random.normal(key_params, (dims[0], 1), dtype),
                "b": jnp.asarray(0.1, dtype),
            }
            return check(lambda p: logistic.cost(p, X, Y), params, logistic.grads(params, X, Y))
        params = mlp.init(key_params, layer_dims, "glorot", dtype)
        # Non-zero biases so no hidden unit sits exactly at a kink.
        params = {k: (v + 0.1 if k.startswith("b") else v) for k, v in params.items()}
        X, Y = random_problem(key_data, layer_dims, output, m, dtype)
        _, hand = mlp.cost_and_grads(params, X, Y, hidden, output, l2)
        return check(lambda p: mlp.cost(p, X, Y, hidden, output, l2), params, hand)
