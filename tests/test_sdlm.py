"""Second derivatives backpropagated by hand (the layers' ``backward2``, LeCun et al. 1998,
Appendix C) and the stochastic diagonal Levenberg–Marquardt optimizer (``jaxnn.optim.sdlm``).

* every layer's second-order backward equals a brute-force evaluation of the same
  approximation, connection by connection (numpy loops, float64, small shapes), and so does
  a whole small LeNet-like net's ``curvature``;
* a planted error in any layer's second-order backward is caught by that comparison;
* against JAX: the exact Gauss–Newton diagonal equals the paper's on the last layer's
  parameters (no cross terms reach them) and not below; the exact Hessian diagonal differs
  again (the dropped ``f″`` terms) — ``experiments/sdlm_curvature.py`` measures by how much;
* the optimizer: its update, its schedule, a Newton step on a quadratic; every registered
  model either takes ``--optimizer sdlm`` or is refused; a run resumes exactly.
"""

import importlib
import itertools
import json
import os
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import activations, checkpoint, layers, models
from jaxnn.errors import ConfigError
from jaxnn.layers import conv as conv_ops
from jaxnn.layers import lenet1998
from jaxnn.models.convnet import from_layers
from jaxnn.optim import sdlm
from jaxnn.run import TrainConfig, train_and_evaluate

pytestmark = pytest.mark.usefixtures("untuned")
dense_ops = importlib.import_module("jaxnn.layers.dense")  # jaxnn.layers.dense is the layer

TABLE = ((0, 1), (1, 2), (2, 0), (0, 1, 2))  # a small connection table: 3 maps in, 4 out


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def small_net(num_classes: int = 3):
    """LeNet-5's layers at small sizes: 8×8×1 → C1 3@3×3 → S2 → C3 (TABLE) 2×2 → flatten
    → F6 84 → RBF; every unit squashed, as in the paper."""
    sq = "squash"
    return (("normalise", lenet1998.normalise_input()),
            ("C1", layers.conv2d(3, 3, 1, "valid", "lecun98", backward="fast")),
            ("C1_squash", layers.activation(sq)), ("S2", lenet1998.subsample(2)),
            ("S2_squash", layers.activation(sq)), ("C3", lenet1998.partial_conv(2, TABLE)),
            ("C3_squash", layers.activation(sq)), ("flatten", layers.flatten()),
            ("F6", layers.dense(84, "lecun98")), ("F6_squash", layers.activation(sq)),
            ("output", lenet1998.rbf(num_classes)))  # fmt: skip


def small_model(loss_j=None):
    return from_layers("small_lenet", small_net(), (8, 8, 1), "rbf", rbf_j=loss_j)


def data(seed: int, m: int = 3):
    key_x, key_y = jax.random.split(jax.random.PRNGKey(seed))
    X = jax.random.uniform(key_x, (m, 8, 8, 1), jnp.float64)
    Y = jax.nn.one_hot(jax.random.randint(key_y, (m,), 0, 3), 3, dtype=jnp.float64).T
    return X, Y


