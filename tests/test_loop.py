"""The training loop (jaxnn.loop) and its pieces, each alone: a fake epoch function and a
fake saver stand for the compiled programs and orbax, so these run in milliseconds; the
whole runs (real programs, checkpoints, signals) are in test_run.py and test_signals.py."""

import json
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import loop
from jaxnn.errors import DivergenceError, WriteError


class FakeSaver:
    def __init__(self):
        self.saved, self.closed, self.abandoned = [], False, False

    def save(self, folder, epoch, state):
        self.saved.append(epoch)

    def close(self):
        self.closed = True

    def abandon(self):
        self.abandoned = True


def _checkpoints(start=0, every_secs=1e9):
    checkpoints = loop.Checkpoints("ckpt", start, every_secs, lambda e, p, o: {"epoch": e})
    checkpoints.saver = FakeSaver()
    return checkpoints


def _data(m=6):
    X = jnp.arange(m, dtype=jnp.float32)[:, None]
    return SimpleNamespace(X_rows=X, Y_rows=X, X_sub=X, Y_sub=X, X_test=X, Y_test=X)


def _epoch_fn(costs_by_epoch, seen):
    """An epoch function whose parameter is the number of epochs it ran."""

    def epoch_fn(params, opt_state, order, X_rows, Y_rows, key, progress):
        seen.append(np.asarray(order).tolist())
        progress(len(order))
        return params + 1, opt_state, jnp.asarray(costs_by_epoch[int(params)])

    return epoch_fn


def _run(tmp_path, epochs=4, start=0, costs=None, eval_every=2, evaluate=None, seen=None):
    costs = costs or [[1.0, 0.9]] * epochs
    seen = [] if seen is None else seen
    history = loop.History([], str(tmp_path / "history.jsonl"))
    checkpoints = _checkpoints(start)
    evaluate = evaluate or (lambda params, X, Y: {"cost": float(params), "accuracy": 0.5})
    params, rows = loop.train_epochs(
        _epoch_fn(costs, seen), evaluate, _data(), jnp.asarray(start), None,
        np.zeros(2, np.uint32), start, loop.Schedule(epochs, eval_every, 1e9, 0.1), history,
        checkpoints, loop.Progress("test", False, 1),
    )  # fmt: skip
    return params, rows, checkpoints, seen


def test_every_epoch_trains_once_on_a_permutation_and_is_recorded(tmp_path):
    params, rows, checkpoints, seen = _run(tmp_path, epochs=5)
    assert int(params) == 5 and [row["epoch"] for row in rows] == [1, 2, 3, 4, 5]
    assert all(sorted(order) == list(range(6)) for order in seen)  # every example, once
    assert len({tuple(order) for order in seen}) > 1  # shuffled anew each epoch
    # evaluated every eval_every (2) epochs and after the last
    assert [("test_accuracy" in row) for row in rows] == [False, True, False, True, True]
    assert rows[0]["initial_cost"] == pytest.approx(1.0) and "initial_cost" not in rows[1]
    on_disk = [json.loads(line) for line in open(tmp_path / "history.jsonl")]
    assert on_disk == rows
    assert checkpoints.saver.saved == [5]  # the last epoch; the clock never called for one


def test_a_resumed_loop_starts_at_its_epoch(tmp_path):
    params, rows, _, seen = _run(tmp_path, epochs=4, start=2)
    assert int(params) == 4 and [row["epoch"] for row in rows] == [3, 4] and len(seen) == 2


def test_divergence_stops_the_loop_keeping_the_finished_epochs(tmp_path):
    costs = [[1.0, 0.9], [0.8, 0.7], [0.6, float("nan")]]
    with pytest.raises(DivergenceError):
        _run(tmp_path, epochs=3, costs=costs)
    # the two finished epochs were recorded and saved; the diverged one was not
    assert [json.loads(line)["epoch"] for line in open(tmp_path / "history.jsonl")] == [1, 2]


