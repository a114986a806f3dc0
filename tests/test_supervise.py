"""jaxnn.supervise: the child's output passes through as it comes, a fatal C++ log line and
everything after it do not, and an aborted child becomes one line and exit 7."""

import io
import os
import signal
import subprocess
import sys
import time

import pytest

from jaxnn import supervise

FATAL = (b"F1129 18:46:59.696741   12470 client.h:80] Terminating process because the JAX "
         b"distributed service detected fatal errors.\n*** Check failure stack trace: ***\n"
         b"    @     0x7f756f440634  absl::log_internal::LogMessage::SendToLog()\n")  # fmt: skip


def pumped(*chunks: bytes) -> tuple[bytes, bool]:
    read, write = os.pipe()
    for chunk in chunks:
        os.write(write, chunk)
    os.close(write)
    sink = io.BytesIO()
    with os.fdopen(read, "rb") as source:
        fatal, said = supervise._pump(source, sink, "jaxnn train")
    pumped.said = said
    return sink.getvalue(), fatal


def test_output_passes_through_and_the_fatal_abort_does_not():
    progress = b"epochs:  50%|#####     | 1/2\r"
    shown, fatal = pumped(b"line one\n", progress, b"F12", b"", b"E1129 a logged error\n")
    assert (shown, fatal) == (b"line one\n" + progress + b"F12E1129 a logged error\n", False)
    shown, fatal = pumped(b"jaxnn: before\n", FATAL[:30], FATAL[30:], b"after\n")
    assert (shown, fatal, pumped.said) == (b"jaxnn: before\n", True, False)
    pumped(b"jaxnn train: error: process 1 of 2 lost contact (Gloo)\n", FATAL)
    assert pumped.said
    # a stop inside an epoch: the child's line, then process 0 gone first and the abort
    pumped(b"jaxnn train: stopped by SIGTERM: epochs 1-1 are checkpointed\n", FATAL)
    assert pumped.said
    pumped(b"jaxnn train: --resume: runs/x holds no run yet; starting a new run\n", FATAL)
    assert not pumped.said  # a notice is not the child's last word


def pumped_chunks(*chunks: bytes) -> tuple[bytes, bool, bool]:
    """``_pump`` over ``chunks`` as separate reads (a writer thread feeding a pipe, each
    chunk read before the next is written)."""
    read, write = os.pipe()
    sink = io.BytesIO()

    class Source:
        def __init__(self):
            self.chunks = iter(chunks)

        def fileno(self):
            chunk = next(self.chunks, None)
            if chunk is not None:
                os.write(write, chunk)
            else:
                os.close(write)
            return read

    fatal, said = supervise._pump(Source(), sink, "jaxnn train")
    os.close(read)
    return sink.getvalue(), fatal, said


LOST = (b"jaxnn train: error: process 1 of 2 lost contact with the others (Gloo); every "
        b"process stops. Restart all of them with --resume")  # fmt: skip


def test_a_fatal_line_glued_to_the_childs_last_line_is_cut_off():
    """Seen under load: the abort's fatal line written between the child's error line and
    its newline, so that it did not start a line of its own and passed through, stack trace
    and all. The child's line is kept (with its newline), the rest dropped; so it is when the
    pieces come in separate reads, cut anywhere."""
    assert pumped(LOST + FATAL) == (LOST + b"\n", True) and pumped.said
    for cut in (3, 9, 20, 35, 48):
        assert pumped_chunks(LOST, FATAL[:cut], FATAL[cut:]) == (LOST + b"\n", True, True)
    progress = b"epochs:  50%|#####     | 1/2\r"
    assert pumped_chunks(progress, FATAL) == (progress + b"\n", True, False)
    # a capital F and digits that are not a log line pass through, once the line goes on
    assert pumped_chunks(b"loss F1 ", b"0.5\n") == (b"loss F1 0.5\n", False, False)


def supervised(tmp_path, monkeypatch, body: str) -> int:
    """``supervise.supervise``'s code for a child that runs ``body`` (a Python script)."""
    script = tmp_path / "child.py"
    script.write_text(body)
    real = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen",
                        lambda _, **kw: real([sys.executable, str(script)], **kw))  # fmt: skip
    return supervise.supervise(["train"], "jaxnn train", 1)


def said_then(said: bytes, ending: str) -> str:
    """A child script that writes ``said`` on stderr, then ends with ``ending``."""
    return f"import os, sys\nsys.stderr.buffer.write({said!r})\nsys.stderr.flush()\n{ending}\n"


