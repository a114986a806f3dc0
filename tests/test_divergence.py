import json

import numpy as np
import pytest

from jaxnn import checkpoint, cli, divergence, run
from jaxnn.errors import DivergenceError
from jaxnn.run import TrainConfig, train_and_evaluate


def test_finite_explosion_is_divergence():
    costs = np.array([2.3, 2.6e6, 3e10, 1e14])
    with pytest.raises(DivergenceError, match=r"cost is 2.6e\+06 at epoch 1, step 2 of 4"):
        divergence.check(costs, True, 0, 1e4, reference=2.3)


def test_one_noisy_minibatch_is_not_divergence():
    """The rule looks at the epoch's mean: one spike above the threshold does not stop."""
    costs = np.array([2.3] * 200 + [300.0])
    assert costs.max() > divergence.threshold(2.3) > costs.mean()
    divergence.check(costs, True, 4, 0.1, reference=2.3)


def test_threshold_needs_an_absolute_rise_near_zero():
    assert divergence.threshold(0.01) == pytest.approx(0.01 + divergence.FACTOR)
    assert divergence.threshold(-3.0) == pytest.approx(-3.0 + 3 * divergence.FACTOR)


def test_non_finite_keeps_its_message():
    with pytest.raises(DivergenceError, match="cost is nan at epoch 2, step 3 of 3"):
        divergence.check(np.array([1.0, 0.9, np.nan]), True, 1, 0.5, reference=2.3)
    with pytest.raises(DivergenceError, match="in the last update"):
        divergence.check(np.array([1.0, 0.9]), False, 1, 0.5, reference=2.3)


def test_initial_cost_comes_from_the_history_on_resume():
    assert divergence.initial_cost([{"epoch": 1, "initial_cost": 2.5}], np.array([0.3])) == 2.5
    assert divergence.initial_cost([], np.array([2.4, 1.0])) == pytest.approx(2.4)


def test_issue_command_exits_6_with_one_line(tmp_path, capsys):
    """`jaxnn train --dataset digits --lr 10000 --epochs 3` used to end with code 0."""
    rc = cli.main(["train", "--dataset", "digits", "--lr", "10000", "--epochs", "3", "--quiet",
                   "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 6, err
    assert "training diverged" in err and "initial params" in err and "Lower --lr" in err
    assert len(err.strip().splitlines()) == 1


def test_a_blow_up_in_epoch_2_keeps_epoch_1(tmp_path, monkeypatch):
    """Params blown up (×1e4) before epoch 2 trains: the cost stays finite, the guard stops
    the run, epoch 1 is checkpointed and in the history, and its J0 is kept for --resume."""
    real_compile = run._compile

    def compile_with_blow_up(plan, like=None):
        epoch_fn, evaluations, seconds = real_compile(plan, like)
        calls = []

        def epoch(params, *rest, **progress):
            calls.append(1)
            if len(calls) == 2:
                params = {key: value * 1e4 for key, value in params.items()}
            return epoch_fn(params, *rest, **progress)

        return epoch, evaluations, seconds

    monkeypatch.setattr(run, "_compile", compile_with_blow_up)
    config = TrainConfig(dataset="digits", layers=(64, 16, 10), batch_size=50, lr=0.2, epochs=3,
                         checkpoint_secs=3600)  # fmt: skip
    with pytest.raises(DivergenceError, match="at epoch 2, step 1 of 29") as error:
        train_and_evaluate(config, str(tmp_path), progress=False)
    assert np.isfinite(float(str(error.value).split("cost is ")[1].split(" ")[0]))
    assert checkpoint.latest_epoch(str(tmp_path / "checkpoints")) == 1
    rows = [json.loads(x) for x in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1] and rows[0]["initial_cost"] > 2