def perturbed(params, seed: int):
    """The init moved off its symmetric start (biases 0, S2's u small): every term alive."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(1000 + seed), len(leaves))
    return tree.unflatten([x + 0.3 * jax.random.normal(k, x.shape, x.dtype)
                           for k, x in zip(keys, leaves, strict=True)])  # fmt: skip


# ---- brute force: the approximation evaluated connection by connection ----------------------


def brute_conv(P, W, d2Z):
    """``z[i,h,w,k] += P[i,h+p,w+q,c] · W[p,q,c,k]`` (stride 1, no padding), one connection
    at a time: ``d2W += x² d2z``, ``d2P += W² d2z``, ``d2b += d2z``."""
    P, W, d2Z = map(np.asarray, (P, W, d2Z))
    m, n_H, n_W, n_C = d2Z.shape
    f, _, n_C_prev, _ = W.shape
    d2W, d2P, d2b = np.zeros_like(W), np.zeros_like(P), np.zeros(n_C)
    for i, h, w, k in itertools.product(range(m), range(n_H), range(n_W), range(n_C)):
        d2b[k] += d2Z[i, h, w, k]
        for p, q, c in itertools.product(range(f), range(f), range(n_C_prev)):
            d2W[p, q, c, k] += P[i, h + p, w + q, c] ** 2 * d2Z[i, h, w, k]
            d2P[i, h + p, w + q, c] += W[p, q, c, k] ** 2 * d2Z[i, h, w, k]
    return d2P, d2W, d2b.reshape(1, 1, 1, n_C)


def brute_subsample(A, u, d2Z, f=2):
    A, u, d2Z = map(np.asarray, (A, u, d2Z))
    d2A, d2u, d2b = np.zeros_like(A), np.zeros_like(u), np.zeros_like(u)
    for i, h, w, c in np.ndindex(*d2Z.shape):
        d2b[c] += d2Z[i, h, w, c]
        for p, q in itertools.product(range(f), range(f)):  # f² connections, weight u_c
            d2u[c] += A[i, h * f + p, w * f + q, c] ** 2 * d2Z[i, h, w, c]
            d2A[i, h * f + p, w * f + q, c] += u[c] ** 2 * d2Z[i, h, w, c]
    return d2A, d2u, d2b


def brute_dense(A, W, d2Z):
    A, W, d2Z = map(np.asarray, (A, W, d2Z))
    d2A, d2W, d2b = np.zeros_like(A), np.zeros_like(W), np.zeros((W.shape[0], 1))
    for i, j, e in np.ndindex(W.shape[0], W.shape[1], A.shape[1]):
        d2W[i, j] += A[j, e] ** 2 * d2Z[i, e]
        d2A[j, e] += W[i, j] ** 2 * d2Z[i, e]
    for i, e in np.ndindex(*d2Z.shape):
        d2b[i, 0] += d2Z[i, e]
    return d2A, d2W, d2b


def brute_rbf(X, codes, d2Y, dY):
    """``y_i = Σ_j (x_j − w_ij)²``: per connection ``(∂y_i/∂x_j)² d2Y_i + ∂²y_i/∂x_j² dY_i``."""
    X, codes, d2Y, dY = map(np.asarray, (X, codes, d2Y, dY))
    d2X = np.zeros_like(X)
    for i, j, e in np.ndindex(codes.shape[0], codes.shape[1], X.shape[1]):
        d2X[j, e] += (2 * (X[j, e] - codes[i, j])) ** 2 * d2Y[i, e] + 2 * dY[i, e]
    return d2X


def brute_curvature(params, X, Y, j=None):
    """The whole small net's diagonal second derivatives: forward in numpy, the boundary
    condition at the RBF output, then each layer's brute force in reverse."""
    p = jax.tree.map(np.asarray, params)
    g, gp = activations.get("squash")
    scale = lenet1998.FOREGROUND - lenet1998.BACKGROUND
    A0 = lenet1998.BACKGROUND + scale * np.asarray(X)
    W3 = np.asarray(lenet1998.full_kernel(jnp.asarray(p["C3"]["W"]), TABLE, 3))
    Z1 = np.asarray(conv_ops.conv_forward(A0, p["C1"]["W"], p["C1"]["b"], 1, "valid")[0])
    A1 = np.asarray(g(Z1))
    Z2 = np.asarray(lenet1998.subsample_forward(A1, p["S2"]["u"], p["S2"]["b"])[0])
    A2 = np.asarray(g(Z2))
    Z3 = np.asarray(conv_ops.conv_forward(A2, W3, p["C3"]["b"], 1, "valid")[0])
    A3 = np.asarray(g(Z3))
    F = A3.reshape(A3.shape[0], -1).T
    Z6 = p["F6"]["W"] @ F + p["F6"]["b"]
    A6 = np.asarray(g(Z6))
    codes = lenet1998.hadamard_codes(3)
    P = np.asarray(lenet1998.rbf_forward(jnp.asarray(A6), jnp.asarray(codes))[0])
    dY = np.asarray(lenet1998.rbf_cost_grad(jnp.asarray(P), Y, j))
    d2Y = np.asarray(lenet1998.rbf_cost_grad2(jnp.asarray(P), Y, j))
    d2A6 = brute_rbf(A6, codes, d2Y, dY)
    d2Z6 = np.asarray(gp(Z6)) ** 2 * d2A6
    d2F, d2W6, d2b6 = brute_dense(F, p["F6"]["W"], d2Z6)
    d2Z3 = np.asarray(gp(Z3)) ** 2 * d2F.T.reshape(A3.shape)
    d2A2, d2W3_full, d2b3 = brute_conv(A2, W3, d2Z3)
    ins, outs = lenet1998.table_indices(TABLE)
    d2Z2 = np.asarray(gp(Z2)) ** 2 * d2A2
    d2A1, d2u2, d2b2 = brute_subsample(A1, p["S2"]["u"], d2Z2)
    d2Z1 = np.asarray(gp(Z1)) ** 2 * d2A1
    _, d2W1, d2b1 = brute_conv(A0, p["C1"]["W"], d2Z1)
    return {"C1": {"W": d2W1, "b": d2b1}, "S2": {"u": d2u2, "b": d2b2},
            "C3": {"W": d2W3_full[:, :, ins, outs], "b": d2b3},
            "F6": {"W": d2W6, "b": d2b6}}  # fmt: skip


