"""Data parallelism through jax.sharding, on CPU with forced host devices (in subprocesses:
the device count is fixed when JAX starts; JAX_PLATFORMS=cpu so that a machine with one GPU
runs them on its CPU too)."""

import os
import subprocess
import sys

import numpy as np
from test_distributed import cpu_env

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
