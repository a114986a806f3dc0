"""jaxnn.layers.autotune: a measured choice is the fastest candidate, saved to and read back
from the cache file (nothing measured the second time); a corrupt or foreign cache file, or an
entry naming a form that does not exist, is ignored with a warning and measured again."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import pytest

from jaxnn import layers, models
from jaxnn.layers import autotune


@pytest.fixture
def tune_file(tmp_path, monkeypatch):
    path = tmp_path / "tune.json"
    monkeypatch.setenv(autotune.ENV, str(path))
    autotune.clear()
    yield path
    autotune.clear()


def _choose(key="test part", work=10**9):
    """Two candidates (the timer is patched in the tests that use this)."""
    candidates = {"slow": lambda x: x + 1, "fast": lambda x: x + 1}
    return autotune.choose(key, candidates, lambda: (jnp.zeros(3),), work, "slow")


def test_fastest_is_chosen_saved_and_read_back(tune_file, monkeypatch):
    monkeypatch.setattr(autotune, "time_candidates",
                        lambda c, a: {"slow": 0.002, "fast": 0.001})  # fmt: skip
    assert _choose() == "fast"
    (record,) = autotune.records()
    assert record.source == "measured" and record.seconds == {"slow": 0.002, "fast": 0.001}
    saved = json.loads(tune_file.read_text())
    assert saved["version"] == autotune.FILE_VERSION
    assert saved["choices"] == {record.key: {"form": "fast", "seconds": record.seconds}}
    # a new process: nothing in memory; the file answers and nothing is timed
    autotune.clear()
    monkeypatch.setattr(autotune, "time_candidates", pytest.fail)
    assert _choose() == "fast"
    assert autotune.records()[0][1:] == ("fast", {"slow": 0.002, "fast": 0.001}, "disk")


def test_real_timing_picks_the_faster(tune_file):
    def slow(x):
        for _ in range(40):
            x = jnp.sin(x) * 1.0001
        return x

    candidates = {"slow": slow, "fast": lambda x: x + 1}
    assert (
        autotune.choose("real", candidates, lambda: (jnp.ones(100_000),), 10**9, "slow") == "fast"
    )


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"version": 99, "choices": {}}',
                                     '{"version": 1, "choices": 3}', "\udcff"])  # fmt: skip
def test_corrupt_cache_file_is_measured_again_and_rewritten(tune_file, monkeypatch, content):
    tune_file.write_text(content, errors="surrogateescape")
    monkeypatch.setattr(autotune, "time_candidates",
                        lambda c, a: {"slow": 0.002, "fast": 0.001})  # fmt: skip
    with pytest.warns(UserWarning, match="ignoring the tuning cache"):
        assert _choose() == "fast"
    assert json.loads(tune_file.read_text())["version"] == autotune.FILE_VERSION


def test_unknown_form_in_file_is_measured_again(tune_file, monkeypatch):
    monkeypatch.setattr(autotune, "time_candidates",
                        lambda c, a: {"slow": 0.002, "fast": 0.001})  # fmt: skip
    _choose()
    key = autotune.records()[0].key
    bad = {key: {"form": "rm -rf", "seconds": {}}, "x": 1, "y": {"form": "fast", "seconds": []}}
    tune_file.write_text(json.dumps({"version": 1, "choices": bad}))
    autotune.clear()
    assert _choose() == "fast" and autotune.records()[0].source == "measured"


def test_small_parts_and_cache_off_are_not_timed(tune_file, monkeypatch):
    monkeypatch.setattr(autotune, "time_candidates", pytest.fail)
    assert _choose(work=10) == "slow"  # the fallback
    assert autotune.records()[0].source == "not timed (small)"
    monkeypatch.setenv(autotune.ENV, "off")
    assert autotune.cache_path() is None


def test_auto_layers_equal_fast_layers(tune_file, monkeypatch):
    """A conv and a pool built with backward="auto", each part measured (MIN_WORK 0): the same
    output and gradients as the fixed forms, and one record per part."""
    monkeypatch.setattr(autotune, "MIN_WORK", 0)
    monkeypatch.setattr(autotune, "ROUNDS", 1)
    x = jnp.linspace(-1, 1, 2 * 8 * 8 * 2).reshape(2, 8, 8, 2)
    for make in (lambda b: layers.conv2d(3, 3, 1, "same", backward=b),
                 lambda b: layers.max_pool(2, backward=b)):  # fmt: skip
        auto, fast = make("auto"), make("fast")
        params = auto.init(jax.random.PRNGKey(0), (8, 8, 2), jnp.float32)

        @jax.jit
        def both(params, x, auto=auto, fast=fast):
            (A1, c1), (A2, c2) = auto.forward(params, x), fast.forward(params, x)
            return A1, A2, auto.backward(params, c1, A1, True), fast.backward(params, c2, A2, True)

        A1, A2, g1, g2 = both(params, x)
        assert jnp.allclose(A1, A2, atol=1e-5)
        for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2),
                        strict=True):  # fmt: skip
            assert jnp.allclose(a, b, atol=1e-4)
    parts = sorted(r.key.split("|")[2].split(" A ")[0] for r in autotune.records())
    assert parts == ["conv dP", "conv dW", "conv forward", "max pool backward",
                     "max pool forward"]  # fmt: skip
    assert all(r.source == "measured" for r in autotune.records())


def test_jaxnn_tune_lists_every_part(tune_file, capsys):
    from jaxnn import cli

    assert cli.main(["tune", "--model", "lenet5", "--batch-size", "2", "--width", "0.5"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n    -> ") == 9  # 2 convs (forward, dW; dP but the first's), 2 pools
    assert "conv dW A 2x28x28x1 W 5x5x1x3" in out
    assert str(tune_file) in out


@pytest.mark.parametrize("name", models.IMAGE_MODELS)
def test_jaxnn_tune_tunes_every_image_model(name, tune_file, capsys, monkeypatch):
    # The ResNets are built with the fixed forms by default, and `jaxnn tune` printed only
    # its header for them; now every image model lists its conv parts (none timed here).
    from jaxnn import cli

    monkeypatch.setattr(autotune, "MIN_WORK", 10**18)
    monkeypatch.setattr(autotune, "MIN_POOL_WORK", 10**18)
    width = [] if name == "lenet5_1998" else ["--width", "0.05"]  # its sizes are the paper's
    assert cli.main(["tune", "--model", name, "--batch-size", "1", *width]) == 0
    out = capsys.readouterr().out
    assert "conv forward A 1x" in out and "conv dW A 1x" in out
    assert "nothing to tune" not in out
    assert ("conv_backward='fast'" in out) == name.startswith(("resnet", "plain"))


def test_train_conv_backward_flag_becomes_the_model_option():
    from jaxnn import cli

    def options(*extra):
        args = cli.build_parser().parse_args(["train", "--model", "lenet5", *extra])
        return cli._config_from_args(args).options

    assert options() == {}  # the builder's default: auto
    assert options("--conv-backward", "fast") == {"conv_backward": "fast"}
    with pytest.raises(SystemExit):
        options("--conv-backward", "fastest")


def test_large_batches_are_timed_at_the_capped_batch(tune_file, monkeypatch):
    """An evaluation batch (here 1000) is timed, and remembered, at MAX_TIMED_BATCH."""
    seen = []

    def fake_timer(candidates, args):
        seen.append(args[0].shape)
        return {name: float(i) for i, name in enumerate(candidates)}

    monkeypatch.setattr(autotune, "time_candidates", fake_timer)
    for m in (1000, 5000):
        autotune.pool_forms("forward", "max", (m, 32, 32, 2), 2, 2, jnp.float32)
    assert seen == [(autotune.MAX_TIMED_BATCH, 32, 32, 2)]  # the second: the same key
    assert f"A {autotune.MAX_TIMED_BATCH}x32x32x2" in autotune.records()[0].key


def test_a_run_folder_keeps_its_forms_for_resume(tune_file, monkeypatch, tmp_path):
    """The run's choices go to RUN_FILE; a later process (resume) takes them over the cache
    file and over measuring, so it builds the run's programs again."""
    monkeypatch.setattr(autotune, "time_candidates",
                        lambda c, a: {"slow": 0.002, "fast": 0.001})  # fmt: skip
    assert _choose() == "fast"
    autotune.write_run_file(str(tmp_path))
    recorded = json.loads((tmp_path / autotune.RUN_FILE).read_text())["choices"]
    ((key, entry),) = recorded.items()
    assert entry["form"] == "fast"
    # another machine, where the cache (and a measurement) would pick the other form
    autotune.clear()
    monkeypatch.setattr(autotune, "time_candidates",
                        lambda c, a: {"slow": 0.001, "fast": 0.002})  # fmt: skip
    assert _choose("another part") == "slow"  # measured here: this machine prefers slow
    entry["form"] = "fast"
    assert autotune.use_run_file(str(tmp_path)) == 1
    monkeypatch.setattr(autotune, "time_candidates", pytest.fail)
    assert _choose() == "fast"
    assert [r.source for r in autotune.records() if r.key == key] == ["run folder"]


