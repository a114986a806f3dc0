"""Ctrl-C and SIGTERM stop a run within about a chunk of steps, quiet or not (jaxnn.signals,
issue #33): the epoch runs in chunks and Python has control between them, so the signal
handler runs there; the finished epochs are kept and the epoch in progress is dropped.

Every registered model is checked in-process at its small size (its epoch gives control
back after each chunk, and cutting the epoch changes no bit); the real signals, SIGINT and
SIGTERM, quiet and with the bar, are sent to a subprocess training one long epoch."""

import json
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_defaults import small_step
from test_distributed import cpu_env

from jaxnn import checkpoint, chunked_epoch, models, signals, train
from jaxnn.run import TrainConfig, train_and_evaluate

# the conv nets' fixed forms (no timing of every form of every part at the first compile)
pytestmark = pytest.mark.usefixtures("untuned")

BATCH, STEPS = 2, 3  # three one-step chunks of two examples
# compiled and run: the first model of each builder module; the others share its code (the
# CIFAR ResNets differ only in depth, the papers' conv nets in their layer lists) and are
# traced only: compiling all 26 took 6 minutes of the suite's 10, 5 of them the deep ResNets
RUN = {}
for _name in models.MODELS:
    RUN.setdefault(models._builders()[_name].__module__, _name)
RUN = set(RUN.values())


def _same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("name", models.MODELS)
def test_every_models_epoch_gives_control_back_after_each_chunk(name, monkeypatch):
    """For every model, the epoch the run trains with (``ChunkedEpoch``, quiet or not): its
    chunk is one program whose first and last steps are arguments, so however a run cuts
    its epochs (by time, quiet or not) the same program runs the same steps. Run (RUN): it
    returns to Python after each chunk, where a stop (the signal handler's exception) ends
    it before the next chunk, and one chunk or chunks of one step give the same bits."""
    model, init_opt_state, step = small_step(name)  # its defaults' optimizer, small size
    key_params, key_data, key = jax.random.split(jax.random.PRNGKey(0), 3)
    m = BATCH * STEPS
    epoch = chunked_epoch.ChunkedEpoch(step, m, BATCH, example_axis=model.example_axis)

    def example_rows(key_data):
        return train.device_rows(*models.example(model, key_data, m), model.example_axis)

    params = jax.eval_shape(model.init, key_params)
    traced = epoch.lower(params, jax.eval_shape(init_opt_state, params),
                         jax.ShapeDtypeStruct((m,), jnp.int32),
                         *jax.eval_shape(example_rows, key_data), key)  # fmt: skip
    (_, _, _, start, stop, *_), _ = traced._chunk.in_avals
    assert start.shape == stop.shape == () and start.dtype == stop.dtype == jnp.int32
    if name not in RUN:
        return

    params = model.init(key_params)
    order = train.epoch_order(key, 0, m)
    args = (params, init_opt_state(params), order, *example_rows(key_data), key)
    monkeypatch.setattr(chunked_epoch, "SECONDS_PER_CHUNK", 0.0)  # chunks of one step
    reported = []
    cut = epoch(*args, progress=reported.append)
    assert reported == list(range(1, STEPS + 1))
    _same(cut, epoch(*args))  # one chunk: the same program, the same bits

    def stop(steps_done):
        reported.append(steps_done)
        raise KeyboardInterrupt

    reported.clear()
    with pytest.raises(KeyboardInterrupt):
        epoch(*args, progress=stop)
    assert reported == [1]


SMALL = dict(dataset="digits", layers=(64, 8, 10), batch_size=300, lr=0.1, seed=2)


def test_a_quiet_run_stops_inside_an_epoch_keeping_the_finished_ones(tmp_path, monkeypatch):
    """--quiet (progress=False): a stop requested in the middle of epoch 2 ends it there;
    epoch 1 is checkpointed, epoch 2 is not half-saved, and --resume then gives the same
    params as a run never stopped. Quiet and shown runs write the same numbers."""
    monkeypatch.setattr(chunked_epoch, "SECONDS_PER_CHUNK", 0.0)  # chunks of one step
    per_epoch = train.steps_per_epoch(1437, 300)  # digits' training set: 4 steps and a part
    checks = []
    real_check = signals.check

    def check():  # what a signal does between two chunks: raise in the training loop
        checks.append(True)
        if len(checks) == per_epoch + 1 + 2:  # after epoch 1's chunks, its end and 2 more
            raise signals.Preempted("stopped by SIGTERM")
        real_check()

    monkeypatch.setattr(signals, "check", check)
    stopped = tmp_path / "stopped"
    with pytest.raises(signals.Preempted):
        train_and_evaluate(TrainConfig(**SMALL, epochs=3, checkpoint_secs=3600), str(stopped),
                           progress=False)  # fmt: skip
    assert checkpoint.latest_epoch(str(stopped / "checkpoints")) == 1
    history = (stopped / "history.jsonl").read_text().splitlines()
    assert [json.loads(row)["epoch"] for row in history] == [1]
    monkeypatch.setattr(signals, "check", real_check)

    resumed = train_and_evaluate(TrainConfig(**SMALL, epochs=3), str(stopped), resume=True,
                                 progress=False)  # fmt: skip
    assert resumed["resumed_from_epoch"] == 1
    quiet = train_and_evaluate(TrainConfig(**SMALL, epochs=3), str(tmp_path / "quiet"),
                               progress=False)  # fmt: skip
    shown = train_and_evaluate(TrainConfig(**SMALL, epochs=3), str(tmp_path / "shown"),
                               progress=True)  # fmt: skip
    _same(checkpoint.load(str(stopped / "checkpoints"), 3)["params"],
          checkpoint.load(str(tmp_path / "quiet" / "checkpoints"), 3)["params"])  # fmt: skip

    def numbers(metrics):
        return {k: v for k, v in metrics.items() if isinstance(v, float) and "seconds" not in k}

    assert numbers(quiet) == numbers(shown) == numbers(resumed)


