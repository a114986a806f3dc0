"""Per-model training defaults (jaxnn.models.defaults): every registered model's defaults
reduce its cost without diverging; the command line uses them for what is not given and
config.json records them."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import cli, gradcheck, models, train
from jaxnn.errors import ConfigError
from jaxnn.models import defaults

STEPS = 20  # optimizer steps on the fixture
M = 8  # examples in the fixture
# the conv nets' fixed forms (no timing of every form of every part at the first compile)
pytestmark = pytest.mark.usefixtures("untuned")


def small(name: str, settings: dict) -> models.Model:
    """Model ``name`` at the small size its gradient check uses, with the defaults'
    hidden/output where its builder takes them."""
    accepted = models.option_names(name)
    fixed = gradcheck.PAPER_FIXED.get(name, ())  # the paper's own (LeNet-5 1998's RBF output)
    shared = {k: settings[k] for k in ("hidden", "output")
              if k in accepted and k not in fixed and settings[k] is not None}  # fmt: skip
    if name == "mlp":
        return models.build("mlp", (6,), 3, layers=[6, 5, 3], **shared)
    if name in gradcheck.GRADCHECK_SIZES:
        shape, width = gradcheck.GRADCHECK_SIZES[name]
        return models.build(name, shape, 4, width=width, **shared)
    if name in gradcheck.GRADCHECK_DEFAULTS:
        shape, outputs, options = gradcheck.GRADCHECK_DEFAULTS[name]
        return models.build(name, shape, outputs, **{**options, **shared})
    raise AssertionError(f"{name} has no small size in jaxnn.gradcheck's tables: add one")


def small_step(name: str, settings: dict | None = None):
    """``(model, init_opt_state, step)``: model ``name`` at its small size and its step
    (train.model_step) with ``settings``' optimizer (default: the model's defaults)."""
    settings = defaults.for_model(name) if settings is None else settings
    model = small(name, settings)
    optimizer = train.make_optimizer(settings["lr"], name=settings["optimizer"],
                                     clip_norm=settings["clip_norm"],
                                     beta1=settings["beta1"])  # fmt: skip
    return model, *train.model_step(model, "hand", optimizer)


def fixture_trainer(name: str, settings: dict):
    """``train(seed) -> (J before, J after)``: STEPS steps of the model's own step
    (train.model_step) with ``settings``' optimizer on one fixed batch of random data of its
    form (M examples); J at a fixed noise key for stochastic models. Compiled once."""
    model, init_opt_state, step = small_step(name, settings)

    @jax.jit
    def before_after(params, X, Y, key_noise):
        # J without noise where the model has an evaluation mode (a conv net's dropout:
        # key=None), else at one fixed noise key (a VAE's ε, a GAN's z)
        dropout_only = name in models.IMAGE_MODELS
        kw = {"key": key_noise} if model.stochastic and not dropout_only else {}

        def body(carry, i):
            params, opt_state = carry
            params, opt_state, _ = step(params, opt_state, X, Y, jax.random.fold_in(key_noise, i))
            return (params, opt_state), None

        trained = jax.lax.scan(body, (params, init_opt_state(params)), jnp.arange(STEPS))[0][0]
        return model.cost(params, X, Y, 0.0, **kw), model.cost(trained, X, Y, 0.0, **kw)

    def trainer(seed):
        # the draws outside the compiled steps: threefry inside the program compiles slowly
        key_params, key_data, key_noise = jax.random.split(jax.random.PRNGKey(seed), 3)
        params = model.init(key_params)
        X, Y = models.example(model, key_data, M)
        return tuple(float(J) for J in before_after(params, X, Y, key_noise))

    return trainer


# every registered model, later ones too; the CIFAR ResNets differ only in depth and share
# one defaults entry, so the 20-layer ones (residual and plain) stand for the deeper ones
CASES = [name for name in models.MODELS if name not in models.RESNETS or name.endswith("20")]
# VGG-19 (configuration E) at the gradient check's width 1/16 with Glorot weights stays at
# ln C for 20 steps: the paper itself did not train E from random weights (§3.1: its first
# four convs and three FC layers came from the trained net A). Known, and kept visible:
# strict, so this fails once E's defaults do train (then drop the mark).
CASES = [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="VGG-19 from random "
                                                    "Glorot weights at width 1/16 does not move "
                                                    "in 20 steps")) if name == "vgg19" else name
         for name in CASES]  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_each_models_defaults_reduce_its_cost(name):
    trainer = fixture_trainer(name, defaults.for_model(name))
    for seed in (0, 1):
        before, after = trainer(seed)
        assert np.isfinite(after), f"{name}'s defaults diverge: {before} -> {after}"
        assert after < before, f"{name}'s defaults do not reduce its cost: {before} -> {after}"


@pytest.mark.parametrize("planted", [{"lr": 1e3}, {"lr": 1e-12}])
def test_the_check_catches_bad_defaults(planted):
    """A rate that blows up (or one too small to move) fails the check above."""
    trainer = fixture_trainer("autoencoder", {**defaults.for_model("autoencoder"), **planted})
    for seed in (0, 1):
        before, after = trainer(seed)
        assert not (np.isfinite(after) and after < before)


def test_every_model_has_valid_defaults_and_unlisted_models_get_the_mlps():
    for name in models.MODELS:
        settings = defaults.for_model(name)
        assert set(settings) == set(defaults.SETTINGS)
        assert defaults.describe(name)
    assert defaults.for_model("no-such-model") == defaults.for_model("mlp")
    mlp = defaults.for_model("mlp")
    assert (mlp["optimizer"], mlp["lr"], mlp["batch_size"]) == ("sgd", 0.1, 200)  # the notes'
    gan = defaults.for_model("gan")
    assert (gan["optimizer"], gan["beta1"], gan["hidden"]) == ("adam", 0.5, "tanh")
    assert defaults.for_model("lstm", "text")["clip_norm"] == 5.0  # per-dataset override


def test_a_bad_entry_is_named(monkeypatch):
    monkeypatch.setitem(models.TRAINING_DEFAULTS, "vae", {"learning_rate": 1e-3})
    with pytest.raises(ConfigError, match="learning_rate"):
        defaults.for_model("vae")


def test_resolve_given_saved_and_defaulted():
    settings, defaulted = defaults.resolve("vae", "mnist", {"lr": 0.01})
    assert settings["lr"] == 0.01 and settings["optimizer"] == "adam"
    assert "lr" not in defaulted and "optimizer" in defaulted
    saved = {**settings, "optimizer": "momentum", "defaulted": list(defaulted)}
    resumed, defaulted_again = defaults.resolve("vae", "mnist", {}, saved)
    assert resumed["optimizer"] == "momentum" and resumed["lr"] == 0.01  # the saved run's
    assert "lr" not in defaulted_again


def test_train_command_uses_and_records_the_defaults(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--model", "autoencoder", "--dataset", "digits", "--epochs", "1",
            "--option", "units=[8]", "--option", "code=2", "--quiet",
            "--out", str(out)]  # fmt: skip
    assert cli.main([*args, "--lr", "0.003"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert (saved["optimizer"], saved["lr"], saved["batch_size"]) == ("adam", 0.003, 128)
    assert "lr" not in saved["defaulted"] and "batch_size" in saved["defaulted"]
    assert cli.main([*args[:6], "2", *args[7:], "--resume"]) == 0  # --lr not repeated
    resumed = json.loads((out / "config.json").read_text())
    assert resumed["lr"] == 0.003 and resumed["epochs"] == 2


def test_models_and_help_list_the_defaults(capsys):
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "trains with: adam, lr 0.0002, batch 128, β₁ 0.5" in out
    assert "trains with: sgd, lr 0.1, batch 200, 20 epochs" in out
    assert all(f"  {name:<12} " in cli.format_defaults() for name in models.MODELS)
