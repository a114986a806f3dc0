"""Gradient checking: hand-derived vs ``jax.grad`` vs central finite differences.

The notes' relative error ``‖a − b‖ / (‖a‖ + ‖b‖)`` compares gradients leaf by leaf.
Finite differences need float64 to be meaningful at tight tolerances: run under
``jaxnn.compat.enable_x64(True)`` (``jax.enable_x64`` on newer jax) with float64 params
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


def numerical_grad(f: Callable, params, eps: float | None = None):
    """Central differences ``(f(θ + ε eᵢ) − f(θ − ε eᵢ)) / 2ε`` for every entry of a pytree.

    ``f(params)`` must return a scalar. Returns a pytree shaped like ``params``.
    """
    flat, unravel = ravel_pytree(params)
    if eps is None:
        eps = DEFAULT_EPS.get(np.dtype(flat.dtype), 1e-3)

    def one(i):
        step = jnp.zeros_like(flat).at[i].set(eps)
        return (f(unravel(flat + step)) - f(unravel(flat - step))) / (2 * eps)

    derivatives = jax.lax.map(jax.jit(one), jnp.arange(flat.size), batch_size=64)
    return unravel(derivatives.astype(flat.dtype))


class LeafReport(NamedTuple):
    name: str
    shape: tuple[int, ...]
    hand_vs_autodiff: float | None
    hand_vs_numeric: float | None
    autodiff_vs_numeric: float
    ok: bool


class Report(NamedTuple):
    rows: list[LeafReport]
    dtype: str
    tolerances: tuple[float, float]

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

        lines = [
            f"{'leaf':<6} {'shape':<12} {'hand~auto':>9} {'hand~num':>9} {'auto~num':>9}  ok",
        ]
        for r in self.rows:
            lines.append(
                f"{r.name:<6} {str(r.shape):<12} {cell(r.hand_vs_autodiff):>9} "
                f"{cell(r.hand_vs_numeric):>9} {cell(r.autodiff_vs_numeric):>9}  "
                f"{'yes' if r.ok else 'NO'}"
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
) -> Report:
    """Compare hand-derived gradients, ``jax.grad(cost_fn)`` and finite differences per leaf.

    ``cost_fn(params) -> J``; ``hand_grads`` has the keys of ``params`` (omit it to check
    autodiff against numeric only). A leaf passes when every available relative error is
    within ``tolerances = (hand vs autodiff, vs numeric)``, by default from ``TOLERANCES``.
    """
    dtype = np.dtype(jax.tree.leaves(params)[0].dtype)
    tight, loose = tolerances or TOLERANCES.get(dtype, TOLERANCES[np.dtype("float32")])
    autodiff = jax.grad(cost_fn)(params)
    numeric = numerical_grad(cost_fn, params, eps)
    rows = []
    for name in params:
        hand_auto = hand_num = None
        if hand_grads is not None:
            hand_auto = relative_error(hand_grads[name], autodiff[name])
            hand_num = relative_error(hand_grads[name], numeric[name])
        auto_num = relative_error(autodiff[name], numeric[name])
        ok = auto_num <= loose
        if hand_grads is not None:
            ok = ok and hand_auto <= tight and hand_num <= loose
        rows.append(
            LeafReport(name, tuple(np.shape(params[name])), hand_auto, hand_num, auto_num, ok)
        )
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


def check_model(
    model: str = "mlp",
    layer_dims=(5, 4, 3),
    hidden: str = "tanh",
    output: str = "softmax",
    seed: int = 0,
    l2: float = 0.0,
    m: int = 8,
    x64: bool = True,
) -> Report:
    """Gradient-check ``model`` ("logistic" or "mlp") at a random point with random data.

    ``x64`` runs the whole check in float64 (inside ``compat.enable_x64``), where the tight
    tolerances apply; otherwise float32.
    """
    from jaxnn import logistic, mlp  # local: gradcheck is imported by both
    from jaxnn.errors import ConfigError

    if model not in ("logistic", "mlp"):
        raise ConfigError(f"unknown model {model!r}; choose one of: logistic, mlp")
    with compat.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        key_params, key_data = jax.random.split(jax.random.PRNGKey(seed))
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
