"""Recurrent networks: the tanh RNN, the LSTM and the GRU, hand-derived BPTT = jax.grad = central
differences over sizes, sequence lengths 1…30, batch 1, many-to-one (classification,
regression) and many-to-many (tokens, masks); layers by hand; training through the one
path; sampling; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import gradcheck, models
from jaxnn.data import sequences
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import gru, lstm, rnn, temporal
from jaxnn.models import recurrent

TASKS = st.sampled_from(["softmax", "linear", "sigmoid", "tokens"])


def _case(cell, task, T, n_x, n_h, m, dtype, seed=0):
    """A model, params with biases moved off zero, and random data of the task's form."""
    shape, outputs, options = (T, n_x), 3, {"hidden_size": n_h}
    if task == "tokens":
        shape, outputs, options = (T,), 5, {"hidden_size": n_h, "embed": n_x}
    elif task != "softmax":
        outputs, options = (2 if task == "linear" else 1), {**options, "output": task}
    net = models.build(cell, shape, outputs, **options)
    key = jax.random.PRNGKey(seed)
    params = jax.tree.map(lambda p: p + 0.05, net.init(key, dtype))
    X, Y = models.example(net, jax.random.fold_in(key, 1), m, dtype)
    return net, params, X, Y


def _relative(a, b):
    a, b = np.ravel(np.asarray(a)), np.ravel(np.asarray(b))
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else np.linalg.norm(a - b) / denominator


def _compared(cell, task, T, n_x, n_h, m, dtype, l2):
    """(params, hand's (J, grads), jax.grad's) at one case: hand and jax.grad one compiled
    program, not two."""
    net, params, X, Y = _case(cell, task, T, n_x, n_h, m, dtype)
    hand_and_auto = jax.jit(
        lambda *data: (net.cost_and_grads(*data), net.autodiff_cost_and_grads(*data))
    )
    return params, *hand_and_auto(params, X, Y, l2)


@given(cell=st.sampled_from(["rnn", "lstm", "gru"]), task=TASKS, T=st.integers(1, 30),
       n_x=st.integers(1, 5), n_h=st.integers(1, 6), m=st.integers(1, 4))  # fmt: skip
@settings(max_examples=8)  # each drawn shape compiles a program: kept few for the suite's time
def test_hand_equals_autodiff_float64(cell, task, T, n_x, n_h, m, x64):
    params, (J, hand), (J_auto, auto) = _compared(cell, task, T, n_x, n_h, m, jnp.float64, 0.01)
    assert abs(float(J) - float(J_auto)) <= 1e-12 * max(1.0, abs(float(J)))
    for name in params:
        assert _relative(hand[name], auto[name]) <= 1e-10, name


@given(cell=st.sampled_from(["rnn", "lstm", "gru"]), task=TASKS, T=st.integers(1, 12))
@settings(max_examples=4)
def test_hand_equals_autodiff_float32(cell, task, T):
    params, (_, hand), (_, auto) = _compared(cell, task, T, 3, 4, 2, jnp.float32, 0.0)
    for name in params:
        assert _relative(hand[name], auto[name]) <= 1e-5, name


CENTRAL = [("rnn", "softmax", 9, 1), ("lstm", "tokens", 7, 2), ("lstm", "linear", 12, 3),
           ("rnn", "tokens", 1, 1), ("gru", "softmax", 8, 1), ("gru", "tokens", 5, 2)]  # fmt: skip


@pytest.mark.parametrize("cell, task, T, m", CENTRAL)
def test_hand_vs_central_differences(cell, task, T, m, x64):
    net, params, X, Y = _case(cell, task, T, 2, 3, m, jnp.float64, seed=3)
    _, hand = jax.jit(net.cost_and_grads)(params, X, Y, 0.01)
    report = gradcheck.check(lambda p: net.cost(p, X, Y, 0.01), params, hand)
    assert report.ok, report.format()
    assert report.worst["hand_vs_numeric"] <= 1e-7


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_remat_gives_the_same_gradients(cell, x64):
    """The LSTM (GRU) that recomputes its gates (memory O(H, C) per step) = the one that stores
    them."""
    plain, params, X, Y = _case(cell, "softmax", 11, 3, 4, 2, jnp.float64)
    lean = models.build(cell, (11, 3), 3, hidden_size=4, remat=True)
    (J, grads), (J_lean, grads_lean), (_, auto_lean) = jax.jit(  # one program, not op by op
        lambda *data: (
            plain.cost_and_grads(*data),
            lean.cost_and_grads(*data),
            lean.autodiff_cost_and_grads(*data),
        )  # fmt: skip
    )(params, X, Y)
    assert float(J) == pytest.approx(float(J_lean), rel=1e-14)
    for name in params:
        assert _relative(grads[name], grads_lean[name]) <= 1e-13, name
        assert _relative(grads[name], auto_lean[name]) <= 1e-10, name


