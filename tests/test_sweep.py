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