def test_a_stop_saves_the_last_finished_epoch_once(tmp_path):
    checkpoints = _checkpoints(start=0)
    checkpoints.finished(1, 0, 0, last=False)
    checkpoints.finished(2, 0, 0, last=False)
    checkpoints.keep_finished()
    assert checkpoints.saver.saved == [2] and checkpoints.saver.closed
    again = _checkpoints(start=0)
    again.finished(1, 0, 0, last=True)  # saved as the last epoch
    again.keep_finished()
    assert again.saver.saved == [1]  # not saved twice
    nothing = _checkpoints(start=3)
    nothing.keep_finished()  # no epoch finished: nothing to keep
    assert nothing.saver.saved == []


def test_checkpoints_are_saved_on_the_clock(monkeypatch):
    clock = iter([0.0, 5.0, 11.0, 12.0, 18.0, 30.0, 31.0])
    monkeypatch.setattr(loop.time, "perf_counter", lambda: next(clock))
    checkpoints = _checkpoints(every_secs=10.0)  # made at t = 0
    # t = 5: no; t = 11: save (the clock restarts at 12); t = 18: no; t = 30: save
    for epoch in (1, 2, 3, 4):
        checkpoints.finished(epoch, 0, 0, last=False)
    assert checkpoints.saver.saved == [2, 4]


def test_a_failed_write_saves_nothing_more(tmp_path):
    history = loop.History([], str(tmp_path / "history.jsonl"))
    checkpoints = _checkpoints()

    def failing_append(row):
        raise WriteError("disk full")

    history.append = failing_append
    with pytest.raises(WriteError):
        loop.train_epochs(
            _epoch_fn([[1.0]] * 2, []), lambda p, X, Y: {"cost": 0.0}, _data(), jnp.asarray(0),
            None, np.zeros(2, np.uint32), 0, loop.Schedule(2, 1, 1e9, 0.1), history,
            checkpoints, loop.Progress("test", False, 1),
        )  # fmt: skip
    assert checkpoints.saver.abandoned and checkpoints.saver.saved == []


def test_history_resumed_drops_the_epochs_after_the_checkpoint(tmp_path):
    path = str(tmp_path / "history.jsonl")
    with open(path, "w") as file:
        file.writelines(json.dumps({"epoch": e}) + "\n" for e in (1, 2, 3, 4))
    history = loop.History.resumed(path, start_epoch=2, resume=True)
    assert [row["epoch"] for row in history.rows] == [1, 2]
    assert [json.loads(line)["epoch"] for line in open(path)] == [1, 2]
    fresh = loop.History.resumed(path, start_epoch=0, resume=False)
    assert fresh.rows == [] and open(path).read() == ""


def test_named_and_postfix():
    row = {"cost": 0.5, **loop.named({"cost": 0.6, "accuracy": 0.9}, "test"),
           **loop.named({"cost": 0.5, "accuracy": 0.8}, "train")}  # fmt: skip
    assert row == {"cost": 0.5, "test_cost": 0.6, "test_accuracy": 0.9, "train_accuracy": 0.8}
    assert loop.postfix(row) == {"cost": "0.5000", "accuracy": "0.800", "test_accuracy": "0.900"}


def test_a_quiet_loop_shows_no_bar(capsys):
    progress = loop.Progress("quiet", False, 10)
    list(progress.epochs(0, 2))
    progress.between_chunks(5)
    progress.close()
    assert capsys.readouterr().err == ""


def test_before_pass_prepares_each_pass_from_its_order(tmp_path):
    """The optimizer's preparation (SDLM's curvature) runs once before each pass, on the
    pass's own order, and the epoch starts from the state it returns."""
    calls, seen = [], []

    def before_pass(opt_state, params, X_sub, Y_sub, order, key):
        calls.append(list(np.asarray(order)))
        return len(calls)

    def epoch_fn(params, opt_state, order, X_rows, Y_rows, key, progress):
        seen.append((opt_state, list(np.asarray(order))))
        return params + 1, opt_state, jnp.asarray([1.0])

    loop.train_epochs(
        epoch_fn, lambda p, X, Y: {"cost": 0.0}, _data(), jnp.asarray(0), 0,
        np.zeros(2, np.uint32), 0, loop.Schedule(3, 0, 1e9, 0.1),
        loop.History([], str(tmp_path / "h.jsonl")), _checkpoints(),
        loop.Progress("test", False, 1), before_pass,
    )  # fmt: skip
    assert [state for state, _ in seen] == [1, 2, 3]
    assert [order for _, order in seen] == calls
