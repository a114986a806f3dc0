"""``jaxnn.layers.distort``: the random affine distortions of LeCun et al. (1998) §III.C, drawn
in the training step. The map itself (identity, whole-pixel translations equal the shift
layer's, the draws' ranges), evaluation untouched, the second-order backward against a
brute force over the layer's Jacobian, planted bugs in both backwards caught, and
``lenet5_1998``'s option (the hand gradient with a step's key equals jax.grad's). The
first-order backward's three-way check is in ``tests/test_layers_papers.py``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import gradcheck, models
from jaxnn.errors import ConfigError
from jaxnn.layers import distort, shift


def _draws(rows):
    return jnp.asarray(rows, jnp.float64)


def test_the_identity_draw_and_whole_pixel_translations(x64):
    """s = q = 1, k = 0, t = 0 copies the image; a whole-pixel t moves it as the shift layer
    does, zeros coming in (the background)."""
    X = jax.random.uniform(jax.random.PRNGKey(0), (3, 9, 7, 2), jnp.float64)
    identity = distort.sampling(_draws([[1, 1, 0, 0, 0]] * 3), 9, 7)
    np.testing.assert_array_equal(distort.apply(X, identity), X)
    moves = distort.sampling(_draws([[1, 1, 0, 1, -2], [1, 1, 0, 0, 1], [1, 1, 0, -1, 0]]), 9, 7)
    offsets = jnp.asarray([[1, -2], [0, 1], [-1, 0]], jnp.int32)
    np.testing.assert_array_equal(distort.apply(X, moves), shift.shift_images(X, offsets, 2))


def test_scaling_squeezing_and_shear_move_a_point_where_the_formula_says(x64):
    """A bright pixel at (y′, x′) from the centre lands where the inverse map sends it:
    scaling by s = 0.5 reads at half the distance, so the point appears twice as far out;
    a shear k = 1 reads x′ + y′; a squeeze q = 2 halves y′ and doubles x′."""
    n = 15
    image = np.zeros((1, n, n, 1))
    image[0, 7 + 2, 7 + 1, 0] = 1.0  # (y′, x′) = (2, 1)
    scaled = distort.apply(jnp.asarray(image), distort.sampling(_draws([[0.5, 1, 0, 0, 0]]), n, n))
    assert float(scaled[0, 7 + 4, 7 + 2, 0]) == 1.0  # s·(4, 2) = (2, 1)
    sheared = distort.apply(jnp.asarray(image), distort.sampling(_draws([[1, 1, 1, 0, 0]]), n, n))
    assert float(sheared[0, 7 + 2, 7 - 1, 0]) == 1.0  # x′ + k·y′ = −1 + 2 = 1
    point = np.zeros((1, n, n, 1))
    point[0, 7 + 2, 7 + 2, 0] = 1.0  # (y′, x′) = (2, 2)
    squeezed = distort.apply(jnp.asarray(point), distort.sampling(_draws([[1, 2, 0, 0, 0]]), n, n))
    # q = 2: y_src = y′/2, x_src = 2x′: the output's (4, 1) reads (2, 2), and (3, 1) and
    # (5, 1) read halfway to it (bilinear: the point is stretched over three rows)
    np.testing.assert_array_equal(np.asarray(squeezed[0, 7 + 3 : 7 + 6, 7 + 1, 0]), [0.5, 1, 0.5])
    assert float(squeezed.sum()) == 2.0


def test_draws_cover_their_ranges_evaluation_is_the_identity_and_bad_strengths_are_refused():
    a, m = 0.2, 4000
    d = np.asarray(distort.draw(jax.random.PRNGKey(1), m, a))
    assert d.dtype == np.float32
    for column, (low, high) in enumerate([(0.8, 1.2), (0.8, 1.2), (-0.2, 0.2), (-2, 2), (-2, 2)]):
        assert low <= d[:, column].min() < low + 0.01 and high - 0.01 < d[:, column].max() <= high
    X = jnp.ones((2, 6, 6, 1))
    assert distort.distort_forward(X, a, None) == (X, None)
    A, cache = distort.distort_forward(X, a, jax.random.PRNGKey(2))
    again = distort.distort_forward(X, a, jax.random.PRNGKey(2))[0]
    np.testing.assert_array_equal(A, again)
    assert not np.allclose(A, X)  # the border reads zeros somewhere
    for bad in (-0.1, 0.5, True, "0.1"):
        with pytest.raises(ConfigError, match=r"in \[0, 0.5\)"):
            distort.random_affine(bad)


def _jacobian(cache, shape):
    return jax.jacfwd(lambda X: distort.apply(X, cache))(jnp.zeros(shape)).reshape(
        int(np.prod(shape)), int(np.prod(shape)))  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backward2_is_the_squared_jacobian_and_planted_bugs_are_caught(seed, x64):
    """``d2A_prev = (J ⊙ J)ᵀ d2A`` (every connection squared, the cross terms dropped) to
    1e-14; the first-order backward equals ``Jᵀ dA``. Planted: the weights not squared in the
    second order, and the forward's gather in place of the transpose in the first; each is
    off by more than 10 % for every seed."""
    shape = (2, 8, 7, 2)
    key = jax.random.PRNGKey(seed)
    cache = distort.sampling(distort.draw(key, 2, 0.3).astype(jnp.float64), 8, 7)
    J = _jacobian(cache, shape)
    d2A = jnp.abs(jax.random.normal(jax.random.fold_in(key, 1), shape, jnp.float64))
    dA = jax.random.normal(jax.random.fold_in(key, 2), shape, jnp.float64)
    want2 = ((J * J).T @ d2A.reshape(-1)).reshape(shape)
    want1 = (J.T @ dA.reshape(-1)).reshape(shape)
    layer = distort.random_affine(0.3)
    assert gradcheck.relative_error(layer.backward2({}, cache, d2A, dA, True)[0], want2) < 1e-14
    assert gradcheck.relative_error(layer.backward({}, cache, dA, True)[0], want1) < 1e-14
    assert gradcheck.relative_error(distort.transpose(d2A, cache, power=1), want2) > 0.1
    assert gradcheck.relative_error(distort.apply(dA, cache), want1) > 0.1


def test_lenet5_1998_distort_option_hand_equals_autodiff_and_evaluates_without_it(x64):
    """``--option distort=0.15``: the layer sits before the rescaling of the pixels, the hand
    gradient with a step's key equals jax.grad's, the hand curvature (SDLM) still exists,
    the key changes the cost and evaluation ignores it."""
    model = models.build("lenet5_1998", (32, 32, 1), 10, distort=0.15)
    assert model.stochastic and [name for name, _ in model.net][:2] == ["distort", "normalise"]
    assert model.curvature is not None
    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    X, Y = models.example(model, jax.random.PRNGKey(1), 3, jnp.float64)
    X = jnp.abs(X)  # pixels in [0, 1]-like, 0 the background

    @jax.jit
    def both(params, key):  # one program: the two gradients and the cost with this key
        hand_cost, hand = model.cost_and_grads(params, X, Y, 0.0, key=key)
        return hand_cost, hand, model.autodiff_cost_and_grads(params, X, Y, 0.0, key=key)[1]

    costs = set()
    for seed in range(2):
        cost, hand, auto = both(params, jax.random.PRNGKey(seed))
        costs.add(float(cost))
        for got, want in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
            assert gradcheck.relative_error(got, want) <= 1e-10
    assert len(costs) == 2 and float(model.cost(params, X, Y)) not in costs
    plain = models.build("lenet5_1998", (32, 32, 1), 10)
    np.testing.assert_array_equal(model.forward(params, X), plain.forward(params, X))


def test_jaxnn_gradcheck_of_lenet5_1998_with_distortions_passes():
    """``jaxnn gradcheck --model lenet5_1998 --option distort=0.15`` (float32): one fixed
    distortion per example, three ways. It first traces the hand pass under x64 (the finite
    differences' costs) and then without: C3's table indices were numpy int64 and that second
    trace raised in JAX's index normalisation (fixed: int32 indices). The float64 hand pass
    is checked against jax.grad above."""
    report = gradcheck.check_model("lenet5_1998", options={"distort": 0.15}, x64=False)
    assert report.ok, report.format()


def test_a_distorted_run_resumes_exactly_and_differs_from_an_undistorted_one(
    tmp_path, digits_small
):
    """``jaxnn train --model lenet5_1998 --option distort=0.15``: stopped after one epoch and
    resumed, it ends bitwise where the uninterrupted run ends (each step's distortions come
    from the run's key, as dropout's masks do); config.json records the option; and the
    distortions do reach training (the undistorted run ends elsewhere)."""
    import json
    import os

    from jaxnn import checkpoint, run

    def config(epochs, **options):
        return run.TrainConfig(dataset=digits_small, model="lenet5_1998", input_shape=(32, 32, 1),
                               epochs=epochs, batch_size=32, eval_every=0, checkpoint_secs=0.0,
                               options=options)  # fmt: skip

    full, part, plain = (str(tmp_path / name) for name in ("full", "part", "plain"))
    run.train_and_evaluate(config(2, distort=0.15), full, progress=False)
    run.train_and_evaluate(config(1, distort=0.15), part, progress=False)
    resumed = run.train_and_evaluate(config(2, distort=0.15), part, resume=True, progress=False)
    run.train_and_evaluate(config(2), plain, progress=False)
    assert resumed["resumed_from_epoch"] == 1
    a, b, c = (checkpoint.load(os.path.join(d, "checkpoints"), 2)["params"]
               for d in (full, part, plain))  # fmt: skip
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a["C1"]["W"], c["C1"]["W"])
    with open(os.path.join(full, "config.json")) as file:
        assert json.load(file)["model_options"]["distort"] == 0.15