def test_masked_steps_carry_no_gradient(x64):
    """Targets < 0 are padding: they add nothing to J and nothing to any gradient."""
    net, params, X, Y = _case("lstm", "tokens", 6, 2, 3, 2, jnp.float64)
    Y = Y.at[:, 0].set(jnp.where(jnp.arange(6) >= 4, -1, Y[:, 0]))
    cost_and_grads = jax.jit(net.cost_and_grads)  # one program for both, not op by op
    J, grads = cost_and_grads(params, X, Y)
    X2 = X.at[4:, 0].set((X[4:, 0] + 1) % 5)  # change tokens only read after the mask...
    Y2 = Y
    J2, grads2 = cost_and_grads(params, X2, Y2)
    assert float(J) == pytest.approx(float(J2), rel=1e-14)  # ...they change nothing
    for name in params:
        np.testing.assert_allclose(grads[name], grads2[name], rtol=1e-12, atol=1e-15)


def test_all_masked_is_zero():
    S = jnp.ones((3, 4, 2))
    J, dS, count = temporal.softmax_cross_entropy(S, -jnp.ones((3, 2), jnp.int32))
    assert float(J) == 0.0 and float(count) == 0.0 and not np.any(np.asarray(dS))


def test_rnn_step_by_hand():
    """One step, one unit: h = tanh(w_x x + w_h h0 + b)."""
    X = jnp.array([[[0.5]]])
    H = rnn.rnn_forward(X, jnp.array([[0.2]]), jnp.array([[2.0]]), jnp.array([[-1.0]]),
                        jnp.array([[0.1]]))  # fmt: skip
    np.testing.assert_allclose(H[0, 0, 0], np.tanh(2.0 * 0.5 - 1.0 * 0.2 + 0.1), rtol=1e-6)


def test_lstm_step_by_hand():
    """One step, one unit, gates from z = [z_i, z_f, z_o, z_g]: c = f c0 + i g, h = o tanh(c)."""
    z = np.array([0.3, -0.2, 0.5, 0.7])
    H, cache = lstm.lstm_forward(jnp.ones((1, 1, 1)), jnp.zeros((1, 1)), jnp.full((1, 1), 2.0),
                                 jnp.asarray(z)[:, None], jnp.zeros((4, 1)),
                                 jnp.zeros((4, 1)))  # fmt: skip
    sig = 1 / (1 + np.exp(-z))
    c = sig[1] * 2.0 + sig[0] * np.tanh(z[3])
    np.testing.assert_allclose(cache["C"][0, 0, 0], c, rtol=1e-6)
    np.testing.assert_allclose(H[0, 0, 0], sig[2] * np.tanh(c), rtol=1e-6)


def test_gru_step_by_hand():
    """One step, one unit (Cho et al. eq. 5-8, the reset gate before U_n): z = σ(a_z + u_z h0),
    r = σ(a_r + u_r h0), n = tanh(a_n + u_n r h0), h = z h0 + (1 − z) n."""
    a, u, h0 = np.array([0.3, -0.2, 0.5]), np.array([0.7, -1.1, 0.9]), 0.6
    H, cache = gru.gru_forward(jnp.ones((1, 1, 1)), jnp.full((1, 1), h0), jnp.asarray(a)[:, None],
                               jnp.asarray(u)[:, None], jnp.zeros((3, 1)))  # fmt: skip
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    z, r = sig(a[0] + u[0] * h0), sig(a[1] + u[1] * h0)
    n = np.tanh(a[2] + u[2] * r * h0)
    np.testing.assert_allclose(H[0, 0, 0], z * h0 + (1 - z) * n, rtol=1e-6)
    np.testing.assert_allclose(np.ravel(cache["gates"]), [z, r, n], rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gru_check_catches_a_planted_bug(seed, x64, monkeypatch):
    """The comparison can fail: the reset gate's derivative without its σ′ (a plausible slip)
    is caught by jax.grad, at every seed."""
    net, params, X, Y = _case("gru", "softmax", 6, 2, 3, 2, jnp.float64, seed=seed)
    right = gru._step_backward

    def wrong(dh, h_prev, z, r, n, W_h):
        da, dh_prev = right(dh, h_prev, z, r, n, W_h)
        n_h = h_prev.shape[0]
        d_rh = W_h[2 * n_h :].T @ (dh * (1.0 - z) * (1.0 - n * n))
        return da.at[n_h : 2 * n_h].set(d_rh * h_prev), dh_prev

    monkeypatch.setattr(gru, "_step_backward", wrong)
    _, hand = net.cost_and_grads(params, X, Y)
    _, auto = net.autodiff_cost_and_grads(params, X, Y)
    assert _relative(hand["W_h"], auto["W_h"]) > 1e-3


def test_embedding_backward_adds_repeated_tokens():
    ids = jnp.array([[2, 2], [0, -1]])  # token 2 read twice, one padding
    dX = jnp.ones((2, 3, 2))
    dE = temporal.embedding_backward(dX, ids, 4)
    np.testing.assert_allclose(dE[:, 2], [2, 2, 2])
    np.testing.assert_allclose(dE[:, 0], [1, 1, 1])  # the padding read column 0 but adds 0
    np.testing.assert_allclose(dE[:, [1, 3]], 0)


def test_gradient_norms_and_sample_shapes():
    net, params, X, Y = _case("lstm", "softmax", 8, 3, 4, 5, jnp.float32)
    norms = recurrent.hidden_gradient_norms("lstm", params, X, Y)
    assert norms.shape == (8,) and np.all(np.isfinite(norms)) and float(norms[-1]) > 0
    lm, lm_params, _, _ = _case("rnn", "tokens", 5, 3, 4, 2, jnp.float32)
    drawn = recurrent.sample(lm_params, jax.random.PRNGKey(0), jnp.array([1, 2]), 9, 0.7, "rnn")
    assert drawn.shape == (9,) and int(drawn.min()) >= 0 and int(drawn.max()) < 5
    _, gru_params, _, _ = _case("gru", "tokens", 5, 3, 4, 2, jnp.float32)
    gru_drawn = recurrent.sample(gru_params, jax.random.PRNGKey(0), jnp.array([1]), 4, 1.0, "gru")
    assert gru_drawn.shape == (4,) and int(gru_drawn.max()) < 5
    same = recurrent.sample(lm_params, jax.random.PRNGKey(0), jnp.array([1, 2]), 9, 0.7, "rnn")
    np.testing.assert_array_equal(drawn, same)  # a fixed key reproduces the text


def test_gradcheck_command_defaults():
    for name in ("rnn", "lstm", "gru"):
        assert gradcheck.check_model(name, x64=True).ok


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match="hidden_size must be an integer ≥ 1"):
        models.build("lstm", (5, 2), 3, hidden_size=0)
    with pytest.raises(ConfigError, match="takes no option"):
        models.build("rnn", (5, 2), 3, cells=2)
    with pytest.raises(ShapeError, match=r"\(T, n_x\) vectors or \(T,\) token ids"):
        models.build("rnn", (5, 2, 1), 3)
    with pytest.raises(ConfigError, match="next token"):
        models.build("lstm", (5,), 3, output="linear")
    net = models.build("rnn", (5, 2), 3, hidden_size=4)
    with pytest.raises(ShapeError, match=r"X \(T, n_x, m\) = \(5, 2, m\)"):
        net.forward(net.init(jax.random.PRNGKey(0)), jnp.zeros((5, 3, 2)))


