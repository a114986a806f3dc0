"""jaxnn.supervise: the child's output passes through as it comes, a fatal C++ log line and
everything after it do not, and an aborted child becomes one line and exit 7."""

import io
import os
import subprocess
import sys

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


def test_a_child_that_said_its_error_then_aborted_is_that_one_line(tmp_path, monkeypatch,
                                                                   capfd):  # fmt: skip
    """Process 0 killed: the child's collective fails and it prints its lost-contact line,
    then JAX's client aborts it on the way out. The supervisor adds no second line."""
    said = b"jaxnn train: error: process 1 of 2 lost contact with the others (Gloo)\n"
    script = tmp_path / "abort.py"
    script.write_text(f"import os, sys\nsys.stderr.buffer.write({said + FATAL!r})\n"
                      "sys.stderr.flush()\nos.abort()\n")  # fmt: skip
    real = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen",
                        lambda _, **kw: real([sys.executable, str(script)], **kw))  # fmt: skip
    assert supervise.supervise(["train"], "jaxnn train", 1) == 7
    assert capfd.readouterr().err.encode() == said


def test_an_aborted_child_is_one_line_and_exit_7(tmp_path, monkeypatch, capfd):
    """A child that aborts (SIGABRT) after a fatal C++ log, as JAX's client does when the
    coordination service is gone."""
    script = tmp_path / "abort.py"
    script.write_text(f"import os, sys\nsys.stderr.buffer.write({FATAL!r})\nsys.stderr.flush()\n"
                      "os.abort()\n")  # fmt: skip
    real = subprocess.Popen

    def popen(command, **kwargs):
        return real([sys.executable, str(script)], **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    code = supervise.supervise(["train"], "jaxnn train", 1)
    err = capfd.readouterr().err
    assert code == 7
    assert err.splitlines() == [err.splitlines()[0]] and "process 1 lost contact" in err
    assert "Check failure" not in err and "client.h" not in err