def assert_trees_close(a, b, rtol=1e-10):
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b),
                            strict=True):  # fmt: skip
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-14,
                                   err_msg=jax.tree_util.keystr(path))  # fmt: skip


# ---- each layer against its brute force ------------------------------------------------------


def test_conv_backward2_is_the_per_connection_sum():
    key = jax.random.split(jax.random.PRNGKey(0), 3)
    A = jax.random.normal(key[0], (2, 6, 5, 2), jnp.float64)
    W = jax.random.normal(key[1], (3, 3, 2, 3), jnp.float64)
    _, cache = conv_ops.conv_forward(A, W, jnp.zeros((1, 1, 1, 3)), 1, "valid")
    d2Z = jax.random.uniform(key[2], (2, 4, 3, 3), jnp.float64)
    for got, want in zip(conv_ops.conv_backward2(d2Z, cache), brute_conv(A, W, d2Z),
                         strict=True):  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_partial_conv_backward2_gathers_the_table():
    key = jax.random.split(jax.random.PRNGKey(1), 3)
    layer = lenet1998.partial_conv(2, TABLE)
    A = jax.random.normal(key[0], (2, 4, 4, 3), jnp.float64)
    params = layer.init(key[1], (4, 4, 3), jnp.float64)
    _, cache = layer.forward(params, A)
    d2Z = jax.random.uniform(key[2], (2, 3, 3, 4), jnp.float64)
    d2A, d2p = layer.backward2(params, cache, d2Z, None, True)
    ins, outs = lenet1998.table_indices(TABLE)
    d2A_ref, d2W_full, d2b = brute_conv(A, lenet1998.full_kernel(params["W"], TABLE, 3), d2Z)
    np.testing.assert_allclose(d2A, d2A_ref, rtol=1e-12)
    np.testing.assert_allclose(d2p["W"], d2W_full[:, :, ins, outs], rtol=1e-12)
    np.testing.assert_allclose(d2p["b"], d2b, rtol=1e-12)


def test_subsample_backward2_sums_squares_not_the_square_of_the_sum():
    key = jax.random.split(jax.random.PRNGKey(2), 3)
    A = jax.random.normal(key[0], (2, 5, 4, 3), jnp.float64)  # 5 rows: the last is unreached
    u = jax.random.normal(key[1], (3,), jnp.float64)
    _, cache = lenet1998.subsample_forward(A, u, jnp.zeros(3))
    d2Z = jax.random.uniform(key[2], (2, 2, 2, 3), jnp.float64)
    for got, want in zip(lenet1998.subsample_backward2(d2Z, cache), brute_subsample(A, u, d2Z),
                         strict=True):  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_dense_backward2_is_the_per_connection_sum():
    key = jax.random.split(jax.random.PRNGKey(3), 3)
    A = jax.random.normal(key[0], (4, 3), jnp.float64)
    W = jax.random.normal(key[1], (5, 4), jnp.float64)
    d2Z = jax.random.uniform(key[2], (5, 3), jnp.float64)
    for got, want in zip(dense_ops.dense_backward2(d2Z, A, W), brute_dense(A, W, d2Z),
                         strict=True):  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("j", [None, 1.0])
