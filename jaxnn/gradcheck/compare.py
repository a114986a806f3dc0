"""Any cost's gradients compared three ways: hand-derived vs ``jax.grad`` vs float64 finite
differences, per leaf, with the error model of ``jaxnn.gradcheck``'s docstring (``check``,
``probe``, the ``Report``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn import compat, compilation_cache, kinks

Array = jax.Array

# (hand vs autodiff, anything vs numeric) tolerances on the relative error, by the model's
# dtype. The numeric side is float64 either way: against it, float32 gradients show their
# own round-off (≤ 2.6e-6 measured, experiments/gradcheck_trust.py) and float64 ones the
# differences' truncation and round-off (≤ 2.2e-8 measured); every planted bug of
# tests/gradcheck_mutations.py exceeds them (on every seed tried).
TOLERANCES = {
    np.dtype("float64"): (1e-10, 1e-6),
    np.dtype("float32"): (1e-5, 1e-4),
}
# ε ≈ ε_mach^(1/3) balances truncation (ε²) against round-off (ε_mach / ε) error.
DEFAULT_EPS = {np.dtype("float64"): 1e-5, np.dtype("float32"): 1e-3}
# the float64 step, relative to a leaf's scale (rms of its entries, at least FLOOR): large
# enough that round-off (ε_mach·|J|/h) stays far below the small gradients of deep layers,
# small enough that truncation (h²) does too; kinks inside the stencil are detected anyway
RELATIVE_STEP, STEP_FLOOR = 1e-4, 0.1
# central differences at h, h/2, h/4 (h: the leaf's step), extrapolated; the error estimate
# times SAFETY bounds the error; a leaf whose bound exceeds UNVERIFIABLE of its numeric
# gradient's norm cannot be verified by finite differences (module docstring)
STEP_SCALES = (1.0, 0.5, 0.25)
SAFETY, UNVERIFIABLE = 10.0, 1e-2


def numeric_relative_error(numeric, errors) -> float:
    """β = SAFETY · ‖e‖ / ‖num‖: the estimated relative error of finite differences ``numeric``
    with per-entry error estimates ``errors`` (0 where there is no estimate; ∞ where the
    differences are all 0 but their estimate is not)."""
    errors = np.nan_to_num(np.asarray(errors, np.float64), nan=0.0, posinf=np.inf)
    bound, size = SAFETY * np.linalg.norm(errors), np.linalg.norm(numeric)
    if bound == 0:
        return 0.0
    return float(bound / size) if size > 0 else float("inf")


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
    differentiated and the rest of the returned pytree is NaN. Runs in params' dtype with one
    ``eps`` for all entries; ``probe`` is the float64, per-leaf, kink-aware version
    ``check`` uses.
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


def leaf_steps(params, relative: float = RELATIVE_STEP, floor: float = STEP_FLOOR):
    """The finite-difference step of every leaf: ``relative · max(rms(leaf), floor)``, as a
    pytree of scalars (a leaf of weights ~0.05 and a bias of 10 get steps in proportion)."""
    return jax.tree.map(
        lambda leaf: relative * max(float(np.sqrt(np.mean(np.square(np.asarray(leaf, np.float64)))))
                                    if np.size(leaf) else 0.0, floor), params)  # fmt: skip


class Probe(NamedTuple):
    """What ``probe`` measured at each entry (pytrees shaped like params, NaN where not
    probed): the extrapolated derivative, its estimated absolute error, and whether the
    stencil crossed a kink."""

    derivatives: dict
    errors: dict
    crossed: dict


def probe(f: Callable, params, entries=None, steps=None, batch_size: int = 32,
          scales=STEP_SCALES) -> Probe:  # fmt: skip
    """Float64, kink-aware central differences with Richardson extrapolation.

    ``f(params) -> J`` is evaluated in float64 on ``params`` upcast (call it on float64 data;
    a float32 point upcasts exactly). ``steps``: a pytree of per-leaf steps h (default
    ``leaf_steps``). At each of ``entries`` (indices into the flattened params; default all)
    the central differences ``D(s) = (f(θ + s eᵢ) − f(θ − s eᵢ)) / 2s`` are taken at
    ``s = c·hᵢ`` for every ``c`` in ``scales`` (halving steps), all in one compiled program;
    ``_extrapolate`` turns them into a derivative and an error estimate (module docstring).
    ``crossed`` is True where the branch pattern (``jaxnn.kinks``) at any stencil point
    differs from the one at θ — a kink inside the stencil."""
    with compat.enable_x64(True):
        params = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), params)
        flat, unravel = ravel_pytree(params)
        steps = leaf_steps(params) if steps is None else steps
        leaves_and_steps = zip(jax.tree.leaves(params), jax.tree.leaves(steps), strict=True)
        step_of = jnp.concatenate([jnp.full(np.size(x), h, jnp.float64)
                                   for x, h in leaves_and_steps])  # fmt: skip
        run, consts = kinks.traced(f, params)
        entries = np.arange(flat.size) if entries is None else np.asarray(entries, np.int32)
        padded = np.resize(entries, -(-len(entries) // batch_size) * batch_size)
        program = _probe_entries(run, unravel, batch_size, tuple(scales))
        differences, crossed = compilation_cache.call(program, flat, step_of, padded, consts)
        differences = np.asarray(differences[: len(entries)], np.float64)
        derivatives, errors = _extrapolate(differences, scales)
        full = np.full((2, flat.size), np.nan)
        full[:, entries] = derivatives, errors
        mask = np.zeros(flat.shape, bool)
        mask[np.asarray(entries)] = np.asarray(crossed[: len(entries)])
        return Probe(unravel(jnp.asarray(full[0])), unravel(jnp.asarray(full[1])),
                     _split_like(mask, params))  # fmt: skip


def _extrapolate(differences: np.ndarray, scales) -> tuple[np.ndarray, np.ndarray]:
    """``(derivative, error estimate)`` per row of ``differences`` (n, K), the central
    differences at the halving steps ``scales``: Ridders' tableau. Column 0 holds D(s); column
    j combines neighbouring steps, ``T = (4ʲ T(s/2) − T(s)) / (4ʲ − 1)``, which removes the
    s²ʲ term of the error (j = 1 is Richardson's ``(4 D(s/2) − D(s)) / 3``). Each new entry's
    error is estimated as Ridders does, by its distance from the two lower-order entries it
    was made from, ``max(|T − T(s/2)|, |T − T(s)|) = 4ʲ |T(s/2) − T(s)| / (4ʲ − 1)`` — about
    the error of the coarser of them, so an overestimate where the expansion holds — and
    the entry with the smallest estimate is taken. One scale: D itself, and e = NaN."""
    if differences.shape[1] == 1:
        return differences[:, 0], np.full(len(differences), np.nan)
    assert all(np.isclose(b, a / 2) for a, b in zip(scales[:-1], scales[1:], strict=True))
    value, error = differences[:, -1].copy(), np.full(len(differences), np.inf)
    column = differences
    for j in range(1, differences.shape[1]):
        factor = 4.0**j
        coarse, fine = column[:, :-1], column[:, 1:]
        column = (factor * fine - coarse) / (factor - 1)
        estimate = factor * np.abs(fine - coarse) / (factor - 1)
        estimate = np.where(np.isnan(estimate), np.inf, estimate)
        for k in range(column.shape[1]):
            better = estimate[:, k] < error
            value[better], error[better] = column[better, k], estimate[better, k]
    return value, error


def _probe_entries(run, unravel, batch_size: int, scales: tuple):
    """One compiled program: the pattern at θ, then ``lax.map`` over the entries, each
    ``(central differences at every scale (K,), stencil crossed a kink)``; the 2K stencil
    points of an entry are one ``vmap``, so the program holds the network once. The data
    arrive as ``consts`` (not baked-in constants), so XLA's persistent cache serves every
    seed of the same shapes."""
    signed = np.array([[c, -c] for c in scales], np.float64).ravel()

    @jax.jit
    def probe_all(flat, step_of, entries, consts):
        _, reference = run(consts, unravel(flat))

        def one(i):
            h = step_of[i]
            values, patterns = jax.vmap(lambda delta: run(consts, unravel(flat.at[i].add(delta))))(
                jnp.asarray(signed) * h)  # fmt: skip
            crossed = kinks.crossed(patterns, reference)  # any of the 2K points (broadcast)
            values = values.reshape(len(scales), 2)
            return (values[:, 0] - values[:, 1]) / (2 * h * jnp.asarray(scales)), crossed

        return jax.lax.map(one, entries, batch_size=batch_size)

    return probe_all


def _float64_grad(cost_fn: Callable, params):
    """``jax.grad(cost_fn)`` in float64 at ``params`` upcast (give ``cost_fn`` float64 data)."""
    with compat.enable_x64(True):
        params = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), params)
        closed = jax.make_jaxpr(cost_fn)(params)

        def converted(params, consts):
            return jax.core.eval_jaxpr(closed.jaxpr, consts, *jax.tree.leaves(params))[0]

        return compilation_cache.call(jax.jit(jax.grad(converted)), params, list(closed.consts))


def _split_like(flat: np.ndarray, params):
    """A flat array cut into ``params``' leaves (``ravel_pytree`` order), keeping its dtype."""
    leaves, treedef = jax.tree.flatten(params)
    bounds = np.cumsum([0, *(np.size(leaf) for leaf in leaves)])
    pieces = zip(bounds[:-1], bounds[1:], leaves, strict=True)
    return jax.tree.unflatten(treedef, [flat[a:b].reshape(np.shape(x)) for a, b, x in pieces])


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
    checked: int | None = None  # entries compared with finite differences (None: all)
    excluded: int = 0  # probed entries whose stencil crossed a kink (not compared)
    # the finite differences' estimated relative error β = SAFETY·‖e‖/‖num‖ (module
    # docstring), the ~num tolerance max(TOLERANCES', β/2) it gives, and whether β is within
    # UNVERIFIABLE (else the ~num columns are shown but decide nothing)
    numeric_error: float | None = None
    numeric_tolerance: float | None = None
    verifiable: bool = True
    # float32 models: jax.grad's relative error against jax.grad of the float64 cost at the
    # same point (the gradient's own round-off, added to the ~num tolerance); 0 in float64
    rounding: float | None = None


class Report(NamedTuple):
    rows: list[LeafReport]
    dtype: str
    tolerances: tuple[float, float]
    sizes: dict | None = None  # what the model was built with (check_model)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def excluded(self) -> int:
        return sum(row.excluded for row in self.rows)

    @property
    def unverifiable(self) -> list[str]:
        """The leaves whose finite differences were too uncertain to decide anything."""
        return [row.name for row in self.rows if not row.verifiable]

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
            if r.excluded:
                sampled += f"  ({r.excluded} kink crossed — excluded)"
            if not r.verifiable:
                sampled += (f"  (~num not verifiable at this point: estimated error "
                            f"{r.numeric_error:.1e} of ‖num‖)")  # fmt: skip
            elif r.numeric_tolerance is not None and r.numeric_tolerance > self.tolerances[1]:
                sampled += (f"  (~num tolerance {r.numeric_tolerance:.1e}: differences' error "
                            f"{(r.numeric_error or 0) / 2:.1e}, {self.dtype} round-off "
                            f"{r.rounding or 0:.1e})")  # fmt: skip
            lines.append(
                f"{r.name:<{width}} {str(r.shape):<{shape_width}} {cell(r.hand_vs_autodiff):>9} "
                f"{cell(r.hand_vs_numeric):>9} {cell(r.autodiff_vs_numeric):>9}  "
                f"{'yes' if r.ok else 'NO'}{sampled}"
            )
        tight, loose = self.tolerances
        lines.append(
            f"dtype {self.dtype} (finite differences in float64); pass if hand~auto <= {tight:g} "
            f"and ~num <= max({loose:g}, the differences' estimated error / 2\n+ the gradient's "
            "measured round-off), per leaf (relative error ‖a−b‖/(‖a‖+‖b‖))"
        )
        if self.unverifiable:
            lines.append(f"{len(self.unverifiable)} leaves not verifiable by finite differences "
                         f"at this point: their estimated error exceeds {UNVERIFIABLE:g} of "
                         "the numeric gradient (ill-conditioned); hand vs jax.grad decides "
                         "them alone")  # fmt: skip
        if self.excluded:
            lines.append(f"{self.excluded} probed entries excluded: their ±h stencil crossed a "
                         "kink (a ReLU sign, a max-pool winner, ...), where finite differences "
                         "measure neither side's derivative")  # fmt: skip
        return "\n".join(lines)


def check(
    cost_fn: Callable,
    params: dict,
    hand_grads: dict | None = None,
    eps: float | None = None,
    tolerances: tuple[float, float] | None = None,
    max_per_leaf: int | None = None,
    numeric_cost_fn: Callable | None = None,
    seed: int = 0,
) -> Report:
    """Compare hand-derived gradients, ``jax.grad(cost_fn)`` and finite differences per leaf.

    ``cost_fn(params) -> J``; ``hand_grads`` has the structure of ``params`` (omit it to
    check autodiff against numeric only). Hand vs autodiff runs in params' dtype; the finite
    differences (``probe``) in float64, on ``numeric_cost_fn`` (default ``cost_fn``: give a
    float64 one when ``cost_fn`` closes over float32 data) at params upcast, with one step
    per leaf (``leaf_steps``; ``eps`` replaces its ``RELATIVE_STEP``), skipping
    entries whose stencil crosses a kink. A leaf passes when every available relative error
    is within ``tolerances = (hand vs autodiff, vs numeric)``, by default from
    ``TOLERANCES``. ``max_per_leaf``: finite differences on at most that many random entries
    of each leaf (``seed`` picks them; hand vs autodiff still compares every entry).
    """
    dtype = np.dtype(jax.tree.leaves(params)[0].dtype)
    tight, loose = tolerances or TOLERANCES.get(dtype, TOLERANCES[np.dtype("float32")])
    # the arrays cost_fn closes over (data, a dropout key) as arguments, not constants: one
    # compiled program for every seed (compilation_cache.call); jax.closure_convert would
    # leave concrete arrays baked in
    closed = jax.make_jaxpr(cost_fn)(params)

    def converted(params, consts):
        return jax.core.eval_jaxpr(closed.jaxpr, consts, *jax.tree.leaves(params))[0]

    autodiff = compilation_cache.call(jax.jit(jax.grad(converted)), params, list(closed.consts))
    autodiff = jax.tree.leaves(autodiff)
    # a float32 gradient's own round-off, measured: jax.grad of the float64 cost at the same
    # (upcast) point; deep nets amplify it far beyond float32's 6e-8 (module docstring)
    exact = autodiff if dtype == np.float64 else jax.tree.leaves(
        _float64_grad(numeric_cost_fn or cost_fn, params))  # fmt: skip
    steps = None if eps is None else leaf_steps(params, eps)
    measured = probe(numeric_cost_fn or cost_fn, params,
                     sample_entries(params, max_per_leaf, seed), steps)  # fmt: skip
    numeric, errors, crossed = (jax.tree.leaves(tree) for tree in measured)
    hand = jax.tree.leaves(hand_grads) if hand_grads is not None else None
    rows = []
    names_and_leaves = zip(leaf_names(params), jax.tree.leaves(params), strict=True)
    for index, (name, leaf) in enumerate(names_and_leaves):
        probed = np.isfinite(np.ravel(np.asarray(numeric[index])))
        excluded = np.ravel(crossed[index]) & probed
        picked = probed & ~excluded

        def on_picked(g, picked=picked):
            return np.ravel(np.asarray(g, np.float64))[picked]

        hand_auto = hand_num = auto_num = beta = rounding = None
        tolerance, verifiable = loose, True
        if hand is not None:
            hand_auto = relative_error(hand[index], autodiff[index])
        if picked.any():
            auto_num = relative_error(on_picked(autodiff[index]), on_picked(numeric[index]))
            if hand is not None:
                hand_num = relative_error(on_picked(hand[index]), on_picked(numeric[index]))
            beta = numeric_relative_error(on_picked(numeric[index]), on_picked(errors[index]))
            verifiable = beta <= UNVERIFIABLE
            rounding = relative_error(on_picked(autodiff[index]), on_picked(exact[index]))
            tolerance = max(loose, beta / 2 + rounding + (tight if rounding else 0.0))
        numeric_ok = not verifiable or all(error is None or error <= tolerance
                                           for error in (hand_num, auto_num))  # fmt: skip
        ok = (hand_auto is None or hand_auto <= tight) and numeric_ok
        checked = None if picked.all() else int(picked.sum())
        rows.append(LeafReport(name, tuple(np.shape(leaf)), hand_auto, hand_num, auto_num, ok,
                               checked, int(excluded.sum()), beta, tolerance, verifiable,
                               rounding))  # fmt: skip
    return Report(rows, str(dtype), (tight, loose))
