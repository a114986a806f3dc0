"""The gradient check in both directions: no false alarm on correct code (kinks included),
and every planted backward bug caught — by hand vs jax.grad and by hand vs finite differences.
experiments/gradcheck_trust.py measures the same over 20 seeds × every model, both dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gradcheck_mutations import MUTATIONS, patched, tie_to_last_maximum

from jaxnn import gradcheck, kinks
from jaxnn.layers import pool as pool_ops

# conv/pool layers at their fixed forms: no compiling and timing of every form (conftest)
pytestmark = pytest.mark.usefixtures("untuned")


def _seeds(mutation):
    """Two seeds where a check is cheap; the experiment runs 20 on every model."""
    return (0, 1) if mutation.model == "mlp" else (0,)


def _failed(report, column: str, tolerance: float) -> bool:
    """Some leaf's ``column`` exceeds ``tolerance`` — for the ~num columns, exceeds the leaf's
    own tolerance (at least ``tolerance``; more where the differences' error estimate says
    so) on a leaf that finite differences can verify."""
    if column == "hand_vs_autodiff":
        return any(r.hand_vs_autodiff is not None and r.hand_vs_autodiff > tolerance
                   for r in report.rows)  # fmt: skip
    return any(getattr(r, column) is not None and r.verifiable
               and getattr(r, column) > max(tolerance, r.numeric_tolerance)
               for r in report.rows)  # fmt: skip


# the correct models the mutations are planted in (each passes before a bug is planted)
CLEAN = {(m.model, tuple(sorted(m.kwargs.items()))): m for m in MUTATIONS}


@pytest.mark.parametrize("key", list(CLEAN), ids=[k[0] for k in CLEAN])
def test_the_unmutated_models_pass(key):
    mutation = CLEAN[key]
    for seed in _seeds(mutation):
        clean = gradcheck.check_model(mutation.model, seed=seed, x64=True, **mutation.kwargs)
        assert clean.ok, (mutation.model, seed, clean.format())


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_every_planted_bug_is_caught_both_ways(mutation):
    for seed in _seeds(mutation):
        with patched(mutation):
            report = gradcheck.check_model(mutation.model, seed=seed, x64=True,
                                           **mutation.kwargs)  # fmt: skip
        tight, loose = report.tolerances
        assert not report.ok, (mutation.name, seed, report.format())
        assert _failed(report, "hand_vs_autodiff", tight), (mutation.name, seed)
        assert _failed(report, "hand_vs_numeric", loose), (mutation.name, seed)


def test_a_planted_bug_is_caught_in_float32():
    mutation = MUTATIONS[4]  # the unflipped conv kernel, on LeNet-5
    with patched(mutation):
        report = gradcheck.check_model(mutation.model, seed=0, x64=False, **mutation.kwargs)
    assert _failed(report, "hand_vs_autodiff", report.tolerances[0])
    assert _failed(report, "hand_vs_numeric", report.tolerances[1])


def _tied_pool_problem():
    """A max-pool whose every 2×2 window holds four equal values (upsampled), and a cost
    that weighs its outputs: the pool is not differentiable at any input."""
    A = jnp.repeat(jnp.repeat(jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 3)), 2, 1), 2, 2)
    weights = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 4, 3))

    def cost(A_prev):
        return jnp.sum(weights * pool_ops.max_pool_forward(A_prev["A"], 2, 2)[0])

    def hand(A_prev):
        _, cache = pool_ops.max_pool_forward(A_prev["A"], 2, 2)
        return {"A": pool_ops.max_pool_backward(weights, cache)}

    return cost, hand, {"A": A}


def test_pool_ties_go_to_the_first_maximum_and_are_excluded_from_differences(x64):
    cost, hand, point = _tied_pool_problem()
    report = gradcheck.check(cost, point, hand(point))
    assert report.ok, report.format()
    # every probed entry sits in a tied window: the stencil crosses a kink each time
    assert report.excluded == point["A"].size and report.rows[0].hand_vs_numeric is None
    with tie_to_last_maximum():  # the other tied entry: only jax.grad's convention catches it
        bad = gradcheck.check(cost, point, hand(point))
    assert not bad.ok and bad.rows[0].hand_vs_autodiff > bad.tolerances[0]


def test_relu_kinks_are_excluded_not_reported(x64):
    """A unit at z = 1e-9 > 0: the ±h stencil crosses its kink. Plain central differences
    give 1/2 (the slopes' mean); the check excludes that entry and passes."""

    def cost(p):
        return jnp.sum(jax.nn.relu(p["z"]) * jnp.array([1.0, 2.0, 3.0]))

    point = {"z": jnp.array([1e-9, 0.5, -0.7])}
    naive = gradcheck.numerical_grad(cost, point, 1e-5)["z"]
    assert naive[0] == pytest.approx(0.5, rel=1e-3)  # what cried wolf before
    report = gradcheck.check(cost, point, {"z": jnp.array([1.0, 2.0, 0.0])})
    assert report.ok and report.excluded == 1, report.format()
    assert "kink crossed — excluded" in report.format()
    wrong = gradcheck.check(cost, point, {"z": jnp.array([1.0, 2.0, 3.0])})  # relu′(−0.7) = 1?
    assert not wrong.ok


@pytest.mark.parametrize("fn", [lambda z: jnp.clip(z, -0.5, 0.5), lambda z: jnp.abs(z),
                                lambda z: jnp.maximum(0.0, 1.0 - z),
                                lambda z: jnp.where(z > 0, z, 0.01 * z)],
                         ids=["clip", "abs", "hinge", "leaky_relu"])  # fmt: skip
def test_kink_patterns_see_each_piecewise_primitive(fn, x64):
    with_pattern = kinks.with_pattern(lambda z: jnp.sum(fn(z)), jnp.zeros(3))
    at = jnp.array([0.5 + 1e-9, 1e-9, 1.0 + 1e-9]) if fn(jnp.array(0.7)) < 0.7 else \
        jnp.array([1e-9, 1e-9, 1e-9])  # fmt: skip
    _, reference = with_pattern(at)
    for shift in (2e-9, -2e-9):
        _, moved = with_pattern(at - shift)
        assert bool(kinks.crossed(moved, reference)) is (shift > 0), shift
    assert not bool(kinks.crossed(with_pattern(at + 1e-12)[1], reference))


def test_kink_pattern_reaches_into_scan_and_ignores_the_softmax_max(x64):
    def cost(z):
        _, ys = jax.lax.scan(lambda c, x: (c, jax.nn.relu(x - c)), 0.3, z)
        return jax.nn.logsumexp(ys)  # its max is stop_gradient'ed: not a kink

    with_pattern = kinks.with_pattern(cost, jnp.zeros(4))
    z = jnp.array([0.3 + 1e-9, 1.0, 2.0, 2.0 + 1e-10])
    _, reference = with_pattern(z)
    assert bool(kinks.crossed(with_pattern(z.at[0].add(-2e-9))[1], reference))
    assert not bool(kinks.crossed(with_pattern(z.at[3].add(2e-10))[1], reference))


@pytest.mark.parametrize("model", ["lenet5", "vae"])
def test_float32_models_pass_with_float64_differences(model):
    """float32 hand vs jax.grad, float64 differences at the float32 point: no false alarm."""
    kwargs = {**MUTATIONS[4].kwargs, "hidden": "relu"} if model == "lenet5" else {}
    report = gradcheck.check_model(model, seed=3, x64=False, **kwargs)
    assert report.ok, report.format()
    assert report.dtype == "float32"
    assert np.isfinite(report.worst["hand_vs_numeric"])


def _wiggly(k: float):
    """``J(θ) = Σ sin(k θ) / k``: ∂J/∂θ = cos(k θ), and the central difference's truncation
    error, (k h)² / 6 of it, grows with k — a stand-in for a deep net's curvature."""
    point = {"theta": jnp.linspace(0.7, 1.3, 8)}  # rms ≈ 1: the step h = 1e-4

    def cost(p):
        return jnp.sum(jnp.sin(k * p["theta"])) / k

    return cost, {"theta": jnp.cos(k * point["theta"])}, point


def test_error_model_passes_curvature_and_catches_a_planted_bug(x64):
    """k = 100: one central difference at h is off by (k h)²/6 ≈ 2e-5 > 1e-6 — the old check
    failed this correct gradient (issue 33's deep ResNets); Richardson's extrapolation is
    good to ~(k h)⁴ and its error estimate lifts the tolerance only to its own size, so a
    gradient off by 1e-3 is still caught. k = 1e4 (k h = 1): no finite difference can tell,
    the leaf is reported unverifiable and hand vs jax.grad decides it alone."""
    cost, hand, point = _wiggly(100.0)
    naive = gradcheck.numerical_grad(cost, point, 1e-4)["theta"]
    assert gradcheck.relative_error(naive, hand["theta"]) > 1e-6  # what cried wolf before
    report = gradcheck.check(cost, point, hand)
    [row] = report.rows
    assert report.ok and row.verifiable, report.format()
    assert row.hand_vs_numeric < 1e-9 and row.numeric_tolerance < 1e-4, report.format()
    bad = gradcheck.check(cost, point, {"theta": hand["theta"] * 1.001})
    assert not bad.ok and bad.rows[0].hand_vs_numeric > bad.rows[0].numeric_tolerance

    cost, hand, point = _wiggly(1e4)
    report = gradcheck.check(cost, point, hand)
    assert report.ok and report.unverifiable == ["theta"], report.format()
    assert "not verifiable" in report.format()
    bad = gradcheck.check(cost, point, {"theta": hand["theta"] * 1.001})
    assert not bad.ok and bad.rows[0].hand_vs_autodiff > bad.tolerances[0]


def test_a_planted_bug_in_one_resnet_block_is_caught_both_ways(x64):
    """The error model on a batch-normed ResNet (tanh, the CLI's default; depth 8 to keep the
    test quick — the one-block mutation of gradcheck_mutations, on resnet56 over seeds and
    both dtypes, is measured in docs/guarantees.md): the correct gradients pass, and one
    block's dγ × 1.001 (a relative error of 5e-4 in that leaf) fails that leaf alone, by hand
    vs jax.grad and by hand vs finite differences within the leaf's own tolerance."""
    from jaxnn import models
    from jaxnn.models import resnet

    net = resnet.resnet((6, 6, 2), 3, depth=8, width=0.25, hidden="tanh")
    v = net.init(jax.random.PRNGKey(0), jnp.float64)
    X, Y = models.example(net, jax.random.PRNGKey(1), 4, jnp.float64)
    hand = jax.jit(net.cost_and_grads)(v, X, Y, 0.0)[1]
    cost = jax.jit(lambda p: net.cost(p, X, Y, 0.0))
    clean = gradcheck.check(cost, v, hand, max_per_leaf=4)
    assert clean.ok and not clean.unverifiable, clean.format()
    # the bug planted in the hand gradients themselves: one compiled program serves both
    gamma = hand["params"]["s2b1"]["bn2"]["gamma"]
    hand["params"]["s2b1"]["bn2"]["gamma"] = gamma * 1.001
    bad = gradcheck.check(cost, v, hand, max_per_leaf=4)
    [row] = [r for r in bad.rows if not r.ok]
    assert row.name == "params.s2b1.bn2.gamma" and row.verifiable, bad.format()
    assert row.hand_vs_autodiff > bad.tolerances[0]
    assert row.hand_vs_numeric > row.numeric_tolerance