def test_rbf_backward2_is_the_exact_diagonal_of_its_own_curvature(j):
    """Eq. 9 is linear in the penalties and the penalties quadratic in x: the RBF layer's
    boundary condition is then the *exact* diagonal second derivative of E in F6's output
    (2/m); with Eq. 10, the brute force of the same diagonal approximation."""
    key = jax.random.split(jax.random.PRNGKey(4), 2)
    codes = jnp.asarray(lenet1998.hadamard_codes(3))
    X = jax.random.normal(key[0], (84, 2), jnp.float64)
    Y = jax.nn.one_hot(jnp.array([2, 0]), 3, dtype=jnp.float64).T
    P, cache = lenet1998.rbf_forward(X, codes)
    dY, d2Y = lenet1998.rbf_cost_grad(P, Y, j), lenet1998.rbf_cost_grad2(P, Y, j)
    d2X = lenet1998.rbf_backward2(d2Y, dY, cache, codes)
    np.testing.assert_allclose(d2X, brute_rbf(X, codes, d2Y, dY), rtol=1e-12)
    if j is None:
        exact = jnp.diag(jax.hessian(lambda x: lenet1998.rbf_cost(
            lenet1998.rbf_forward(x.reshape(84, 2), codes)[0], Y))(X.ravel()))  # fmt: skip
        np.testing.assert_allclose(d2X.ravel(), exact, rtol=1e-12)


# ---- the whole net: equal to the brute force; every layer's planted error caught -----------


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("j", [None, 1.0])
def test_curvature_equals_the_brute_force_of_the_same_approximation(seed, j):
    model = small_model(j)
    params = perturbed(model.init(jax.random.PRNGKey(seed), jnp.float64), seed)
    X, Y = data(seed)
    assert_trees_close(model.curvature(params, X, Y), brute_curvature(params, X, Y, j))


def _planted(module, name, wrong):
    real = getattr(module, name)
    return mock.patch.object(module, name, lambda *a, **kw: wrong(real, *a, **kw))


def _conv_kernel_not_squared(real, d2Z, cache, need=True):
    return conv_ops.conv_backward(d2Z, cache._replace(P=cache.P**2), need)  # W, not W²


def _dense_input_not_squared(real, d2Z, A, W, need=True):
    return dense_ops.dense_backward(d2Z, A, W * W, need)  # A, not A²


def _subsample_square_of_sum(real, d2Z, cache, f=2, need=True):
    # (Σ_window x)²: the cross terms between the connections kept
    return lenet1998.subsample_backward(d2Z, cache._replace(S=cache.S**2, u=cache.u**2), f, need)


def _table_transposed(real, d2Z, cache, table, need=True):
    d2A, d2W, d2b = real(d2Z, cache, table, need)
    return d2A, d2W[::-1], d2b  # each kernel's rows in the wrong order


def _activation_not_squared(real, d2A, Z, g_prime):
    return g_prime(Z) * d2A  # f′, not f′²


def _rbf_curvature_dropped(real, d2Y, dY, cache, codes):
    return real(d2Y, jnp.zeros_like(dY), cache, codes)  # its own 2 Σ dY dropped


PLANTED = {
    "conv": lambda: _planted(conv_ops, "conv_backward2", _conv_kernel_not_squared),
    "dense": lambda: _planted(dense_ops, "dense_backward2", _dense_input_not_squared),
    "subsample": lambda: _planted(lenet1998, "subsample_backward2", _subsample_square_of_sum),
    "partial_conv": lambda: _planted(lenet1998, "partial_conv_backward2", _table_transposed),
    "squash": lambda: _planted(layers, "activation_backward2", _activation_not_squared),
    "rbf": lambda: _planted(lenet1998, "rbf_backward2", _rbf_curvature_dropped),
}


@pytest.mark.parametrize("layer", sorted(PLANTED))
def test_a_planted_error_in_each_second_order_backward_is_caught(layer):
    model = small_model()
    params = perturbed(model.init(jax.random.PRNGKey(0), jnp.float64), 0)
    X, Y = data(0)
    want = brute_curvature(params, X, Y)
    assert_trees_close(model.curvature(params, X, Y), want)  # correct: passes
    with PLANTED[layer](), pytest.raises(AssertionError):
        assert_trees_close(model.curvature(params, X, Y), want)