def test_a_run_file_naming_an_unknown_form_is_chosen_again(tune_file, monkeypatch, tmp_path):
    (tmp_path / autotune.RUN_FILE).write_text(json.dumps({"version": autotune.FILE_VERSION,
        "choices": {f"{autotune.device_kind()}|jax {jax.__version__}|test part":
                    {"form": "no such form", "seconds": {}}}}))  # fmt: skip
    assert autotune.use_run_file(str(tmp_path)) == 1
    monkeypatch.setattr(autotune, "time_candidates",
                        lambda c, a: {"slow": 0.002, "fast": 0.001})  # fmt: skip
    assert _choose() == "fast"
    (tmp_path / autotune.RUN_FILE).write_text("{not json")
    with pytest.warns(UserWarning, match="ignoring"):
        assert autotune.use_run_file(str(tmp_path)) == 0


def test_train_records_the_forms_and_resume_uses_them(tune_file, tmp_path, digits16_small):
    from jaxnn.run import TrainConfig, train_and_evaluate

    config = TrainConfig(dataset=digits16_small, model="lenet5", width=0.5, batch_size=256,
                         epochs=1, checkpoint_secs=0)  # fmt: skip
    train_and_evaluate(config, str(tmp_path / "run"), progress=False)
    recorded = json.loads((tmp_path / "run" / autotune.RUN_FILE).read_text())["choices"]
    assert recorded and all("|" in key for key in recorded)
    autotune.clear()
    train_and_evaluate(dataclasses.replace(config, epochs=2), str(tmp_path / "run"),
                       resume=True, progress=False)  # fmt: skip
    sources = {r.key: r.source for r in autotune.records()}
    assert {sources[key] for key in recorded} == {"run folder"}
