"""Convolutional models: published sizes, hand backward through whole networks = jax.grad =
finite differences, the one training path, and clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import cli, gradcheck, layers, models
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import sequential
from jaxnn.models import convnet
from jaxnn.run import TrainConfig, train_and_evaluate


@pytest.mark.parametrize(
    "name, classes, params, macs",
    [("lenet5", 10, 61_706, 416_520),
     ("alexnet", 1000, 61_100_840, 714_188_480),
     ("vgg16", 1000, 138_357_544, 15_470_264_320)],
)  # fmt: skip
def test_published_parameter_counts(name, classes, params, macs):
    model = models.build(name, convnet.DEFAULT_INPUT[name], classes)
    rows = model.summary()
    assert sum(r.params for r in rows) == params
    assert sum(r.macs for r in rows) == macs


def test_vgg16_shapes_follow_the_notes():
    """3×3/1 'same' convs keep the size, 2×2/2 pools halve it, 7×7×512 before the classifier."""
    rows = models.build("vgg16", (224, 224, 3), 1000).summary()
    size = 224
    for row in rows:
        if row.describe.startswith("conv"):
            assert row.out_shape[:2] == (size, size)
        if row.describe.startswith("max pool"):
            size //= 2
            assert row.out_shape[:2] == (size, size)
    assert [r.out_shape for r in rows if r.name == "flatten"] == [(7 * 7 * 512,)]


def test_lenet5_layer_table():
    rows = {r.name: r for r in models.build("lenet5", (28, 28, 1), 10).summary()}
    assert [rows[n].params for n in ("conv1", "conv2", "fc1", "fc2", "fc3")] == [
        156, 2416, 48120, 10164, 850]  # fmt: skip
    assert rows["pool2"].out_shape == (5, 5, 16)


# a random small network: conv blocks (f, stride, padding, channels, pool?) then two denses
block = st.tuples(st.integers(1, 4), st.integers(1, 2), st.sampled_from(["valid", "same", 1]),
                  st.integers(1, 3), st.booleans())  # fmt: skip


@settings(max_examples=5)
@given(blocks=st.lists(block, min_size=1, max_size=3), m=st.integers(1, 3),
       size=st.integers(8, 12), hidden=st.sampled_from(["tanh", "relu", "sigmoid"]),
       output=st.sampled_from(["softmax", "sigmoid"]))  # fmt: skip
def test_composed_network_hand_equals_autodiff(blocks, m, size, hidden, output, x64):
    net, shape = [], (size, size, 2)
    for index, (f, s, padding, channels, pooled) in enumerate(blocks):
        candidate = [(f"conv{index}", layers.conv2d(channels, f, s, padding)),
                     (f"act{index}", layers.activation(hidden))]  # fmt: skip
        if pooled:
            candidate.append((f"pool{index}", layers.max_pool(2)))
        try:
            shape = sequential.shapes(tuple(candidate), shape)[-1]
        except ShapeError:
            break  # the input has shrunk too far: stop adding blocks
        net += candidate
    net += [("flatten", layers.flatten()), ("fc1", layers.dense(5)),
            ("fc1_act", layers.activation(hidden)),
            ("fc2", layers.dense(1 if output == "sigmoid" else 3))]  # fmt: skip
    model = convnet.from_layers("random", tuple(net), (size, size, 2), output)

    key = jax.random.PRNGKey(m * 31 + size)
    params = model.init(key, jnp.float64)
    X = jax.random.normal(jax.random.fold_in(key, 1), (m, size, size, 2), jnp.float64)
    _, Y = gradcheck.random_problem(jax.random.fold_in(key, 2), (1, model.num_outputs), output,
                                    m, jnp.float64)  # fmt: skip
    (J, hand), (J_auto, auto) = jax.jit(  # one program per drawn network, not two
        lambda *data: (model.cost_and_grads(*data), model.autodiff_cost_and_grads(*data))
    )(params, X, Y, 0.01)
    assert abs(float(J - J_auto)) <= 1e-12
    assert jax.tree.structure(hand) == jax.tree.structure(params)
    for got, want in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=False):
        assert gradcheck.relative_error(got, want) <= 1e-10


@pytest.mark.parametrize("name, shape", [("lenet5", (28, 28, 1)), ("alexnet", (63, 63, 3))])
def test_gradcheck_three_ways(name, shape):
    """float64: hand vs jax.grad ≤ 1e-10, both vs central differences ≤ 1e-7 (sampled)."""
    report = gradcheck.check_model(name, hidden="tanh", l2=0.01, m=2, max_per_leaf=6,
                                   input_shape=shape)  # fmt: skip
    assert report.ok, report.format()


def test_lenet5_with_shifts_and_dropout_hand_equals_autodiff_and_evaluates_without_them(x64):
    """``--option shift=2 --option dropout=0.25``: the hand gradient of the cost with one
    key's offsets and masks equals jax.grad's (float64; central differences: the layers'
    own tests and ``jaxnn gradcheck --model lenet5 --option shift=2``); the key changes the
    cost (the noise is there in training) and evaluation ignores it."""
    model = models.build("lenet5", (12, 12, 1), 10, shift=2, dropout=0.25)
    assert model.stochastic and [name for name, _ in model.net][:2] == ["shift", "conv1"]
    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    X, Y = models.example(model, jax.random.PRNGKey(1), 4, jnp.float64)

    @jax.jit
    def both(params, key):
        hand = model.cost_and_grads(params, X, Y, 0.01, key=key)[1]
        return hand, model.autodiff_cost_and_grads(params, X, Y, 0.01, key=key)[1]

    for seed in range(2):
        hand, auto = both(params, jax.random.PRNGKey(seed))
        for got, want in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
            assert gradcheck.relative_error(got, want) <= 1e-10
    costs = {float(model.cost(params, X, Y, 0.0, key=jax.random.PRNGKey(s))) for s in range(3)}
    assert len(costs) == 3 and float(model.cost(params, X, Y)) not in costs
    plain = models.build("lenet5", (12, 12, 1), 10)
    np.testing.assert_array_equal(model.forward(params, X), plain.forward(params, X))
    with pytest.raises(ConfigError, match="dropout rate"):
        models.build("lenet5", (12, 12, 1), 10, dropout=1.0)


def test_explicit_backward_network_equals_fast(x64):
    fast = models.build("lenet5", (20, 20, 2), 10, width=0.5)
    explicit = models.build("lenet5", (20, 20, 2), 10, width=0.5, conv_backward="explicit")
    params = fast.init(jax.random.PRNGKey(0), jnp.float64)
    X = jax.random.normal(jax.random.PRNGKey(1), (2, 20, 20, 2), jnp.float64)
    Y = jax.nn.one_hot(jnp.array([3, 7]), 10, dtype=jnp.float64).T
    _, a = jax.jit(fast.cost_and_grads)(params, X, Y)
    _, b = jax.jit(explicit.cost_and_grads)(params, X, Y)
    assert gradcheck.relative_error(a, b) <= 1e-12


def test_float32_hand_equals_autodiff():
    model = models.build("lenet5", (28, 28, 1), 10)
    params = model.init(jax.random.PRNGKey(0))
    X = jax.random.uniform(jax.random.PRNGKey(1), (3, 28, 28, 1))
    Y = jax.nn.one_hot(jnp.array([0, 1, 2]), 10).T
    _, hand = jax.jit(model.cost_and_grads)(params, X, Y)
    _, auto = jax.jit(model.autodiff_cost_and_grads)(params, X, Y)
    assert gradcheck.relative_error(hand, auto) <= 1e-5


@pytest.mark.parametrize(
    "build, error, match",
    [(lambda: models.build("lenet5", (8, 8, 1), 10), ShapeError, "does not fit"),
     (lambda: models.build("lenet5", (784,), 10), ShapeError, "images"),
     (lambda: models.build("vgg16", (32, 32, 3), 10, width=0), ConfigError, "--width"),
     (lambda: models.build("lenet5", (28, 28, 1), 10, output="linear"), ConfigError, "softmax"),
     (lambda: models.build("resnet", (28, 28, 1), 10), ConfigError, "lenet5")],
)  # fmt: skip
def test_bad_settings_are_named(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_wrong_input_layout_is_named():
    model = models.build("lenet5", (28, 28, 1), 10)
    params = model.init(jax.random.PRNGKey(0))
    with pytest.raises(ShapeError, match=r"\(m, 28, 28, 1\)"):
        model.cost(params, jnp.zeros((784, 2)), jnp.zeros((10, 2)))


def test_lenet5_trains_through_the_one_path_and_resumes(digits16, tmp_path):
    config = TrainConfig(dataset=digits16, model="lenet5", epochs=2, batch_size=64, lr=0.1,
                         optimizer="momentum", checkpoint_secs=0)  # fmt: skip
    full = train_and_evaluate(config, str(tmp_path / "full"), progress=False)
    assert full["test_accuracy"] > 0.5 and full["model"] == "lenet5"
    assert full["compiled_while_loading"] is True
    half = TrainConfig(**{**config.__dict__, "epochs": 1})
    train_and_evaluate(half, str(tmp_path / "resumed"), progress=False)
    resumed = train_and_evaluate(config, str(tmp_path / "resumed"), resume=True, progress=False)
    assert resumed["final_cost"] == full["final_cost"]


def test_cli_trains_a_convnet(digits16, tmp_path, capsys):
    rc = cli.main(["train", "--dataset", digits16, "--model", "vgg16", "--width", "0.0625",
                   "--input-shape", "16,16,1", "--epochs", "1", "--batch-size", "64",
                   "--quiet", "--out", str(tmp_path / "run")])  # fmt: skip
    out, err = capsys.readouterr()  # 16×16 cannot take five 2×2 pools: the size that can
    assert rc == 2 and "does not fit" in err and "--input-shape 32,32,1" in err
    rc = cli.main(["train", "--dataset", digits16, "--model", "lenet5", "--epochs", "1",
                   "--batch-size", "64", "--grads", "autodiff", "--quiet", "--out",
                   str(tmp_path / "run2")])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0 and "lenet5 16×16×1 -> 10" in out


def test_cli_errors_for_conv_models(tmp_path, capsys):
    for args, match in ((["--model", "lenet5", "--layers", "64,10"], "--layers"),
                        (["--model", "lenet5", "--dataset", "moons"], "image dataset"),
                        (["--width", "2"], "--width")):  # fmt: skip
        rc = cli.main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "r"), *args])
        err = capsys.readouterr().err
        assert rc == 2 and match in err and len(err.strip().splitlines()) == 1


def test_summary_and_gradcheck_commands(capsys):
    assert cli.main(["summary", "--model", "vgg16"]) == 0
    assert "138,357,544" in capsys.readouterr().out
    assert cli.main(["gradcheck", "--model", "lenet5", "--x64", "--m", "2",
                     "--max-per-leaf", "5"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "conv1.W" in out and "fc3.b" in out and "NO" not in out
