"""The papers' networks: published sizes, three-way gradient checks, dropout only in
training (and --resume bitwise exact with it), --input-shape / --resize."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import checkpoint, cli, gradcheck, models
from jaxnn.errors import ConfigError
from jaxnn.models import convnet, input_adapter
from jaxnn.run import TrainConfig, train_and_evaluate

pytestmark = pytest.mark.usefixtures("untuned")


@pytest.mark.parametrize("name", [*models.PAPER_MODELS, "vgg16"])
def test_published_parameter_counts(name):
    total, classes, _ = convnet.PUBLISHED[name]
    model = models.build(name, convnet.DEFAULT_INPUT[name], classes)
    assert sum(row.params for row in model.summary()) == total


def test_per_layer_shapes_and_counts():
    rows = {r.name: r for r in models.build("lenet5_1998", (32, 32, 1), 10).summary()}
    assert [rows[n].params for n in ("C1", "S2", "C3", "S4", "C5", "F6")] == [
        156, 12, 1516, 32, 48120, 10164]  # fmt: skip
    assert rows["C3"].out_shape == (10, 10, 16) and rows["C5"].out_shape == (1, 1, 120)
    rows = {r.name: r for r in models.build("alexnet_2012", (227, 227, 3), 1000).summary()}
    assert [rows[f"conv{i}"].params for i in range(1, 6)] == [34944, 307456, 885120, 663936,
                                                              442624]  # fmt: skip
    assert rows["conv1"].out_shape == (55, 55, 96) and rows["pool3"].out_shape == (6, 6, 256)
    assert rows["fc1"].params == 37752832
    assert "fc1_dropout" in rows and "fc2_dropout" in rows and "fc3_dropout" not in rows


@pytest.mark.parametrize("name, options", [("lenet5_1998", {}), ("alexnet_2012", {}),
                                           ("vgg11", {})])  # fmt: skip
def test_gradcheck_three_ways(name, options, x64):
    report = gradcheck.check_model(name, seed=1, m=2, max_per_leaf=6)
    assert report.ok, report.format()
    if name != "lenet5_1998":
        assert "fixed mask" in report.sizes["dropout"]


def test_dropout_model_passes_in_float32():
    """Issue 33: at float32 the float64 finite differences drew another dropout mask, and
    every dropout model failed with correct gradients."""
    report = gradcheck.check_model("vgg11", seed=1, m=2, max_per_leaf=6, x64=False)
    assert report.ok, report.format()


def test_eq10_gradcheck(x64):
    model = models.build("lenet5_1998", (32, 32, 1), 10, loss="eq10", j=0.5)
    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    X, Y = models.example(model, jax.random.PRNGKey(1), 2, jnp.float64)
    [(_, cost, hand)] = models.checks(model, params, X, Y, 0.01)
    assert gradcheck.check(cost, params, hand, max_per_leaf=6).ok


def test_a_wrong_dropout_backward_is_caught(x64, monkeypatch):
    """The model-level check fails when dropout's backward forgets 1/keep_prob."""
    from jaxnn.layers import dropout

    monkeypatch.setattr(dropout, "dropout_backward",
                        lambda dA, D, rate: dA if D is None else jnp.where(D, dA, 0.0))  # fmt: skip
    for seed in (0, 1):
        assert not gradcheck.check_model("vgg11", seed=seed, m=2, max_per_leaf=4).ok


def test_dropout_acts_in_training_only():
    model = models.build("vgg11", (32, 32, 1), 10, width=1 / 16)
    params = model.init(jax.random.PRNGKey(0))
    X, Y = models.example(model, jax.random.PRNGKey(1), 4)
    k1, k2 = jax.random.PRNGKey(2), jax.random.PRNGKey(3)
    assert model.stochastic
    assert float(model.cost(params, X, Y, key=k1)) != float(model.cost(params, X, Y, key=k2))
    assert float(model.cost(params, X, Y, key=k1)) == float(model.cost(params, X, Y, key=k1))
    a = models.metrics(model, params, X, Y, key=k1)
    b = models.metrics(model, params, X, Y, key=k2)
    assert float(a["cost"]) == float(b["cost"]) == float(model.cost(params, X, Y))
    np.testing.assert_array_equal(models.predict(model, params, X),
                                  models.predict(model, params, X))  # fmt: skip


