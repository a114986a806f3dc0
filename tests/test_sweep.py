import jax
import numpy as np
import pytest

from jaxnn import cli, data, mlp, sweep, train
from jaxnn.errors import ConfigError


def _flower():
    ds = data.load("flower")
    return (ds.X_train, ds.labels_train[None].astype(np.float32), ds.X_test,
            ds.labels_test[None].astype(np.float32))  # fmt: skip


def test_each_configuration_equals_training_it_alone():
    X, Y, X_test, Y_test = _flower()
    configs = sweep.grid([0, 1], [0.3, 1.0], [0.0, 0.01])
    result = sweep.run_sweep(configs, [2, 4, 1], X, Y, X_test, Y_test, "tanh", "sigmoid",
                             epochs=5, batch_size=100)  # fmt: skip
    assert result.costs.shape == (8, 5) and result.test_accuracy.shape == (8,)
    for i, c in enumerate(configs):
        params = mlp.init(jax.random.PRNGKey(c["seed"]), [2, 4, 1])
        alone, history = train.fit(
            params, X, Y, train.make_cost_and_grads("hand", "tanh", "sigmoid", c["l2"]),
            train.make_optimizer(c["lr"]), 5, 100, jax.random.PRNGKey(0),
        )  # fmt: skip
        for key in alone:
            np.testing.assert_allclose(result.params[key][i], alone[key], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(result.costs[i], history, rtol=2e-5)


def test_grid_checks():
    assert len(sweep.grid(range(4), [0.1, 1.0], [0.0])) == 8
    with pytest.raises(ConfigError, match="> 0"):
        sweep.grid([0], [0.0], [0.0])
    with pytest.raises(ConfigError, match="≥ 0"):
        sweep.grid([0], [0.1], [-1.0])


def test_sweep_command(tmp_path, capsys):
    rc = cli.main(["sweep", "--dataset", "flower", "--layers", "2,3,1", "--output", "sigmoid",
                   "--seeds", "0,1", "--lrs", "0.5,1", "--l2s", "0", "--epochs", "5",
                   "--out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "4 configurations in one compiled program" in out
    assert (tmp_path / "sweep.json").exists() and (tmp_path / "sweep.png").exists()


def test_configurations_split_over_devices_match_one_device(tmp_path):
    """`jaxnn sweep --devices 2` (2 host devices created by the command) gives each of 3
    configurations (padded to 4) the results of the one-device sweep."""
    import json
    import os
    import subprocess
    import sys

    results = {}
    for devices in (1, 2):
        out = tmp_path / str(devices)
        run = subprocess.run(
            [sys.executable, "-m", "jaxnn.cli", "sweep", "--dataset", "flower", "--layers",
             "2,3,1", "--output", "sigmoid", "--seeds", "0,1,2", "--lrs", "0.5", "--l2s",
             "0.001", "--epochs", "20", "--devices", str(devices), "--out", str(out)],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},  # host devices, also beside a GPU
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        summary = json.loads((out / "sweep.json").read_text())
        assert summary["devices"] == devices
        results[devices] = summary["results"]
    assert len(results[2]) == 3
    for one, two in zip(results[1], results[2], strict=True):
        assert one["seed"] == two["seed"]
        np.testing.assert_allclose(two["final_cost"], one["final_cost"], rtol=1e-5)
        assert two["test_accuracy"] == one["test_accuracy"]


def test_sweep_devices_checked():
    X, Y, X_test, Y_test = _flower()
    with pytest.raises(ConfigError, match="--devices"):
        sweep.run_sweep(sweep.grid([0], [0.1], [0.0]), [2, 3, 1], X, Y, X_test, Y_test,
                        "tanh", "sigmoid", epochs=1, devices=0)  # fmt: skip