# one epoch of 1437 one-example steps through 4096-wide layers: far longer than STOP_SECONDS
# on any machine the suite runs on (a minute or more on two CPU cores), cheap to compile
LONG_EPOCH = ["--dataset", "digits", "--layers", "64,4096,4096,10", "--batch-size", "1",
              "--lr", "0.01", "--epochs", "1", "--checkpoint-secs", "0"]  # fmt: skip
STOP_SECONDS = 10.0  # from the signal to the exit: a chunk (0.5 s), the save, the shutdown
DISTRIBUTED_STOP_SECONDS = 30.0  # the same, with two processes (and a compile, maybe)


@pytest.mark.parametrize("mode", ["quiet", "bar"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_run_within_seconds(tmp_path, signum, mode):
    """The issue's case: ``timeout -s INT 45 jaxnn train ... --quiet`` waited for the epoch
    to end (one compiled program). A real signal in the middle of the first epoch: the run
    ends within STOP_SECONDS with one line saying nothing was finished, and saves nothing."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "jaxnn.cli", "train", *LONG_EPOCH, "--out", str(out),
               *(["--quiet"] if mode == "quiet" else [])]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=cpu_env())  # fmt: skip
    deadline = time.time() + 240
    while not (out / "config.json").exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)  # config.json: compiled, about to train
    time.sleep(1.0)  # some chunks into the epoch
    assert run.poll() is None, run.communicate()
    run.send_signal(signum)
    sent = time.perf_counter()
    try:
        _, err = run.communicate(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        run.kill()
        _, err = run.communicate()
        pytest.fail(f"{signum.name} did not stop the run within {STOP_SECONDS} s: {err[-2000:]}")
    seconds = time.perf_counter() - sent
    lines = [line for line in err.splitlines() if line.startswith("jaxnn train:")]
    assert "Traceback" not in err and len(lines) == 1, err
    if signum == signal.SIGINT:
        assert run.returncode == 130, err
        assert lines[0] == "jaxnn train: interrupted (no epoch was saved yet)", err
    else:
        assert run.returncode == signals.EXIT_CODE, err
        assert lines[0] == (f"jaxnn train: stopped by SIGTERM: no epoch had finished in {out}; "
                            "run the same command with --resume to continue"), err  # fmt: skip
    assert checkpoint.latest_epoch(str(out / "checkpoints")) is None
    assert seconds < STOP_SECONDS


def test_sigterm_stops_a_quiet_distributed_run_inside_its_first_epoch(tmp_path):
    """Two processes, --quiet (a chunk is 1/20 of an epoch, the same on both): SIGTERM to
    process 1 early in the run stops both at the same chunk of the first epoch, each with
    the one line and exit 143. Before, the processes agreed only after each epoch: they
    stopped after epoch 1 (``epochs 1-1 are checkpointed``)."""
    from test_distributed import finish, free_port, start

    out = tmp_path / "run"
    args = ["--dataset", "digits", "--layers", "64,1024,1024,10", "--batch-size", "2",
            "--lr", "0.01", "--epochs", "2", "--quiet"]  # fmt: skip
    port = free_port()
    started = [start(i, port, out, args=args) for i in (0, 1)]
    deadline = time.time() + 240
    while not (out / "config.json").exists() and time.time() < deadline:
        time.sleep(0.05)  # config.json: about to compile (a mesh: not while loading), then train
    time.sleep(1.0)
    started[1].send_signal(signal.SIGTERM)
    sent = time.perf_counter()
    results = finish(started, timeout=120)
    seconds = time.perf_counter() - sent
    for code, _, err in results:
        lines = [line for line in err.splitlines() if line.startswith("jaxnn train:")]
        assert code == signals.EXIT_CODE and len(lines) == 1, err
        assert "no epoch had finished" in lines[0] and "--resume" in lines[0], err
    assert checkpoint.latest_epoch(str(out / "checkpoints")) is None
    assert seconds < DISTRIBUTED_STOP_SECONDS
