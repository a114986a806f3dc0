import json
import subprocess
import sys

import numpy as np
import pytest

from jaxnn import checkpoint, cli
from jaxnn.errors import CheckpointError, ConfigError, DivergenceError, ShapeError
from jaxnn.run import TrainConfig, train_and_evaluate

SMALL = dict(dataset="digits", layers=(64, 16, 10), batch_size=50, lr=0.2, seed=3)


def test_cli_train_writes_the_run_files(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", "train", "--dataset", "digits", "--epochs", "1",
         "--batch-size", "64", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    for name in ("config.json", "history.jsonl", "metrics.json", "cost.png", "accuracy.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "train_accuracy", "final_cost", "train_seconds",
                "compile_seconds", "data_seconds", "epochs", "device"):  # fmt: skip
        assert key in metrics
    assert metrics["epochs"] == 1 and 0.0 <= metrics["test_accuracy"] <= 1.0
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1]
    assert {"cost", "train_accuracy", "test_accuracy", "seconds"} <= set(history[0])
    assert checkpoint.latest_epoch(str(out / "checkpoints")) == 1
    assert json.loads((out / "config.json").read_text())["layers"] == [64, 64, 10]


def test_resumed_run_equals_uninterrupted(tmp_path):
    full = tmp_path / "full"
    train_and_evaluate(TrainConfig(**SMALL, epochs=4), str(full), progress=False)
    part = tmp_path / "part"
    train_and_evaluate(TrainConfig(**SMALL, epochs=2), str(part), progress=False)
    metrics = train_and_evaluate(
        TrainConfig(**SMALL, epochs=4), str(part), resume=True, progress=False
    )
    assert metrics["resumed_from_epoch"] == 2
    a = checkpoint.load(str(full / "checkpoints"), 4)
    b = checkpoint.load(str(part / "checkpoints"), 4)
    for key in a["params"]:
        np.testing.assert_array_equal(a["params"][key], b["params"][key])
    rows = [json.loads(x) for x in (part / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def test_same_seed_same_params(tmp_path):
    for name in ("a", "b"):
        train_and_evaluate(TrainConfig(**SMALL, epochs=1), str(tmp_path / name), progress=False)
    a = checkpoint.load(str(tmp_path / "a" / "checkpoints"), 1)
    b = checkpoint.load(str(tmp_path / "b" / "checkpoints"), 1)
    for key in a["params"]:
        np.testing.assert_array_equal(a["params"][key], b["params"][key])


def test_existing_run_is_not_overwritten(tmp_path):
    train_and_evaluate(TrainConfig(**SMALL, epochs=1), str(tmp_path), progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        train_and_evaluate(TrainConfig(**SMALL, epochs=1), str(tmp_path), progress=False)


def test_checkpoint_of_another_architecture(tmp_path):
    train_and_evaluate(TrainConfig(**SMALL, epochs=1), str(tmp_path), progress=False)
    other = dict(SMALL, layers=(64, 8, 10))
    with pytest.raises(CheckpointError, match="W1"):
        train_and_evaluate(TrainConfig(**other, epochs=2), str(tmp_path), resume=True,
                           progress=False)  # fmt: skip


def test_divergence_stops_with_a_message(tmp_path):
    config = TrainConfig(**dict(SMALL, lr=1e4, layers=(64, 64, 64, 10)), epochs=3)
    with pytest.raises(DivergenceError, match="Lower --lr"):
        train_and_evaluate(config, str(tmp_path), progress=False)


@pytest.mark.parametrize(
    "changes, error, match",
    [({"layers": (10, 16, 10)}, ShapeError, "64 features"),
     ({"batch_size": 5000}, ConfigError, "larger than"),
     ({"lr": -1.0}, ConfigError, "--lr"),
     ({"epochs": -1}, ConfigError, "--epochs"),
     ({"dataset": "cifar"}, ConfigError, "digits"),
     ({"hidden": "swish"}, ConfigError, "relu")],
)  # fmt: skip
def test_bad_settings_are_named(tmp_path, changes, error, match):
    with pytest.raises(error, match=match):
        train_and_evaluate(TrainConfig(**{**SMALL, "epochs": 1, **changes}), str(tmp_path),
                           progress=False)  # fmt: skip


def test_cli_errors_are_one_line(tmp_path, capsys):
    rc = cli.main(["train", "--dataset", "digits", "--layers", "10,5,10",
                   "--out", str(tmp_path), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "64 features" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_data_list(capsys):
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "mnist", "fashion_mnist"):
        assert name in out
