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
    with pytest.raises(ConfigError, match=r"--layers \[64, 16, 10\] -> \[64, 8, 10\]"):
        train_and_evaluate(TrainConfig(**other, epochs=2), str(tmp_path), resume=True,
                           progress=False)  # fmt: skip
    (tmp_path / "config.json").unlink()  # without the run's config, the checkpoint tells
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


def _train_cmd(out, *extra, epochs=30):
    return [sys.executable, "-m", "jaxnn.cli", "train", "--dataset", "digits", "--layers",
            "64,32,10", "--batch-size", "4", "--lr", "0.05", "--epochs", str(epochs),
            "--seed", "11", "--quiet", "--out", str(out), *extra]  # fmt: skip


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    """A real SIGKILL while training (mid-epoch or mid-save), then --resume: the final params
    are bitwise equal to an uninterrupted run's."""
    import signal
    import time

    killed = tmp_path / "killed"
    every_epoch = ("--checkpoint-secs", "0")
    process = subprocess.Popen(_train_cmd(killed, *every_epoch), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline:
        latest = checkpoint.latest_epoch(str(killed / "checkpoints"))
        if latest is not None and latest >= 3:
            break
        time.sleep(0.05)
    time.sleep(0.13)  # land somewhere inside a later epoch
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run finished before it was killed"
    stopped_at = checkpoint.latest_epoch(str(killed / "checkpoints"))
    assert stopped_at < 30
    resumed = subprocess.run(_train_cmd(killed, "--resume", *every_epoch), capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    full = tmp_path / "full"
    result = subprocess.run(_train_cmd(full), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    a = checkpoint.load(str(full / "checkpoints"), 30)
    b = checkpoint.load(str(killed / "checkpoints"), 30)
    for key in a["params"]:
        np.testing.assert_array_equal(a["params"][key], b["params"][key])
    history = [json.loads(x) for x in (killed / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == list(range(1, 31))


def test_same_seed_bitwise_equal_across_processes(tmp_path):
    for name in ("a", "b"):
        result = subprocess.run(_train_cmd(tmp_path / name, epochs=2), capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
    a = checkpoint.load(str(tmp_path / "a" / "checkpoints"))
    b = checkpoint.load(str(tmp_path / "b" / "checkpoints"))
    for key in a["params"]:
        np.testing.assert_array_equal(a["params"][key], b["params"][key])


@pytest.mark.parametrize(
    "args, code, match",
    [(["--lr", "1e4", "--layers", "64,64,64,10"], 6, "diverged"),
     (["--lr", "nan"], 2, "--lr"),
     (["--batch-size", "0"], 2, "--batch-size"),
     (["--l2", "-1"], 2, "--l2"),
     (["--seed", "-3"], 2, "--seed"),
     (["--dataset", "imagenet"], 2, "digits"),
     (["--output", "linear"], 2, "softmax"),
     (["--layers", "64,0,10"], 2, "≥ 1")],
)  # fmt: skip
def test_cli_exit_codes(tmp_path, capsys, args, code, match):
    rc = cli.main(["train", "--dataset", "digits", "--epochs", "2", "--quiet",
                   "--out", str(tmp_path / "run"), *args])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == code and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unwritable_out_dir_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = cli.main(["train", "--dataset", "digits", "--quiet", "--out", str(blocker / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write to --out" in err


def test_damaged_checkpoint_exit_code(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "digits", "--epochs", "1", "--quiet",
                     "--out", str(out)]) == 0  # fmt: skip
    target = max((p for p in (out / "checkpoints" / "1").rglob("*") if p.is_file()
                  and p.name != checkpoint.MANIFEST), key=lambda p: p.stat().st_size)  # fmt: skip
    target.write_bytes(target.read_bytes()[:-7])
    rc = cli.main(["train", "--dataset", "digits", "--epochs", "2", "--quiet", "--resume",
                   "--out", str(out)])  # fmt: skip
    assert rc == 5 and "checksum" in capsys.readouterr().err


def test_resume_with_other_settings_is_refused(tmp_path):
    train_and_evaluate(TrainConfig(**SMALL, epochs=1), str(tmp_path), progress=False)
    with pytest.raises(ConfigError, match=r"--lr 0.2 -> 0.5"):
        train_and_evaluate(TrainConfig(**{**SMALL, "lr": 0.5}, epochs=2), str(tmp_path),
                           resume=True, progress=False)  # fmt: skip
    # more epochs is what --resume is for
    metrics = train_and_evaluate(TrainConfig(**SMALL, epochs=2), str(tmp_path), resume=True,
                                 progress=False)  # fmt: skip
    assert metrics["resumed_from_epoch"] == 1


def test_eval_every_and_checkpoint_secs(tmp_path):
    """--eval-every 2 evaluates epochs 2, 4 and the last; --checkpoint-secs 0 keeps every
    epoch (the last two on disk), a long interval only the last."""
    every = tmp_path / "every"
    train_and_evaluate(TrainConfig(**SMALL, epochs=5, eval_every=2, checkpoint_secs=0),
                       str(every), progress=False)  # fmt: skip
    rows = [json.loads(x) for x in (every / "history.jsonl").read_text().splitlines()]
    assert [("test_accuracy" in row) for row in rows] == [False, True, False, True, True]
    assert all("minibatch_cost_mean" in row for row in rows)
    assert sorted(int(p.name) for p in (every / "checkpoints").iterdir() if p.name.isdigit()) \
        == [4, 5]  # fmt: skip
    rare = tmp_path / "rare"
    config = TrainConfig(**SMALL, epochs=3, eval_every=0, checkpoint_secs=3600)
    metrics = train_and_evaluate(config, str(rare), progress=False)
    rows = [json.loads(x) for x in (rare / "history.jsonl").read_text().splitlines()]
    assert [("test_accuracy" in row) for row in rows] == [False, False, True]
    assert metrics["test_accuracy"] == rows[-1]["test_accuracy"]
    assert [p.name for p in (rare / "checkpoints").iterdir() if p.name.isdigit()] == ["3"]
    # the same run either way: checkpoints and evaluation do not change the training
    a = checkpoint.load(str(every / "checkpoints"), 5)
    b = checkpoint.load(str(rare / "checkpoints"), 3)
    assert not np.array_equal(a["params"]["W1"], b["params"]["W1"])  # 5 vs 3 epochs
    again = tmp_path / "again"
    train_and_evaluate(TrainConfig(**SMALL, epochs=3), str(again), progress=False)
    c = checkpoint.load(str(again / "checkpoints"), 3)
    for key in b["params"]:
        np.testing.assert_array_equal(b["params"][key], c["params"][key])


def test_ctrl_c_keeps_the_finished_epochs(tmp_path, monkeypatch):
    """Ctrl-C during epoch 3 with no checkpoint due: epochs 1-2 are saved, --resume goes on."""
    from jaxnn import train

    real_order = train.epoch_order

    def interrupted(key, epoch, m):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_order(key, epoch, m)

    monkeypatch.setattr(train, "epoch_order", interrupted)
    config = TrainConfig(**SMALL, epochs=4, checkpoint_secs=3600)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, str(tmp_path), progress=False)
    assert checkpoint.latest_epoch(str(tmp_path / "checkpoints")) == 2
    monkeypatch.setattr(train, "epoch_order", real_order)
    metrics = train_and_evaluate(config, str(tmp_path), resume=True, progress=False)
    assert metrics["resumed_from_epoch"] == 2


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"eval_every": -1}, "--eval-every"),
        ({"checkpoint_secs": float("nan")}, "--checkpoint-secs"),
    ],
)
def test_bad_eval_and_checkpoint_settings(tmp_path, changes, match):
    with pytest.raises(ConfigError, match=match):
        train_and_evaluate(TrainConfig(**{**SMALL, **changes}), str(tmp_path), progress=False)


def test_compiles_while_the_data_loads_and_falls_back_on_other_sizes(tmp_path, monkeypatch):
    """The programs are compiled from the dataset's known sizes while it loads; data of
    other sizes (the spec is wrong here) is compiled for after loading, same results."""
    from jaxnn import data

    ahead = train_and_evaluate(TrainConfig(**SMALL, epochs=1), str(tmp_path / "a"),
                               progress=False)  # fmt: skip
    assert ahead["compiled_while_loading"] is True
    spec = data.DATASETS["digits"]
    wrong = spec._replace(shapes=data.Shapes(1000, 359, 64, 10))
    monkeypatch.setitem(data.DATASETS, "digits", wrong)
    after = train_and_evaluate(TrainConfig(**SMALL, epochs=1), str(tmp_path / "b"),
                               progress=False)  # fmt: skip
    assert after["compiled_while_loading"] is False
    a = checkpoint.load(str(tmp_path / "a" / "checkpoints"), 1)
    b = checkpoint.load(str(tmp_path / "b" / "checkpoints"), 1)
    for key in a["params"]:
        np.testing.assert_array_equal(a["params"][key], b["params"][key])


@pytest.mark.parametrize("dataset", ["text", "adding"])
def test_an_image_model_on_sequences_says_what_the_dataset_holds(dataset, capsys, tmp_path):
    """`jaxnn train --model vgg11 --dataset text` called token ids "plain feature vectors";
    every image model of the registry now names what the data hold and the models that
    read them (jaxnn.models.LAYOUTS), in one line."""
    from jaxnn import data, models
    from jaxnn.run import build_model

    shapes = data.Shapes.of(data.load(dataset))
    holds = "token ids (sequences of 100)" if dataset == "text" else "sequences (50 steps of 2"
    readers = [name for name in models.MODELS if models.LAYOUTS[name] == "sequences"]
    for name in models.IMAGE_MODELS:
        with pytest.raises(ConfigError) as error:
            build_model(TrainConfig(dataset=dataset, model=name), shapes)
        message = str(error.value)
        assert f"this dataset holds {holds}" in message and "feature vectors" not in message
        assert f"the models that read sequences are {', '.join(readers)}" in message
    out = str(tmp_path / "run")
    assert cli.main(["train", "--model", "vgg11", "--dataset", dataset, "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"holds {holds}" in err


def test_resume_with_nothing_to_resume_starts_a_new_run_and_says_so(tmp_path, capsys):
    """Schedulers pass --resume every time: with no run in --out it is not an error, but one
    line on stderr says a new run starts (a mistyped --out would otherwise go unnoticed)."""
    args = ["train", "--dataset", "digits", "--layers", "64,8,10", "--batch-size", "300",
            "--epochs", "1", "--quiet", "--resume"]  # fmt: skip
    out = tmp_path / "x"
    assert cli.main([*args, "--out", str(out)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "--resume" in line]
    assert notes == [f"jaxnn train: --resume: {out} holds no run yet; starting a new run"]
    assert cli.main([*args, "--epochs", "2", "--out", str(out)]) == 0  # a run to continue
    assert "--resume" not in capsys.readouterr().err
    empty = tmp_path / "empty"  # a folder, but no epoch finished in it (stopped early)
    empty.mkdir()
    assert cli.main([*args, "--out", str(empty)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "--resume" in line]
    assert notes == [f"jaxnn train: --resume: {empty} holds no finished epoch yet; starting a "
                     "new run"]  # fmt: skip


def test_validation_evaluates_the_held_out_examples_never_the_test_set(tmp_path, capsys):
    """``jaxnn train --validation N``: every evaluation is of the last N training examples
    (recomputed here from the saved params), named validation_*, and no test_* figure is
    written; config.json records N; a resumed run must keep it."""
    from jaxnn import data
    from jaxnn.run import rebuild

    out, n = tmp_path / "run", 300
    args = ["train", "--dataset", "digits", "--layers", "64,16,10", "--batch-size", "50",
            "--lr", "0.2", "--epochs", "2", "--validation", str(n), "--quiet", "--out",
            str(out)]  # fmt: skip
    assert cli.main(args) == 0
    assert "validation accuracy" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    saved = json.loads((out / "config.json").read_text())
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert saved["validation"] == n and not [k for k in metrics if k.startswith("test_")]
    assert all("validation_accuracy" in row and "test_accuracy" not in row for row in history)
    assert (out / "accuracy.png").stat().st_size > 0
    params = checkpoint.load(str(out / "checkpoints"), 2)["params"]
    model, digits = rebuild(saved), data.load("digits")
    m = digits.X_train.shape[1]

    def scores(X, labels):  # the cost (continuous: no coincidence) and the accuracy
        cost = float(model.cost(params, X, data.one_hot(labels, 10)))
        return cost, float(np.mean(np.argmax(np.asarray(model.forward(params, X)), 0) == labels))

    held = scores(digits.X_train[:, m - n :], digits.labels_train[m - n :])
    trained = scores(digits.X_train[:, : m - n], digits.labels_train[: m - n])
    assert abs(metrics["validation_cost"] - held[0]) < 1e-5 * held[0]
    assert abs(metrics["validation_accuracy"] - held[1]) < 1e-6
    assert abs(metrics["final_cost"] - trained[0]) < 1e-5 * trained[0]
    assert abs(metrics["train_accuracy"] - trained[1]) < 1e-6
    assert cli.main([*args[:-5], "--validation", "0", "--resume", "--quiet", "--out",
                     str(out)]) == 2  # fmt: skip
    assert "--validation 300 -> 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--validation"):
        train_and_evaluate(TrainConfig(**SMALL, epochs=1, validation=-1), str(tmp_path / "b"),
                           progress=False)  # fmt: skip
