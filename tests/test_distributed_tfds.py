"""Two processes (``jaxnn train --distributed``) on a TFDS dataset built from a tiny IDX
fixture — the path every MNIST / Fashion-MNIST run takes, through the streaming decision —
against one process; and what happens when one process fails, however it fails: every
process ends within seconds with one line and its exit code (7 for the survivors), never a
C++ stack trace, never a hang."""

import json
import re
import signal
import time

import pytest
from test_distributed import errors, finish, free_port, start
from test_stream import params_of, tiny_mnist  # noqa: F401  (a fixture)
from test_stream_families import assert_params_close
from test_supervise import FATAL

from jaxnn import checkpoint, run
from jaxnn.run import train_and_evaluate

FAMILY_ARGS = {
    "mlp": ["--layers", "784,16,10"],
    "lenet5": ["--model", "lenet5", "--width", "0.25"],
    "lstm": ["--model", "lstm", "--option", "hidden_size=8"],
}
# 60 training images: batch 16 leaves a partial last minibatch, a program of its own that the
# MLP's runs cover; the conv net and the LSTM take 20 (3 whole minibatches), one compile less
FAMILY_BATCH = {"mlp": 16, "lenet5": 20, "lstm": 20}
FAMILY_CONFIG = {
    "mlp": dict(layers=(784, 16, 10)),
    "lenet5": dict(model="lenet5", width=0.25),
    "lstm": dict(model="lstm", options={"hidden_size": 8}),
}


def args_for(data_dir, family="mlp", epochs=1, *extra):
    return ["--dataset", "mnist", "--data-dir", data_dir, *FAMILY_ARGS[family], "--batch-size",
            str(FAMILY_BATCH[family]), "--lr", "0.05", "--seed", "1", "--epochs", str(epochs),
            "--quiet", "--checkpoint-secs", "0", *extra]  # fmt: skip


def single(data_dir, out, family="mlp", epochs=1, **changes):
    """The same run in one process, with the model's defaults for what the command line
    leaves out (``jaxnn train`` uses them too: momentum for LeNet-5, Adam for the LSTM)."""
    settings = {"model": "mlp", **FAMILY_CONFIG[family]}
    config = run.train_config(settings.pop("model"), "mnist", data_dir=data_dir,
                                   batch_size=FAMILY_BATCH[family], lr=0.05, seed=1, epochs=epochs,
                                   checkpoint_secs=0, **settings, **changes)  # fmt: skip
    return train_and_evaluate(config, str(out), progress=False)


def two(data_dir, out, family="mlp", epochs=1, extra=((), ())):
    port = free_port()
    return [start(i, port, out, args=args_for(data_dir, family, epochs, *extra[i]),
                  devices=False) for i in (0, 1)]  # fmt: skip


def assert_one_line(err, *words):
    """One jaxnn error line naming ``words``, and no traceback or C++ log."""
    lines = errors(err)
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], err
    assert "Traceback" not in err and "Check failure" not in err, err
    assert not [line for line in err.splitlines() if re.match(r"[IWEF]\d{4} ", line)], err


@pytest.mark.parametrize("family", ["mlp", "lenet5", "lstm"])
@pytest.mark.parametrize("streamed", [False, True], ids=["in_memory", "stream"])
def test_two_processes_train_the_single_process_params(tiny_mnist, tmp_path, family,  # noqa: F811
                                                       streamed):  # fmt: skip
    extra = ["--stream"] if streamed else []
    results = finish(two(tiny_mnist, tmp_path / "d", family, 1, (extra, extra)), timeout=300)
    for code, _, err in results:
        assert code == 0, err
    metrics = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert (metrics["streamed"], metrics["processes"], metrics["devices"]) == (streamed, 2, 2)
    single(tiny_mnist, tmp_path / "m", family)
    assert_params_close(params_of(tmp_path / "d"), params_of(tmp_path / "m"))


def test_a_bad_setting_on_one_process_stops_both(tiny_mnist, tmp_path):  # noqa: F811
    """--lr -1 on process 1 only: it stops with its own error (exit 2); process 0, whatever
    it was doing, with `process 1 failed` (exit 7), within seconds."""
    began = time.time()
    (code0, _, err0), (code1, _, err1) = finish(
        two(tiny_mnist, tmp_path / "d", extra=((), ("--lr", "-1"))), timeout=120
    )
    assert time.time() - began < 90
    assert code1 == 2 and code0 == 7, (err0, err1)
    assert_one_line(err1, "--lr must be")
    assert_one_line(err0, "process 1 of 2 failed", "--lr must be")
    assert not (tmp_path / "d" / "metrics.json").exists()


