"""The training loop: the notes' algorithm (§4 "Optimization": minibatch gradient descent),
read top to bottom in ``train_epochs``::

    for each epoch:
        shuffle the training set                 a key per epoch: a seed reproduces a run
        prepare the optimizer for the pass       before_pass (SDLM: its curvature)
        for each minibatch:                      epoch_fn: one compiled program (train.make_epoch)
            cost and hand-derived gradients      model.cost_and_grads (train.make_step)
            optimizer step                       optax (train.make_optimizer)
        stop if the cost diverged                divergence.check
        evaluate (every eval_every, the last)    evaluate
        record the epoch                         History: history.jsonl
        checkpoint (every checkpoint_secs, last) Checkpoints: checkpoints/

Around it, each a named piece that is tested alone:

* ``Progress``: the epochs' bar and, under it, the steps of the epoch in progress;
* ``Checkpoints``: when to save, saving in the background while the next epoch trains,
  and keeping the finished epochs when a run is stopped or diverges;
* stop requests: Ctrl-C and SIGTERM are honoured between two chunks of steps
  (``signals.check``; several processes agree first);
* streaming: ``epoch_fn`` may read the training set from disk minibatch by minibatch
  (``stream.StreamedEpoch``), the loop is the same;
* several processes: only the writer (``distributed.is_writer``) writes or shows anything,
  and process 0's clock decides when all of them save (``distributed.agree``).

``jaxnn.run.train_and_evaluate`` builds what the loop needs (the model, the compiled
programs, the data on the device, the state to start or resume from) and calls it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from jaxnn import checkpoint, distributed, divergence, safe_write, signals, train
from jaxnn.errors import DataError, DivergenceError, WriteError


class Schedule(NamedTuple):
    """The settings the loop reads (a ``TrainConfig``'s): how many epochs, when to evaluate
    and to save, the learning rate the divergence message names, and the name of the split
    evaluated besides the training subset: "test", or "validation" (``--validation N``: the
    held-out training examples; the test set is never read)."""

    epochs: int
    eval_every: int
    checkpoint_secs: float
    lr: float
    held: str = "test"


def train_epochs(epoch_fn, evaluate, data, params, opt_state, key_data, start_epoch: int,
                 schedule: Schedule, history: History, checkpoints: Checkpoints,
                 progress: Progress, before_pass=None):  # fmt: skip
    """Train the epochs ``start_epoch .. schedule.epochs - 1``; returns ``(params, history)``.

    ``epoch_fn(params, opt_state, order, X_rows, Y_rows, key, progress=callback)`` runs one
    epoch's minibatch steps in ``order`` and returns ``(params, opt_state, costs)``;
    ``evaluate(params, X, Y)`` the metrics of one split; ``data`` holds ``X_rows, Y_rows``
    (the training set), ``X_sub, Y_sub`` (a fixed training subset evaluated after epochs)
    and ``X_test, Y_test``. ``before_pass(opt_state, params, X_sub, Y_sub, order, key)``, if
    given, returns the optimizer state the pass starts from (``jaxnn.optim.sdlm.make_refresh``:
    the curvature re-estimated on examples of the subset, in the pass's order). Ctrl-C,
    SIGTERM, a divergence or a failed streamed read stop the loop with the finished epochs
    saved (``--resume`` continues from them); the epoch in progress is dropped. A failed
    write stops it without a further save."""
    m = data.X_rows.shape[0]
    try:
        for epoch in progress.epochs(start_epoch, schedule.epochs):
            t0 = time.perf_counter()
            order = train.epoch_order(key_data, epoch, m)
            key = train.epoch_key(key_data, epoch)
            if before_pass is not None:
                opt_state = before_pass(opt_state, params, data.X_sub, data.Y_sub, order, key)
            new_params, new_opt_state, costs = epoch_fn(
                params, opt_state, order, data.X_rows, data.Y_rows, key,
                progress=progress.between_chunks,
            )  # fmt: skip
            costs = np.asarray(costs)  # waits for the epoch
            seconds = time.perf_counter() - t0
            progress.epoch_ended()
            initial_cost = divergence.initial_cost(history.rows, costs)
            divergence.check(costs, bool(train.params_finite(new_params)), epoch,
                             schedule.lr, initial_cost)  # fmt: skip
            params, opt_state = new_params, new_opt_state
            row = {"epoch": epoch + 1, "minibatch_cost_mean": float(costs.mean()),
                   "seconds": seconds, **epoch_stats(epoch_fn)}  # fmt: skip
            if epoch == 0:  # J0, the divergence check's reference, kept for --resume
                row["initial_cost"] = initial_cost
            last = epoch + 1 == schedule.epochs
            if last or (schedule.eval_every and (epoch + 1) % schedule.eval_every == 0):
                row.update(named(evaluate(params, data.X_sub, data.Y_sub), "train"))
                row.update(named(evaluate(params, data.X_test, data.Y_test), schedule.held))
                progress.show(row)
            history.append(row)
            checkpoints.finished(epoch + 1, params, opt_state, last)
            if not last:
                signals.check()  # a signal during the evaluation or the save
    except WriteError:  # the disk failed: no further save (the error names the last one)
        checkpoints.abandon()
        raise
    except (KeyboardInterrupt, DivergenceError, DataError):  # DataError: a streamed read
        checkpoints.keep_finished()
        raise
    progress.close()
    return params, history.rows


def epoch_stats(epoch_fn) -> dict:
    """What an epoch function reports of its last epoch besides the costs: a streamed one
    (``stream.StreamedEpoch``) the seconds the steps waited for data."""
    stats = getattr(epoch_fn, "stats", None)
    return {"data_wait_seconds": stats["data_wait"]} if stats else {}


def named(metrics: dict, split: str) -> dict:
    """History names: the train subset's cost is ``cost``, every other metric
    ``train_<name>`` / ``test_<name>`` (``test_cost``, ``train_accuracy``, ...; with
    ``--validation``, ``validation_<name>``)."""
    return {(name if (split, name) == ("train", "cost") else f"{split}_{name}"): value
            for name, value in metrics.items()}  # fmt: skip


class History:
    """The epochs' rows, in memory and appended to ``history.jsonl`` by the writer."""

    def __init__(self, rows: list[dict], path: str):
        self.rows, self.path = list(rows), path

    @classmethod
    def resumed(cls, path: str, start_epoch: int, resume: bool) -> History:
        """The history up to ``start_epoch`` (none for a new run), the file rewritten to
        match: the epochs after the checkpoint resumed from are dropped."""
        rows = []
        if resume and start_epoch and os.path.exists(path):
            rows = [row for row in safe_write.read_jsonl(path) if row["epoch"] <= start_epoch]
        if distributed.is_writer():
            safe_write.write_lines(path, [json.dumps(row) + "\n" for row in rows])
        return cls(rows, path)

    def append(self, row: dict) -> None:
        self.rows.append(row)
        if distributed.is_writer():
            safe_write.append_line(self.path, json.dumps(row) + "\n")


class Checkpoints:
    """When the loop saves, and what: the last epoch, and an epoch every ``every_secs``
    seconds (process 0's clock decides for all processes, which save together); each save
    is written in the background while the next epoch trains (``checkpoint.BackgroundSaver``).
    A run that stops keeps its finished epochs: ``keep_finished`` saves the last one if it
    is newer than the last save. ``state(epoch, params, opt_state)`` is what is saved."""

    def __init__(self, folder: str, start_epoch: int, every_secs: float,
                 state: Callable[[int, object, object], dict]):  # fmt: skip
        self.folder, self.every_secs, self.state = folder, every_secs, state
        self.saver = checkpoint.BackgroundSaver()
        self.saved_epoch, self.saved_at = start_epoch, time.perf_counter()
        self.done: tuple | None = None  # (epoch, params, opt_state): the last finished one

    def finished(self, epoch: int, params, opt_state, last: bool) -> None:
        self.done = (epoch, params, opt_state)
        if last or distributed.agree(time.perf_counter() - self.saved_at >= self.every_secs):
            self._save()

    def keep_finished(self) -> None:
        if self.done is not None and self.done[0] > self.saved_epoch:
            self._save()
        self.saver.close()

    def abandon(self) -> None:
        self.saver.abandon()

    def close(self) -> None:
        """Wait for the last save."""
        self.saver.close()

    def _save(self) -> None:
        epoch, params, opt_state = self.done
        self.saver.save(self.folder, epoch, self.state(epoch, params, opt_state))
        self.saved_epoch, self.saved_at = epoch, time.perf_counter()


class Progress:
    """The epochs' progress bar (cost and up to two metrics, train and test) and, under it,
    the steps of the epoch in progress with their ETA (``StepsBar``); shown by the writer
    only, and not at all with ``enabled=False`` (``--quiet``). ``between_chunks`` runs after
    every chunk of steps, shown or not: the steps bar moves, and a stop requested meanwhile
    ends the epoch there (``signals.check``): one program for a whole epoch would hold the
    host until it ended, and the stop would wait for it."""

    def __init__(self, label: str, enabled: bool, steps_per_epoch: int):
        self.label, self.enabled = label, enabled and distributed.is_writer()
        self.steps = StepsBar(steps_per_epoch, self.enabled)
        self.bar = None

    def epochs(self, start: int, stop: int):
        from tqdm.auto import tqdm

        self.bar = tqdm(range(start, stop), initial=start, total=stop, desc=self.label,
                        unit="epoch", disable=not self.enabled, file=sys.stderr)  # fmt: skip
        return self.bar

    def between_chunks(self, steps_done: int) -> None:
        self.steps.moved_to(steps_done)
        signals.check()

    def epoch_ended(self) -> None:
        self.steps.reset()

    def show(self, row: dict) -> None:
        self.bar.set_postfix(postfix(row))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def postfix(row: dict) -> dict:
    """The progress bar's postfix: the cost and up to two other metrics, train and test (or
    validation: ``val_``)."""
    shown = {"cost": f"{row['cost']:.4f}"}
    held = "validation" if any(k.startswith("validation_") for k in row) else "test"
    for key in [k for k in row if k.startswith(held + "_") and k != held + "_cost"][:2]:
        name = key[len(held) + 1 :]
        shown[name[:8]] = f"{row.get('train_' + name, float('nan')):.3f}"
        shown[("test_" if held == "test" else "val_") + name[:8]] = f"{row[key]:.3f}"
    return shown


class StepsBar:
    """A second progress bar under the epochs' one: the minibatch steps of the epoch in
    progress and its ETA (``ChunkedEpoch`` and ``StreamedEpoch`` report them), cleared when
    the epoch ends. Shown only after the epoch has run for ``AFTER_SECONDS``: quick epochs
    never flash one."""

    AFTER_SECONDS = 2.0

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.bar, self.started = None, time.perf_counter()

    def moved_to(self, steps: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.started < self.AFTER_SECONDS:
                return
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, unit="step", leave=False, position=1,
                            desc="  steps", file=sys.stderr)  # fmt: skip
        self.bar.update(steps - self.bar.n)

    def reset(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.started = None, time.perf_counter()
