"""ResNets and plain nets (He et al. 2016 §4.2): the paper's layer counts and parameter
count, the model-level three-way check with batch norm in training mode, the step that keeps
running statistics out of the optimizer, evaluation with running statistics, and a resumed
run that equals the uninterrupted one bit for bit (state included)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import checkpoint, gradcheck, models
from jaxnn.errors import ConfigError
from jaxnn.layers import sequential
from jaxnn.models import resnet
from jaxnn.run import TrainConfig, train_and_evaluate

# conv/pool layers at their fixed forms: no compiling and timing of every form (conftest)
pytestmark = pytest.mark.usefixtures("untuned")


@pytest.mark.parametrize("name, params", [("resnet20", 269_722), ("plain20", 269_722),
                                          ("resnet56", 853_018)])  # fmt: skip
def test_parameter_counts(name, params):
    """ResNet-20: the paper's 0.27 M (option A shortcuts add no parameters)."""
    model = models.build(name, (32, 32, 3), 10)
    assert sum(row.params for row in model.summary()) == params


def test_projection_shortcuts_add_their_convs_and_batch_norms():
    model = models.build("resnet20", (32, 32, 3), 10, shortcut="B")
    extra = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert sum(row.params for row in model.summary()) == 269_722 + extra


@pytest.mark.parametrize("depth", [20, 56])
def test_6n_plus_2_weighted_layers(depth):
    plain = models.build(f"plain{depth}", (32, 32, 3), 10)
    assert sum(layer.kind in ("conv", "dense") for _, layer in plain.net) == depth
    res = models.build(f"resnet{depth}", (32, 32, 3), 10)
    blocks = [layer for _, layer in res.net if layer.kind == "residual"]
    assert len(blocks) == 3 * (depth - 2) // 6


def test_depth_must_be_6n_plus_2():
    with pytest.raises(ConfigError, match="6n"):
        resnet.resnet((8, 8, 3), 10, depth=21)


def _small(shortcuts=True, shortcut="A"):
    return resnet.resnet((6, 6, 2), 3, depth=8, shortcuts=shortcuts, width=0.25,
                         shortcut=shortcut)  # fmt: skip


@pytest.mark.parametrize("shortcuts, shortcut", [(True, "A"), (True, "B"), (False, "A")])
def test_model_three_way_check(shortcuts, shortcut, x64):
    net = _small(shortcuts, shortcut)
    v = net.init(jax.random.PRNGKey(0), jnp.float64)
    X, Y = models.example(net, jax.random.PRNGKey(1), 3, jnp.float64)
    _, hand = jax.jit(net.cost_and_grads)(v, X, Y, 1e-3)
    report = gradcheck.check(jax.jit(lambda p: net.cost(p, X, Y, 1e-3)), v, hand, max_per_leaf=4)
    assert report.ok, report.format()
    assert any(r.name.startswith("state.") for r in report.rows)  # zero: J reads no state


def test_step_updates_state_outside_the_optimizer():
    net = _small()
    v = net.init(jax.random.PRNGKey(0))
    X, Y = models.example(net, jax.random.PRNGKey(1), 4)
    X = X + 3.0
    optimizer = optax.sgd(0.1)
    init_opt_state, step = net.make_step("hand", optimizer, 0.0)
    opt_state = init_opt_state(v)
    assert jax.tree.structure(opt_state) == jax.tree.structure(optimizer.init(v["params"]))
    new, _, J = jax.jit(step)(v, opt_state, X, Y)
    assert np.isfinite(J)
    _, _, state = jax.jit(lambda v, X: sequential.forward_state(
        net.net, v["params"], v["state"], X, True))(v, X)  # fmt: skip
    for a, b in zip(jax.tree.leaves(new["state"]), jax.tree.leaves(state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(new["state"]["bn1"]["mean"], 0.0)  # moved from its initial zeros


def test_evaluation_uses_running_statistics():
    """In evaluation mode an example's output does not depend on the rest of its batch."""
    net = _small()
    v = net.init(jax.random.PRNGKey(0))
    X, Y = models.example(net, jax.random.PRNGKey(1), 4)
    np.testing.assert_allclose(net.forward(v, X)[:, :1], net.forward(v, X[:1]), rtol=1e-5)
    assert set(models.metrics(net, v, X, Y)) == {"cost", "accuracy"}


@pytest.fixture
def resnet8(monkeypatch):
    """``resnet8`` (n = 1: 7 convs) registered for the test: the training path's cheapest
    stateful network."""
    monkeypatch.setitem(resnet.BUILDERS, "resnet8", resnet._named(8, True))
    monkeypatch.setitem(models.LAYOUTS, "resnet8", "images")
    monkeypatch.setattr(models, "MODELS", (*models.MODELS, "resnet8"))
    monkeypatch.setattr(models, "IMAGE_MODELS", (*models.IMAGE_MODELS, "resnet8"))
    return "resnet8"


def test_resumed_run_is_bitwise_the_uninterrupted_one(tmp_path, digits16_small, resnet8):
    small = dict(dataset=digits16_small, model=resnet8, width=0.125, batch_size=256, lr=0.1,
                 seed=1, eval_every=0, checkpoint_secs=0)  # fmt: skip
    train_and_evaluate(TrainConfig(**small, epochs=2), str(tmp_path / "full"), progress=False)
    train_and_evaluate(TrainConfig(**small, epochs=1), str(tmp_path / "part"), progress=False)
    metrics = train_and_evaluate(TrainConfig(**small, epochs=2), str(tmp_path / "part"),
                                 resume=True, progress=False)  # fmt: skip
    assert metrics["resumed_from_epoch"] == 1 and 0 <= metrics["test_accuracy"] <= 1
    a = checkpoint.load(str(tmp_path / "full" / "checkpoints"), 2)["params"]
    b = checkpoint.load(str(tmp_path / "part" / "checkpoints"), 2)["params"]
    assert set(a) == {"params", "state"}
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a["state"]["bn1"]["var"], 1.0)  # the running stats were trained


def test_l2_reaches_the_convs_inside_the_blocks():
    net = _small()
    v = net.init(jax.random.PRNGKey(0))
    X, Y = models.example(net, jax.random.PRNGKey(1), 3)
    kernels = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(v["params"])[0]
               if path[-1].key == "W"]  # fmt: skip
    assert len(kernels) == 8  # conv1, two convs in each of the 3 blocks, the dense layer
    penalty = sum(float(jnp.sum(W**2)) for W in kernels)
    assert float(net.cost(v, X, Y, 0.1) - net.cost(v, X, Y, 0.0)) == pytest.approx(
        0.1 * penalty, rel=1e-4
    )