def test_datasets():
    X, y = sequences.adding_problem(10, 50, 0)
    assert X.shape == (50, 10, 2) and np.all(X[:, :, 1].sum(axis=1) == 2)
    np.testing.assert_allclose(y, (X[:, :, 0] * X[:, :, 1]).sum(axis=1), rtol=1e-6)
    chars = sequences.vocabulary("hello")
    assert sequences.decode(sequences.encode("hole", chars), chars) == "hole"


def test_trains_through_the_one_path(tmp_path):
    """rnn on digits read row by row, and the LSTM on the adding problem, through
    train_and_evaluate; --resume continues the same run."""
    from jaxnn.run import TrainConfig, train_and_evaluate

    config = TrainConfig(dataset="digits", model="rnn", options={"hidden_size": 16},
                         optimizer="adam", lr=0.01, batch_size=64, epochs=2,
                         clip_norm=1.0)  # fmt: skip
    metrics = train_and_evaluate(config, str(tmp_path / "rnn"), progress=False)
    assert metrics["test_accuracy"] > 0.3 and metrics["describe"] == "rnn 8×8 -> 16 -> 10"
    more = train_and_evaluate(config.__class__(**{**config.__dict__, "epochs": 3}),
                              str(tmp_path / "rnn"), resume=True, progress=False)  # fmt: skip
    assert more["resumed_from_epoch"] == 2 and more["epochs"] == 3
    adding = TrainConfig(dataset="adding", model="lstm", output="linear",
                         options={"hidden_size": 8, "remat": True}, optimizer="adam", lr=0.01,
                         batch_size=500, epochs=1)  # fmt: skip
    metrics = train_and_evaluate(adding, str(tmp_path / "adding"), progress=False)
    assert 0 < metrics["test_mse"] < 1.0 and "test_accuracy" not in metrics
    with pytest.raises(ConfigError, match="targets that are not classes"):
        train_and_evaluate(adding.__class__(**{**adding.__dict__, "dataset": "digits"}),
                           str(tmp_path / "bad"), progress=False)  # fmt: skip


def test_models_command_and_options(capsys, tmp_path):
    from jaxnn import cli

    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "lstm" in out and "remat=False" in out and "hidden_size=128" in out
    assert cli.parse_options(["hidden_size=8", "remat=true", "cell=x"]) == {
        "hidden_size": 8, "remat": True, "cell": "x"}  # fmt: skip
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        cli.parse_options(["hidden_size"])
    code = cli.main(["train", "--model", "lstm", "--option", "output=linear", "--out",
                     str(tmp_path / "run"), "--quiet"])  # fmt: skip
    assert code == 2 and "set it with its own flag, --output" in capsys.readouterr().err
    code = cli.main(["sweep", "--model", "lstm", "--out", str(tmp_path / "sweep")])  # flower
    assert code == 2 and "a recurrent model needs one" in capsys.readouterr().err