TINY_VGG = dict(model="vgg11", width=1 / 16, input_shape=(32, 32, 1),
                batch_size=100, lr=0.05, seed=1, checkpoint_secs=0)  # fmt: skip


def test_resume_with_dropout_is_bitwise_exact(tmp_path, digits_small):
    full, part = tmp_path / "full", tmp_path / "part"
    tiny = dict(TINY_VGG, dataset=digits_small)
    train_and_evaluate(TrainConfig(**tiny, epochs=2), str(full), progress=False)
    train_and_evaluate(TrainConfig(**tiny, epochs=1), str(part), progress=False)
    metrics = train_and_evaluate(TrainConfig(**tiny, epochs=2), str(part), resume=True,
                                 progress=False)  # fmt: skip
    assert metrics["resumed_from_epoch"] == 1
    a = checkpoint.load(str(full / "checkpoints"), 2)["params"]
    b = checkpoint.load(str(part / "checkpoints"), 2)["params"]
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_lenet5_1998_trains_on_padded_digits(tmp_path, capsys):
    """digits 8×8 padded to 32×32 in the step (the paper's input size, without being asked:
    the shortest command reads the native size); the RBF output predicts by the smallest
    penalty, and the table's absent weights never appear (W stays (5, 5, 60))."""
    rc = cli.main(["train", "--model", "lenet5_1998", "--dataset", "digits", "--epochs", "2",
                   "--batch-size", "32", "--optimizer", "adam",
                   "--lr", "0.003", "--quiet", "--out", str(tmp_path / "r")])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "pad 8×8 → 32×32" in out
    accuracy = float(out.split("test accuracy ")[1].split(",")[0])
    assert accuracy > 0.5  # chance is 0.1
    params = checkpoint.load(str(tmp_path / "r" / "checkpoints"), 2)["params"]
    assert params["C3"]["W"].shape == (5, 5, 60)


def test_input_adapter_pads_centred_and_resizes():
    model = models.build("lenet5", (12, 12, 1), 10)
    padded = input_adapter.adapt(model, (8, 8, 1))
    layer = padded.net[0][1]
    X = jnp.ones((1, 8, 8, 1))
    A = layer.forward({}, X)[0]
    assert A.shape == (1, 12, 12, 1) and float(A[0, 2:10, 2:10].min()) == 1.0
    assert float(A.sum()) == 64.0 and padded.input_shape == (8, 8, 1)
    resized = input_adapter.adapt(model, (8, 8, 1), resize=True)
    assert resized.net[0][1].forward({}, X)[0].shape == (1, 12, 12, 1)
    assert resized.forward(resized.init(jax.random.PRNGKey(0)), X).shape == (10, 1)
    with pytest.raises(ConfigError, match="--resize"):
        input_adapter.adapt(model, (16, 16, 1))  # larger than 12×12
    with pytest.raises(ConfigError, match="channel"):
        input_adapter.adapt(models.build("lenet5", (12, 12, 3), 10), (8, 8, 1))


def test_cli_errors_name_options_the_command_has(tmp_path, capsys):
    """vgg16 given 16×16 (too small for its five poolings) names the size that works."""
    rc = cli.main(["train", "--model", "vgg16", "--dataset", "digits", "--epochs", "1",
                   "--input-shape", "16,16,1", "--quiet",
                   "--out", str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "--input-shape 32,32,1" in err and len(err.strip().splitlines()) == 1
    parser = cli.build_parser()
    for command in ("train", "sweep"):
        args = parser.parse_args([command, "--input-shape", "32,32,1", "--resize"])
        assert args.input_shape == "32,32,1" and args.resize
    rc = cli.main(["train", "--model", "mlp", "--input-shape", "32,32,1", "--epochs", "1",
                   "--quiet", "--out", str(tmp_path / "m")])  # fmt: skip
    assert rc == 2 and "--input-shape" in capsys.readouterr().err


def test_summary_prints_the_published_total(capsys):
    assert cli.main(["summary", "--model", "alexnet_2012"]) == 0
    out = capsys.readouterr().out
    assert "60,965,224" in out and "matches" in out and "in 2 groups" in out
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in models.PAPER_MODELS)
