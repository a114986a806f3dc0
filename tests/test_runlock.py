"""One owner per run folder (jaxnn.runlock) and preemption (jaxnn.signals): a second run
given the same --out stops at once with one line, the first finishes untouched; a killed
run leaves no stale lock; SIGTERM checkpoints the finished epochs and says how to
--resume, in one process and in every process of a distributed run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from test_distributed import ARGS, cpu_env, errors, finish, free_port, start

from jaxnn import checkpoint, runlock
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.run import TrainConfig, train_and_evaluate


def jaxnn_train(out, *extra):
    return subprocess.Popen([sys.executable, "-m", "jaxnn.cli", "train", *ARGS, "--out",
                             str(out), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cpu_env())  # fmt: skip


def wait_for_checkpoint(out, timeout=200):
    deadline = time.time() + timeout
    while checkpoint.latest_epoch(str(out / "checkpoints")) is None and time.time() < deadline:
        time.sleep(0.05)
    assert checkpoint.latest_epoch(str(out / "checkpoints")) is not None


def test_a_held_folder_is_refused_with_one_line_naming_it_and_its_owner(tmp_path):
    out = tmp_path / "run"
    with runlock.owned(str(out)):
        before = sorted(os.listdir(out))
        with pytest.raises(ConfigError) as caught:
            train_and_evaluate(TrainConfig(epochs=1), str(out), progress=False)
        assert sorted(os.listdir(out)) == before  # the second run wrote nothing
    message = str(caught.value)
    assert str(out) in message and f"pid {os.getpid()}" in message and "\n" not in message
    # released with the block: the folder is free again
    train_and_evaluate(TrainConfig(epochs=1), str(out), progress=False)


def test_a_killed_owner_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from jaxnn import runlock\n"
         f"with runlock.owned({str(out)!r}):\n    print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ConfigError, match=f"pid {holder.pid}"):
        with runlock.owned(str(out)):
            pass
    holder.kill()
    holder.wait()
    with runlock.owned(str(out)):  # taken over at once
        pass


def test_the_same_command_twice_the_second_refuses_the_first_finishes(tmp_path):
    out = tmp_path / "run"
    first = jaxnn_train(out, "--epochs", "60")
    wait_for_checkpoint(out)
    second = jaxnn_train(out, "--epochs", "60")
    code2, _, err2 = finish([second], timeout=120)[0]
    (code1, out1, err1), = finish([first], timeout=300)  # fmt: skip
    assert code2 == 2 and len(errors(err2)) == 1, err2
    assert "belongs to a run that is still going" in err2 and str(out) in err2
    assert f"pid {first.pid}" in err2, err2
    assert code1 == 0, err1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 60
    assert len((out / "history.jsonl").read_text().splitlines()) == 60


def test_sigterm_checkpoints_the_finished_epochs_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    run = jaxnn_train(out, "--epochs", "400")
    wait_for_checkpoint(out)
    run.send_signal(signal.SIGTERM)
    (code, _, err), = finish([run], timeout=60)  # fmt: skip
    assert code == 143, err
    lines = [line for line in err.splitlines() if line.startswith("jaxnn train:")]
    assert len(lines) == 1 and "SIGTERM" in lines[0] and "--resume" in lines[0], err
    saved = checkpoint.latest_epoch(str(out / "checkpoints"))
    assert f"epochs 1-{saved} are checkpointed" in lines[0]
    history = (out / "history.jsonl").read_text().splitlines()
    assert len(history) >= saved  # every finished epoch kept
    assert "Traceback" not in err


@pytest.mark.parametrize("signalled", [(0, 1), (1,)], ids=["both", "process1"])
def test_sigterm_stops_every_process_after_the_same_epoch(tmp_path, signalled):
    """SIGTERM to every process (a scheduler) or to one: all stop after one epoch they all
    finished, with one line and exit 143; --resume then finishes the run."""
    out = tmp_path / "run"
    port = free_port()
    started = [start(i, port, out, "--epochs", "400") for i in (0, 1)]
    wait_for_checkpoint(out)
    for i in signalled:
        started[i].send_signal(signal.SIGTERM)
    results = finish(started, timeout=90)
    saved = checkpoint.latest_epoch(str(out / "checkpoints"))
    for code, _, err in results:
        lines = [line for line in err.splitlines() if line.startswith("jaxnn train:")]
        assert code == 143 and len(lines) == 1 and "--resume" in lines[0], err
    port = free_port()
    resumed = finish([start(i, port, out, "--epochs", str(saved + 1), "--resume")
                      for i in (0, 1)])  # fmt: skip
    for code, _, err in resumed:
        assert code == 0, err
    assert int(checkpoint.load(str(out / "checkpoints"))["epoch"]) == saved + 1


def test_a_refused_start_leaves_no_run_folder(tmp_path):
    """A setting refused after the lock was taken: the folder the run made is gone again;
    a folder that was there before stays, and so does one the run wrote into."""
    bad = TrainConfig(dataset="digits", model="mlp", epochs=1, layers=(10, 5, 10))
    new = tmp_path / "new" / "run"
    with pytest.raises(ShapeError, match="64 features"):  # found once the data's sizes are
        train_and_evaluate(bad, str(new), progress=False)
    assert not new.exists() and (tmp_path / "new").exists()  # only the folder it made
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(ShapeError, match="64 features"):
        train_and_evaluate(bad, str(kept), progress=False)
    assert kept.exists()
    with pytest.raises(ConfigError), runlock.owned(str(tmp_path / "wrote")):
        (tmp_path / "wrote" / "config.json").write_text("{}")
        raise ConfigError("after a write")
    assert (tmp_path / "wrote" / "config.json").exists()
