"""Data parallelism through jax.sharding, on CPU with forced host devices (in subprocesses:
the device count is fixed when JAX starts; JAX_PLATFORMS=cpu so that a machine with one GPU
runs them on its CPU too)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_distributed import cpu_env
from test_stream_families import EVERY_MODEL

from jaxnn import checkpoint


def _run(out, devices, extra_env=None, epochs=2):
    env = cpu_env(devices=4)
    return subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", "train", "--dataset", "digits", "--layers",
         "64,32,10", "--batch-size", "64", "--epochs", str(epochs), "--seed", "5", "--quiet",
         "--devices", str(devices), "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def test_four_devices_match_one(tmp_path):
    for devices in (1, 4):
        result = _run(tmp_path / str(devices), devices)
        assert result.returncode == 0, result.stderr
    one = checkpoint.load(str(tmp_path / "1" / "checkpoints"))
    four = checkpoint.load(str(tmp_path / "4" / "checkpoints"))
    for key in one["params"]:
        np.testing.assert_allclose(four["params"][key], one["params"][key], rtol=1e-4,
                                   atol=1e-6)  # fmt: skip


def test_too_many_devices_is_a_clear_error(tmp_path):
    result = _run(tmp_path / "x", 8)
    assert result.returncode == 2
    assert "has 4 cpu device(s)" in result.stderr and "Traceback" not in result.stderr


def test_epoch_shards_the_batch_and_all_reduces():
    code = """
import jax, optax
from jaxnn import mlp, train
mesh = train.data_mesh(4)
params = train.replicate(mlp.init(jax.random.PRNGKey(0), [8, 6, 3]), mesh)
opt = optax.sgd(0.1)
step = train.make_step(train.make_cost_and_grads(), opt)
epoch = train.make_epoch(step, 40, 8, mesh)
X, Y = train.replicate(train.device_rows(jax.numpy.ones((8, 40)),
                                         jax.numpy.eye(3)[:, jax.numpy.arange(40) % 3]), mesh)
text = epoch.lower(params, opt.init(params), train.epoch_order(jax.random.PRNGKey(0), 0, 40),
                   X, Y).compile().as_text()
print("all-reduce" in text, len(jax.devices()))
"""
    env = cpu_env(devices=4)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "4"]


def test_cpu_devices_are_created_by_the_command(tmp_path):
    """Without XLA_FLAGS, `--devices 2` on a CPU-only machine makes 2 host devices itself."""
    import json

    env = {**{k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", "train", "--dataset", "digits", "--layers",
         "64,16,10", "--batch-size", "64", "--epochs", "1", "--quiet", "--devices", "2",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["devices"] == 2


# One subprocess with 2 host devices trains every model of the registry (at its gradient
# check's size, with its training defaults) for 2 minibatch steps: on 1 device, on 2, and on
# 1 from the initial params moved by one ulp each (how far the model's training itself
# carries a rounding error). It prints, per model, the largest relative difference of a
# leaf's change Δθ: 2 devices vs 1 ("devices"), the moved start vs 1 ("ulp").
ONE_VS_TWO = """
import json, sys
import jax, numpy as np
sys.path.insert(0, sys.argv[1])
from jaxnn.layers import autotune
autotune.MIN_WORK = autotune.MIN_POOL_WORK = 10**18  # the fixed forms (as the untuned fixture)
from test_defaults import small
from jaxnn import chunked_epoch, models, train
from jaxnn.models import defaults


def largest_difference(a, b):
    return max(float(np.linalg.norm(x - y) / max(np.linalg.norm(x) + np.linalg.norm(y), 1e-30))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def moved(leaf):
    leaf = np.asarray(leaf)
    return np.nextafter(leaf, np.inf) if np.issubdtype(leaf.dtype, np.floating) else leaf


two = train.data_mesh(2)
for name in sys.argv[2:]:
    settings = defaults.for_model(name)
    model = small(name, settings)
    optimizer = train.make_optimizer(settings["lr"], name=settings["optimizer"],
                                     clip_norm=settings["clip_norm"], beta1=settings["beta1"])
    init_opt_state, step = train.model_step(model, "hand", optimizer)
    batch, m = 4, 8
    key_params, key_data, key_run = jax.random.split(jax.random.PRNGKey(3), 3)
    params = model.init(key_params)
    rows = train.device_rows(*models.example(model, key_data, m), model.example_axis)
    order, epoch_key = train.epoch_order(key_run, 0, m), train.epoch_key(key_run, 0)

    epochs = {}  # one compiled epoch per mesh: the moved start reuses the one-device program

    def change(mesh, start):
        if id(mesh) not in epochs:
            epochs[id(mesh)] = chunked_epoch.ChunkedEpoch(step, m, batch, mesh, model.example_axis)
        epoch = epochs[id(mesh)]
        placed = train.replicate((start, init_opt_state(start)), mesh)
        trained = epoch(*placed, order, *train.replicate(rows, mesh), epoch_key)[0]
        return jax.tree.map(lambda new, old: np.asarray(new, np.float64)
                            - np.asarray(old, np.float64), trained, start)

    one = change(None, params)
    print(json.dumps({"model": name,
                      "devices": largest_difference(change(two, params), one),
                      "ulp": largest_difference(change(None, jax.tree.map(moved, params)), one)}),
          flush=True)
"""


@pytest.fixture(scope="module")
def one_vs_two():
    """``{model: {"devices": …, "ulp": …}}`` of ONE_VS_TWO, run once for the module."""
    tests = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, "-c", ONE_VS_TWO, tests, *EVERY_MODEL],
                            capture_output=True, text=True, timeout=900,
                            env=cpu_env(devices=2))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {row.pop("model"): row for row in rows}


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_every_model_trains_alike_on_one_and_two_devices(one_vs_two, name):
    """2 devices train 1 device's params up to float rounding, for every registered model:
    the gradient sums over the examples (and batch norm's statistics) are added per device
    shard and then all-reduced, in another order than on one device. The bound is the
    model's own: 10× how far 2 steps carry a one-ulp change of the initial params (at least
    1e-5; a plain net without shortcuts amplifies rounding ~1000× in a step). Batch
    statistics are the whole minibatch's on any device count: were they each shard's,
    ResNet-20's first step would differ by 0.24 (docs/scale.md)."""
    measured = one_vs_two[name]
    assert measured["devices"] <= max(10 * measured["ulp"], 1e-5), (name, measured)