def plant_in_process_1(tmp_path, monkeypatch, code: str) -> None:
    """Run ``code`` (lines indented 8 spaces) at the start of process 1's supervised child:
    a test-side sitecustomize on PYTHONPATH."""
    plant = tmp_path / "plant"
    plant.mkdir()
    (plant / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('JAXNN_SUPERVISED') and '--process-id' in os.sys.argv:\n"
        "    if os.sys.argv[os.sys.argv.index('--process-id') + 1] == '1':\n" + code
    )
    monkeypatch.setenv("PYTHONPATH", str(plant))


def test_other_settings_on_one_process_are_refused(tiny_mnist, tmp_path, monkeypatch):  # noqa: F811
    """Valid but different settings (--seed) would train two different runs as one.

    And the race CI once met on the way out (1 run in 24 here under CPU load): process 0,
    told that process 1 is leaving, exits and takes the coordination service with it, and
    JAX's client in process 1 logs its fatal line and aborts before process 1's own exit.
    Planted here in process 1 every time (a test-side sitecustomize: its last step is that
    abort): its own line and its own exit code (2) still stand, not exit 7."""
    plant_in_process_1(
        tmp_path, monkeypatch,
        "        from jaxnn import distributed\n"
        "        def aborted(code):\n"
        f"            os.write(2, {FATAL!r})\n"
        "            os.abort()\n"
        "        distributed._exit_now = aborted\n",
    )  # fmt: skip
    (code0, _, err0), (code1, _, err1) = finish(
        two(tiny_mnist, tmp_path / "d", extra=((), ("--seed", "5"))), timeout=120
    )
    assert code1 == 2 and code0 == 7, (err0, err1)
    assert_one_line(err1, "other settings than process 0", "--seed 1 there, 5 here")
    assert_one_line(err0, "process 1 of 2 failed")


def test_a_python_error_during_training_stops_both(tiny_mnist, tmp_path, monkeypatch):  # noqa: F811
    """A fault planted in process 1's data reading (a test-side sitecustomize) in the middle
    of the streamed epoch: process 1 reports a failure (exit 1, its traceback: a bug),
    process 0 stops with `process 1 failed` (exit 7) instead of waiting in the collective,
    and only once process 1 has said it is leaving: process 1 is not aborted by the
    coordination service going away (which the supervisor reports as `lost contact`)."""
    plant_in_process_1(
        tmp_path, monkeypatch,
        "        from jaxnn import stream\n"
        "        real, calls = stream.Source.read, []\n"
        "        def read(self, indices):\n"
        "            calls.append(1)\n"
        "            if len(calls) == 2:\n"
        "                raise RuntimeError('planted fault in process 1')\n"
        "            return real(self, indices)\n"
        "        stream.Source.read = read\n"
        # and a slow terminal: process 1's last line takes a second to write, while process
        # 0, which serves the coordination service, must not exit before it is out
        "        class Slow:\n"
        "            def __init__(self, inner):\n"
        "                self.inner = inner\n"
        "            def write(self, text):\n"
        "                if 'error: process 1 failed' in text:\n"
        "                    __import__('time').sleep(1.0)\n"
        "                return self.inner.write(text)\n"
        "            def __getattr__(self, name):\n"
        "                return getattr(self.inner, name)\n"
        "        os.sys.stderr = Slow(os.sys.stderr)\n",
    )  # fmt: skip
    (code0, _, err0), (code1, _, err1) = finish(
        two(tiny_mnist, tmp_path / "d", extra=(("--stream",), ("--stream",))), timeout=120
    )
    assert code1 == 1 and "planted fault" in err1, err1
    assert code0 == 7, err0
    assert_one_line(err0, "process 1 of 2 failed", "RuntimeError: planted fault")


@pytest.mark.parametrize("victim", [0, 1])
def test_a_killed_process_stops_the_other_with_one_line(tiny_mnist, tmp_path, victim):  # noqa: F811
    """SIGKILL of either process mid-run, process 0 (which serves JAX's coordination service)
    included: the other ends with `lost contact` and exit 7 within seconds; the checkpoint
    it stops on is whole (--resume continues)."""
    out = tmp_path / "d"
    started = two(tiny_mnist, out, epochs=300)
    deadline = time.time() + 200
    while checkpoint.latest_epoch(str(out / "checkpoints")) is None and time.time() < deadline:
        time.sleep(0.05)
    started[victim].send_signal(signal.SIGKILL)
    killed_at = time.time()
    results = finish(started, timeout=60)
    stopped_after = time.time() - killed_at
    code, _, err = results[1 - victim]
    if code == 0:
        pytest.skip("the run had finished before the kill")
    assert results[victim][0] == -signal.SIGKILL
    assert code == 7 and stopped_after < 20, err
    assert_one_line(err, "lost contact", "--resume")
    epoch = checkpoint.latest_epoch(str(out / "checkpoints"))
    checkpoint.load(str(out / "checkpoints"), epoch)  # whole: its manifest verifies