def test_a_child_that_said_its_error_then_aborted_is_that_one_line(tmp_path, monkeypatch,
                                                                   capfd):  # fmt: skip
    """Process 0 killed: the child's collective fails and it prints its lost-contact line,
    then JAX's client aborts it on the way out. The supervisor adds no second line."""
    said = b"jaxnn train: error: process 1 of 2 lost contact with the others (Gloo)\n"
    assert supervised(tmp_path, monkeypatch, said_then(said + FATAL, "os.abort()")) == 7
    assert capfd.readouterr().err.encode() == said


@pytest.mark.parametrize("ending", ["os.abort()", "os._exit(2)"])
@pytest.mark.parametrize("chose", [True, False], ids=["chose", "chose_nothing"])
def test_a_child_aborted_after_choosing_its_code_exits_with_that_code(
    tmp_path, monkeypatch, capfd, ending, chose
):
    """The race CI met: process 1 prints its own error (--lr -1: exit 2) and says it is
    leaving; process 0, told, exits and takes the coordination service with it; JAX's
    client in process 1 then logs its fatal line and aborts — before or after process 1's
    own ``os._exit(2)``. The code it had chosen stands; a child that chose none (process 0
    gone mid-collective) is exit 7."""
    said = b"jaxnn train: error: --lr must be a finite number > 0; got -1.0\n"
    choose = "from jaxnn import supervise\nsupervise.chosen(2)\n" if chose else ""
    code = supervised(tmp_path, monkeypatch, choose + said_then(said + FATAL, ending))
    assert code == (2 if chose else 7)
    assert capfd.readouterr().err.encode() == said


def test_chosen_does_nothing_outside_a_supervised_child(monkeypatch):
    monkeypatch.delenv(supervise.CODE_FD, raising=False)
    supervise.chosen(2)  # no pipe named: nothing written, nothing raised
    read, write = os.pipe()
    os.close(read)
    monkeypatch.setenv(supervise.CODE_FD, str(write))
    supervise.chosen(2)  # the supervisor gone (a broken pipe): nothing raised
    os.close(write)


def test_an_aborted_child_is_one_line_and_exit_7(tmp_path, monkeypatch, capfd):
    """A child that aborts (SIGABRT) after a fatal C++ log, as JAX's client does when the
    coordination service is gone."""
    code = supervised(tmp_path, monkeypatch, said_then(FATAL, "os.abort()"))
    err = capfd.readouterr().err
    assert code == 7
    assert err.splitlines() == [err.splitlines()[0]] and "process 1 lost contact" in err
    assert "Check failure" not in err and "client.h" not in err


# the supervised child: it marks itself to die with its supervisor, then waits
CHILD = ("import sys, time\nfrom jaxnn import supervise\nsupervise.die_with_parent()\n"
         "print('ready', flush=True)\ntime.sleep(120)\n")  # fmt: skip
# the supervisor: starts the child as supervise.supervise does, says the child's pid, waits
SUPERVISOR = f"""import os, subprocess, sys, time
env = {{**os.environ, {supervise.ENV!r}: str(os.getpid())}}
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}], env=env, stdout=subprocess.PIPE,
                         start_new_session=True)
assert child.stdout.readline() == b"ready\\n"
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie left for a reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_supervised_child_dies_with_its_supervisor():
    """A scheduler's SIGKILL to the supervisor takes the child's work with it (no orphan
    holding the devices); set in the child itself, with no preexec_fn in the supervisor."""
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR], stdout=subprocess.PIPE)
    child = int(supervisor.stdout.readline())
    try:
        assert _alive(child)
        supervisor.kill()
        supervisor.wait()
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the child outlived its supervisor"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_child_whose_supervisor_is_already_gone_stops_at_once_and_others_carry_on():
    run = [sys.executable, "-c", CHILD.replace("time.sleep(120)", "")]
    gone = subprocess.run(run, env={**os.environ, supervise.ENV: "999999999"},
                          capture_output=True, timeout=60)  # fmt: skip
    assert gone.returncode == -signal.SIGKILL and gone.stdout == b""
    not_supervised = {k: v for k, v in os.environ.items() if k != supervise.ENV}
    ordinary = subprocess.run(run, env=not_supervised, capture_output=True, timeout=60)
    assert ordinary.returncode == 0 and ordinary.stdout == b"ready\n"