# ---- against JAX's exact Hessian and Gauss–Newton diagonals ---------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_last_layer_equals_exact_gauss_newton_and_the_layers_below_do_not(seed):
    """No cross term reaches F6's own parameters (each weight feeds one unit; the loss's
    Hessian in x is diagonal): the paper's approximation is exact there. Below, it drops the
    cross terms between units and connections, and differs."""

    model = small_model()
    params = perturbed(model.init(jax.random.PRNGKey(seed), jnp.float64), seed)
    X, Y = data(seed)
    paper = model.curvature(params, X, Y)
    _, gauss_newton = sdlm.exact_diagonals(model, params, X, Y, hessian=False)
    for name in ("W", "b"):
        np.testing.assert_allclose(paper["F6"][name], gauss_newton["F6"][name], rtol=1e-10)
    for layer in ("C1", "C3"):
        assert not np.allclose(paper[layer]["W"], gauss_newton[layer]["W"], rtol=1e-3)
    assert min(float(x.min()) for x in jax.tree.leaves(gauss_newton)) >= 0
    assert min(float(x.min()) for x in jax.tree.leaves(paper)) >= 0


# ---- the optimizer --------------------------------------------------------------------------


def test_schedule_is_the_papers_per_pass():
    """§III.C: 0.0005 for 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for 4, then 0.00001."""
    want = [0.0005] * 2 + [0.0002] * 3 + [0.0001] * 3 + [0.00005] * 4 + [0.00001] * 8
    got = [float(sdlm.eta(jnp.asarray(k), 0.0005)) for k in range(20)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_update_is_eta_over_mu_plus_h_and_a_newton_step_on_a_quadratic():
    """E = ½ Σ h_k (w_k − 1)²: with the exact h and μ → 0, η = 1 lands on the minimum in one
    step (the diagonal Newton step); the pass counter moves η on the schedule."""
    h = {"a": jnp.array([1.0, 10.0, 100.0]), "b": jnp.array([[0.5]])}
    w = jax.tree.map(jnp.zeros_like, h)

    def cost(w):
        return sum(0.5 * jnp.sum(hk * (wk - 1) ** 2) for hk, wk in
                   zip(jax.tree.leaves(h), jax.tree.leaves(w), strict=True))  # fmt: skip

    opt = sdlm.sdlm(1.0, steps_per_epoch=1, mu=1e-12)
    state = opt.init(w)._replace(h=h)
    updates, state = opt.update(jax.grad(cost)(w), state)
    w1 = optax.apply_updates(w, updates)
    for leaf in jax.tree.leaves(w1):
        np.testing.assert_allclose(leaf, 1.0, rtol=1e-9)
    assert int(state.count) == 1
    opt = sdlm.sdlm(0.0005, steps_per_epoch=3, mu=0.02)
    state = opt.init(w)._replace(h=h, count=jnp.asarray(6))  # pass 3 (0-based 2): 0.0002
    g = jax.tree.map(jnp.ones_like, w)
    updates, _ = opt.update(g, state)
    np.testing.assert_allclose(updates["a"], -0.0002 / (0.02 + h["a"]), rtol=1e-12)


def test_refresh_replaces_only_the_curvature_and_is_a_no_op_for_other_optimizers():
    model = small_model()
    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    X, Y = data(0, m=6)
    X_rows, Y_rows = X, Y.T
    refresh = sdlm.make_refresh(model, size=4)
    order = np.array([5, 0, 3, 2, 1, 4])
    state = sdlm.sdlm(0.0005).init(params)
    new = refresh(state, params, X_rows, Y_rows, order, jax.random.PRNGKey(0))
    # the first 4 of the epoch's order: examples 5, 0, 3, 2
    idx = np.array([5, 0, 3, 2])
    assert_trees_close(new.h, model.curvature(params, X[idx], Y[:, idx]))
    adam = optax.adam(1e-3).init(params)
    assert refresh(adam, params, X_rows, Y_rows, order, jax.random.PRNGKey(0)) is adam
    chained = optax.chain(optax.clip_by_global_norm(1.0), sdlm.sdlm()).init(params)
    assert sdlm.holds_sdlm(chained)
    assert_trees_close(refresh(chained, params, X_rows, Y_rows, order,
                               jax.random.PRNGKey(0))[1].h, new.h)  # fmt: skip


def test_hutchinson_estimate_approaches_the_exact_hessian_diagonal():
    """The autodiff estimate (models without a hand-derived pass): |E_v[v ⊙ H v]|, here
    on a model whose Hessian diagonal JAX gives exactly; a wrong probe (v ⊙ v ⊙ Hv) is not."""
    import jax.flatten_util

    model = small_model()
    params = perturbed(model.init(jax.random.PRNGKey(0), jnp.float64), 0)
    X, Y = data(0)
    hessian, gauss_newton = sdlm.exact_diagonals(model, params, X, Y)
    # the Gauss–Newton form drops the f″ terms: it is not the Hessian's diagonal
    assert not np.allclose(jax.flatten_util.ravel_pytree(gauss_newton)[0],
                           jax.flatten_util.ravel_pytree(hessian)[0], rtol=1e-3)  # fmt: skip
    exact = jnp.abs(jax.flatten_util.ravel_pytree(hessian)[0])
    curvature = sdlm.make_curvature(model, "autodiff", probes=400)
    estimate = curvature(params, X, Y, jax.random.PRNGKey(1))
    got = jax.flatten_util.ravel_pytree(estimate)[0]
    error = float(jnp.linalg.norm(got - exact) / jnp.linalg.norm(exact))
    assert error < 0.25, error  # Monte Carlo: ~1/√400 of the off-diagonal mass


# ---- the registry and the training path -----------------------------------------------------


@pytest.mark.parametrize("name", models.MODELS)
def test_every_registered_model_takes_sdlm_or_is_refused(name):
    """The promise over the registry: a model with its own multi-cost step (the GAN's
    players) is refused in one line naming the fix; every other model gets a curvature,
    by hand (every layer has a backward2) or by autodiff. The curvature itself is computed
    for every model by ``test_every_registered_model_gets_a_finite_non_negative_curvature``
    (the slower tier: its compiles take minutes in all)."""
    from test_defaults import small

    from jaxnn.models import defaults

    model = small(name, defaults.for_model(name))
    if model.make_step is not None and not sdlm._is_stateful(model):
        with pytest.raises(ConfigError, match="sdlm.*use adam"):
            sdlm.check_model(model)
        return
    source = sdlm.curvature_source(model)
    assert source == ("hand" if model.curvature is not None else "autodiff")
    assert (name == "lenet5_1998") == (source == "hand")


SMALL = dict(dataset="digits", model="mlp", layers=(64, 16, 10), batch_size=50, lr=0.05,
             optimizer="sdlm", seed=3)  # fmt: skip


def test_sdlm_run_learns_and_resumes_exactly(tmp_path):
    """A short run trains (the curvature refreshed before each pass, the autodiff estimate
    for the MLP) and a run stopped after 2 epochs and resumed equals the uninterrupted one
    bit for bit: h and the step counter are in the checkpointed optimizer state."""
    full = tmp_path / "full"
    metrics = train_and_evaluate(TrainConfig(**SMALL, epochs=3), str(full), progress=False)
    assert metrics["test_accuracy"] > 0.5, metrics["test_accuracy"]
    part = tmp_path / "part"
    train_and_evaluate(TrainConfig(**SMALL, epochs=2), str(part), progress=False)
    resumed = train_and_evaluate(TrainConfig(**SMALL, epochs=3), str(part), resume=True,
                                 progress=False)  # fmt: skip
    assert resumed["resumed_from_epoch"] == 2
    a = checkpoint.load(str(full / "checkpoints"), 3)
    b = checkpoint.load(str(part / "checkpoints"), 3)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    h = [np.asarray(x) for x in jax.tree.leaves(a["opt_state"])]
    assert any(x.size > 1 and (x > 0).all() for x in h)  # h was estimated, not left at 0
    history = [json.loads(line) for line in open(os.path.join(full, "history.jsonl"))]
    assert history[-1]["minibatch_cost_mean"] < history[0]["minibatch_cost_mean"]


def test_the_papers_run_experiment_trains_with_the_hand_derived_curvature(digits_small, tmp_path):
    """experiments/sdlm_lenet5.py, one pass at batch 10 on 200 digits: the training path
    with lenet5_1998's hand-derived curvature refreshed before the pass, and its figure."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "experiments", "sdlm_lenet5.py")
    spec = importlib.util.spec_from_file_location("experiments_sdlm_lenet5", path)
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules["experiments_sdlm_lenet5"] = module
    spec.loader.exec_module(module)
    with jax.enable_x64(False):
        metrics = module.main(module.Config(dataset=digits_small, seeds=(0,), epochs=1,
                                            batch_size=10, lr=0.0002), str(tmp_path))  # fmt: skip
    assert 0 <= metrics["seed0_test_error_pct"] <= 100
    assert (tmp_path / "test_error.png").exists()
    run = json.loads((tmp_path / "seed0" / "metrics.json").read_text())
    first = json.loads((tmp_path / "seed0" / "history.jsonl").read_text().splitlines()[0])
    assert run["final_cost"] < first["initial_cost"]  # it learned: Eq. 9's J fell
    state = checkpoint.load(str(tmp_path / "seed0" / "checkpoints"), 1)["opt_state"]
    assert int(state.count if hasattr(state, "count") else state["count"]) == 20  # 200 / 10


def test_sdlm_refuses_decay_and_beta1_and_the_paths_without_its_refresh():
    from jaxnn import sweep, train

    with pytest.raises(ConfigError, match="decay"):
        train.make_optimizer(0.0005, 0.9, 10, "sdlm")
    with pytest.raises(ConfigError, match="beta1"):
        train.make_optimizer(0.0005, name="sdlm", beta1=0.9)
    with pytest.raises(ConfigError, match="sweep does not re-estimate"):
        sweep._make_sweep((4, 3, 2), "relu", "softmax", 8, 4, optimizer="sdlm")
    X, Y = jnp.ones((4, 8)), jax.nn.one_hot(jnp.arange(8) % 2, 2).T
    params = {"W1": jnp.zeros((2, 4)), "b1": jnp.zeros((2, 1))}
    with pytest.raises(ConfigError, match="fit does not re-estimate"):
        train.fit(params, X, Y, lambda p, X, Y: (0.0, p), sdlm.sdlm(), 1)


@pytest.mark.skipif(os.environ.get("JAXNN_TIER2") != "1",
                    reason="the slower tier: JAXNN_TIER2=1 pytest tests/test_sdlm.py")  # fmt: skip
@pytest.mark.parametrize("name", models.MODELS)
def test_every_registered_model_gets_a_finite_non_negative_curvature(name):
    """The curvature itself, for every model SDLM takes (small sizes, float32): finite,
    ≥ 0, shaped like what its optimizer updates; one SDLM step keeps the params finite."""
    from test_defaults import small

    from jaxnn import train
    from jaxnn.models import defaults

    with jax.enable_x64(False):
        model = small(name, defaults.for_model(name))
        if model.make_step is not None and not sdlm._is_stateful(model):
            return  # refused (test_every_registered_model_takes_sdlm_or_is_refused)
        params = model.init(jax.random.PRNGKey(0))
        X, Y = models.example(model, jax.random.PRNGKey(1), 4)
        init_opt_state, step = train.model_step(model, "hand", sdlm.sdlm(1e-4, 1))
        state = init_opt_state(params)
        refresh = sdlm.make_refresh(model, size=4)
        X_rows, Y_rows = train.device_rows(X, Y, model.example_axis)
        state = refresh(state, params, X_rows, Y_rows, np.arange(4), jax.random.PRNGKey(2))
        trained = params["params"] if sdlm._is_stateful(model) else params
        for h, target in zip(jax.tree.leaves(state.h), jax.tree.leaves(trained), strict=True):
            assert h.shape == target.shape and bool(jnp.all(jnp.isfinite(h) & (h >= 0)))
        kw = {"key": jax.random.PRNGKey(3)}
        params, state, J = step(params, state, X, Y, **kw)
        assert bool(train.params_finite(params))
