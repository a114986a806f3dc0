"""Several processes for real: ``jaxnn train --distributed`` as 2 processes on localhost
(Gloo CPU collectives, one CPU device each), against the single-process run."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxnn import checkpoint
from jaxnn.run import TrainConfig, train_and_evaluate

SETTINGS = dict(dataset="digits", layers=(64, 16, 10), batch_size=16, lr=0.05, seed=3)
ARGS = ["--dataset", "digits", "--layers", "64,16,10", "--batch-size", "16", "--lr", "0.05",
        "--seed", "3", "--quiet", "--checkpoint-secs", "0"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_env(devices: int | None = None) -> dict:
    """A subprocess's environment on the CPU (JAX_PLATFORMS=cpu: a machine with a GPU runs
    the CPU path the test checks): one device per process, or ``devices`` host devices
    (``--xla_force_host_platform_device_count``); the tests' other XLA flags kept."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    if devices is not None:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    return {**os.environ, "XLA_FLAGS": " ".join(flags), "JAX_PLATFORMS": "cpu"}


def start(process_id, port, out, *extra, cwd=None, processes=2, timeout="20", args=ARGS,
          devices=True):  # fmt: skip
    env = cpu_env()  # one CPU device each
    return subprocess.Popen(
        [sys.executable, "-m", "jaxnn.cli", "train", "--distributed", "--coordinator",
         f"127.0.0.1:{port}", "--num-processes", str(processes), "--process-id",
         str(process_id), *(["--devices", str(processes)] if devices else []),
         "--coordinator-timeout", timeout, *args, "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
    )  # fmt: skip


def finish(processes, timeout=120):
    results = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        results.append((process.returncode, out, err))
    return results


def errors(stderr: str) -> list[str]:
    """jaxnn's own error lines (Gloo prints its connection notes on stderr too)."""
    return [line for line in stderr.splitlines() if line.startswith("jaxnn train: error")]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The single-process run the distributed ones must reproduce: {epochs: params}."""
    runs = {}
    for epochs in (2, 4):
        out = tmp_path_factory.mktemp(f"single{epochs}")
        train_and_evaluate(TrainConfig(**SETTINGS, epochs=epochs), str(out), progress=False)
        runs[epochs] = checkpoint.load(str(out / "checkpoints"))["params"]
    return runs


def assert_same_params(params, reference):
    for key in reference:  # the gradient sums split over 2 processes: float rounding
        np.testing.assert_allclose(params[key], reference[key], rtol=1e-5, atol=1e-5)


def test_two_processes_train_the_single_process_params(tmp_path, single):
    """Each process in its own folder with a relative --out: only process 0 writes."""
    port = free_port()
    (tmp_path / "p0").mkdir()
    (tmp_path / "p1").mkdir()
    started = [start(i, port, "run", "--epochs", "2", cwd=tmp_path / f"p{i}") for i in (0, 1)]
    for code, out, err in finish(started):
        assert code == 0, err
        assert "test accuracy" in out
    run = tmp_path / "p0" / "run"
    for name in ("config.json", "history.jsonl", "metrics.json", "cost.png"):
        assert (run / name).stat().st_size > 0
    assert list((tmp_path / "p1").iterdir()) == []  # process 1 wrote nothing
    assert_same_params(checkpoint.load(str(run / "checkpoints"))["params"], single[2])


def test_killed_worker_stops_the_other_then_resume_continues(tmp_path, single):
    out = tmp_path / "run"
    port = free_port()
    started = [start(i, port, out, "--epochs", "4") for i in (0, 1)]
    deadline = time.time() + 120
    while checkpoint.latest_epoch(str(out / "checkpoints")) is None and time.time() < deadline:
        time.sleep(0.05)
    started[1].send_signal(signal.SIGKILL)
    killed_at = time.time()
    (code, _, err), (killed, _, _) = finish(started, timeout=60)
    stopped_after = time.time() - killed_at
    assert killed == -signal.SIGKILL
    if code == 0:
        pytest.skip("process 0 had finished before process 1 was killed")
    assert code == 7, err
    assert stopped_after < 15  # the heartbeat bound is 10 s; a collective notices at once
    lines = errors(err)
    assert len(lines) == 1 and "lost contact" in lines[0] and "--resume" in lines[0], err
    assert "Traceback" not in err
    saved = checkpoint.latest_epoch(str(out / "checkpoints"))
    assert saved is not None and saved < 4
    port = free_port()
    resumed = finish([start(i, port, out, "--epochs", "4", "--resume") for i in (0, 1)])
    for code, _, err in resumed:
        assert code == 0, err
    state = checkpoint.load(str(out / "checkpoints"))
    assert int(state["epoch"]) == 4
    assert_same_params(state["params"], single[4])
    rows = (out / "history.jsonl").read_text().splitlines()
    assert len(rows) == 4


def test_unreachable_coordinator_is_a_clear_error_within_seconds(tmp_path):
    began = time.time()
    (code, _, err), = finish([start(1, free_port(), tmp_path / "r", "--epochs", "1",
                                    timeout="2")])  # fmt: skip
    assert code == 7 and time.time() - began < 30, err
    lines = errors(err)
    assert len(lines) == 1 and "no coordinator answers" in lines[0] and "Traceback" not in err
    # process 0 serves the coordinator: an address of another machine is named at once
    process = subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", "train", "--distributed", "--coordinator",
         "192.0.2.1:1234", "--num-processes", "2", "--process-id", "0", *ARGS,
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode == 7 and "not an address of this machine" in process.stderr


# A finished run whose threads are inside the coordination client's C++ calls at exit: one
# that comes back while Python finalizes is ended by pthread_exit, which C++ turns into
# "terminate called ... FATAL: exception not rethrown" and SIGABRT (CI, 2026-11-30: a
# finished process 1 reported as "lost contact", exit 7). These threads come back every ms.
FINISHED_WITH_BUSY_THREADS = """
import sys, threading
from jaxnn import distributed
distributed.initialize(sys.argv[1], 1, 0)

def busy():
    client = distributed._client()
    while True:
        try:
            client.blocking_key_value_get("never set", 1)
        except Exception:
            pass

def main():
    for _ in range(4):
        threading.Thread(target=busy, daemon=True).start()
    print("trained", flush=True)
    return 0

sys.exit(distributed.run(main, "jaxnn train"))
"""


def test_a_finished_run_exits_cleanly_with_threads_in_the_client():
    for _ in range(3):  # without distributed.finished, every try aborts (exit 134)
        process = subprocess.run(
            [sys.executable, "-c", FINISHED_WITH_BUSY_THREADS, f"127.0.0.1:{free_port()}"],
            capture_output=True, text=True, env=cpu_env(), timeout=120,
        )  # fmt: skip
        assert process.returncode == 0, process.stderr
        assert process.stdout == "trained\n" and "terminate" not in process.stderr


@pytest.mark.parametrize("first", ["main", "watch"])
def test_a_process_prints_one_line_when_two_threads_find_the_loss(monkeypatch, capsys, first):
    """Process 0 killed: process 1's main thread (a collective failed) and its liveness
    thread (the coordination service stopped answering) both find out, at about the same
    time. One of them speaks; the other waits for the process to end. Here the first one's
    last word to the dead service is slow (0.3 s), and the other finds out meanwhile."""
    import threading

    from jaxnn import distributed

    exited, speaking = [], threading.Event()

    class DeadService:
        def key_value_set(self, *_):  # the last word, after the line is printed
            speaking.set()
            time.sleep(0.3)
            raise RuntimeError("UNAVAILABLE")

    def exit_now(code):  # the process ends here: the thread stays
        exited.append(code)
        threading.Event().wait()

    monkeypatch.setattr(distributed, "_client", DeadService)
    monkeypatch.setattr(distributed, "_exit_now", exit_now)
    watch = object.__new__(distributed.Watch)  # no threads, no client
    watch.prefix, watch.leaving, watch.index, watch.processes = "jaxnn train", False, 1, 2
    watch.lock = threading.RLock()  # as Watch.__init__ makes it
    threads = {"main": (watch.exit, ("jaxnn train: error: lost (main)", 7)),
               "watch": (watch._stop, ("lost (watch)",))}  # fmt: skip
    (second,) = set(threads) - {first}
    for name in (first, second):
        target, args = threads[name]
        threading.Thread(target=target, args=args, daemon=True).start()
        if name == first:
            assert speaking.wait(30)  # the first has printed and waits for the service
    deadline = time.monotonic() + 30
    while not exited and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # a second speaker, had it not waited, would have printed by now
    assert capsys.readouterr().err.splitlines() == [f"jaxnn train: error: lost ({first})"]
    assert exited == [7]


def test_devices_of_a_distributed_run_are_all_of_them():
    from jaxnn import distributed
    from jaxnn.errors import ConfigError

    assert distributed.global_devices(1, given=False) == distributed.jax.device_count()
    with pytest.raises(ConfigError, match="every process's devices"):
        distributed.global_devices(distributed.jax.device_count() + 1, given=True)


def test_sweep_splits_the_configurations_over_processes(tmp_path):
    """3 configurations over 2 processes (2 + 1, padded): the single-process results;
    only process 0 writes sweep.json."""
    from jaxnn import data, sweep

    grid = ["--dataset", "flower", "--layers", "2,4,2", "--seeds", "0,1,2", "--lrs", "0.3",
            "--l2s", "0", "--epochs", "20", "--hidden", "tanh", "--batch-size", "0"]  # fmt: skip
    port = free_port()
    env = cpu_env()
    for i in (0, 1):
        (tmp_path / f"p{i}").mkdir()
    started = [subprocess.Popen(
        [sys.executable, "-m", "jaxnn.cli", "sweep", "--distributed", "--coordinator",
         f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i), *grid,
         "--out", "sweep"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path / f"p{i}",
        env=env) for i in (0, 1)]  # fmt: skip
    for code, _, err in finish(started):
        assert code == 0, err
    assert list((tmp_path / "p1").iterdir()) == []
    rows = json.loads((tmp_path / "p0" / "sweep" / "sweep.json").read_text())["results"]
    ds = data.load("flower")
    Y, Y_test = data.one_hot(ds.labels_train, 2), data.one_hot(ds.labels_test, 2)
    configs = sweep.grid([0, 1, 2], [0.3], [0.0])
    alone = sweep.run_sweep(configs, [2, 4, 2], ds.X_train, Y, ds.X_test, Y_test, "tanh",
                            epochs=20)  # fmt: skip
    assert [row["seed"] for row in rows] == [0, 1, 2]
    np.testing.assert_allclose([row["final_cost"] for row in rows], alone.train_metrics["cost"],
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose([row["test_accuracy"] for row in rows], alone.test_accuracy)
