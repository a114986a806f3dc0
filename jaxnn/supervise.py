"""The one failure a distributed process cannot report itself: when the coordination
service's own process (process 0) is gone, JAX's client in every other process aborts at
once from a C++ thread (``client.h: Terminating process because the JAX distributed service
detected fatal errors``, a stack trace, SIGABRT) before any Python code can run.

So ``jaxnn train --distributed`` runs each process's work in a child process (the same
command, ``JAXNN_SUPERVISED=1``) and waits for it: the child's output passes through
as it comes, except a fatal C++ log message and the stack trace after it; a child that
aborts becomes the one-line ``lost contact`` error and exit 7 (or, when the child printed
its own error line before JAX aborted it, that line and the exit code the child had chosen
(``chosen``), else 7). SIGTERM and Ctrl-C are passed
on to the child (which handles them: ``jaxnn.signals``), and the child dies with its parent
(``PR_SET_PDEATHSIG``, ``die_with_parent``), so killing the process a scheduler started kills
the work too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from jaxnn.errors import DistributedError

ENV = "JAXNN_SUPERVISED"
CODE_FD = "JAXNN_SUPERVISED_CODE_FD"  # the pipe the child writes its chosen exit code to
LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"


def _environment() -> dict:
    """The child's: this one's, marked supervised (the supervisor's pid), with XLA's C++
    warnings and errors (the coordination service's notes on a process that is gone) hidden
    behind jaxnn's one line (``TF_CPP_MIN_LOG_LEVEL=3``: fatal ones only, which ``_pump``
    drops; JAX's import sets 1 unless it was set; 0 shows them all)."""
    level = os.environ.get(LOG_LEVEL)
    return {**os.environ, ENV: str(os.getpid()), LOG_LEVEL: "3" if level in (None, "1") else level}


# glog's fatal line: F1129 18:46:59.696741   12470 client.h:80] ... — at the start of a line,
# or glued to the end of the child's last line when the abort's write came between that
# line's text and its newline
_FATAL = re.compile(rb"F\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^ \]]+:\d+\] ")
# the start of one, at the end of what has come so far (held back until the rest comes)
_MAYBE_FATAL = re.compile(rb"F(?:\d{0,3}|\d{4}(?: [\d:.]*(?: +\d*(?: [^ \]\n]*)?)?)?)$")


def wanted() -> bool:
    """Is this the process a user or a scheduler started (not the supervised child)?"""
    return not os.environ.get(ENV)


def die_with_parent() -> None:
    """In the supervised child, before its work: the kernel sends it SIGKILL when the
    supervisor dies (``PR_SET_PDEATHSIG``, Linux). Set here, not between fork and exec (a
    ``preexec_fn`` is unsafe in a parent with threads, as a JAX process has); a supervisor
    gone before this call is caught by its pid (``ENV``) no longer being the parent's. Does
    nothing in any other process."""
    supervisor = os.environ.get(ENV, "")
    if not supervisor.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(supervisor):  # the supervisor died first: as the signal would
        os.kill(os.getpid(), signal.SIGKILL)


def chosen(code: int) -> None:
    """In the supervised child, before it tells the others that it is leaving: the exit
    code it has chosen, for the supervisor. Once process 0 has heard that word it may take
    the coordination service down, and JAX's client can then abort this child before its
    own ``os._exit(code)`` runs; the supervisor reports ``code`` all the same. Does
    nothing in any other process."""
    fd = os.environ.get(CODE_FD, "")
    if fd.isdigit():
        try:
            os.write(int(fd), f"{code}\n".encode())
        except OSError:  # the supervisor is gone: nobody to tell
            pass


def _chosen_code(read_fd: int) -> int | None:
    """The last code the exited child wrote with ``chosen``, if any (read without waiting:
    a process the child started may still hold the pipe's other end)."""
    os.set_blocking(read_fd, False)
    data = b""
    try:
        while chunk := os.read(read_fd, 4096):
            data += chunk
    except BlockingIOError:
        pass
    codes = [int(word) for word in data.split() if word.lstrip(b"-").isdigit()]
    return codes[-1] if codes else None


def _pump(source, sink, prefix: str = "jaxnn") -> tuple[bool, bool]:
    """Copy ``source`` to ``sink`` as it comes until EOF, dropping everything from a fatal
    C++ log line on (a line cut short by one ends there, with its newline); ``(fatal,
    said)``: whether there was one, and whether the child printed its own last line
    (``prefix: error: …``, ``prefix: stopped by SIGTERM …``, ``prefix: interrupted``)
    before it. An unfinished line (a progress bar's ``\\r`` updates) is shown as it comes,
    except a tail that may be the start of a fatal line."""
    # shown: the start of the open line so far, as much as ``said`` reads (a progress bar's
    # line stays open for the whole run: kept whole, it grew, and so did every copy of it)
    fatal, said, pending, shown = False, False, b"", b""
    # the child's own last word: an error, or a stop (SIGTERM, Ctrl-C) inside an epoch, after
    # which process 0 may leave first and JAX's client abort this child (its line stands)
    error_line = tuple(f"{prefix}: {word}".encode() for word in
                       ("error:", "stopped by", "interrupted"))  # fmt: skip
    while chunk := os.read(source.fileno(), 65536):
        if fatal:
            continue
        *lines, pending = (pending + chunk).split(b"\n")
        for text, ended in [*((line, True) for line in lines), (pending, False)]:
            found = _FATAL.search(text)
            cut = found.start() if found else len(text) if ended else _held_from(text)
            shown_now = text[:cut]
            said = said or (shown + shown_now).startswith(error_line)
            if found:
                fatal = True
                if shown or shown_now:  # the child's line, cut short by the abort's
                    sink.write(shown_now + b"\n")
                break
            if ended:
                sink.write(shown_now + b"\n")
                shown = b""
            else:
                sink.write(shown_now)
                shown, pending = (shown + shown_now)[: max(map(len, error_line))], text[cut:]
        sink.flush()
    if not fatal and pending:
        sink.write(pending)
    sink.flush()
    return fatal, said


def _held_from(text: bytes) -> int:
    """Where the end of ``text`` that may be the start of a fatal log line begins (its
    length when there is none)."""
    window = max(len(text) - 256, 0)  # a log line's prefix is ~40-90 bytes
    maybe = _MAYBE_FATAL.search(text, window)
    return maybe.start() if maybe else len(text)


def supervise(argv: list[str], prefix: str, process_id: int | None) -> int:
    """Run ``jaxnn argv`` as the supervised child; its exit code, or 7 with one line when
    it aborted (see the module docstring)."""
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "jaxnn.cli", *argv],
            env={**_environment(), CODE_FD: str(write_fd)}, pass_fds=(write_fd,),
            stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(write_fd)

    def forward(signum, frame) -> None:
        child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM,
                                                                       signal.SIGINT)}  # fmt: skip
    try:
        fatal, said = _pump(child.stderr, sys.stderr.buffer, prefix)
        code = child.wait()
        intended = _chosen_code(read_fd)
    finally:
        os.close(read_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if code == -signal.SIGABRT or fatal:
        if said:
            # the child said what happened, then JAX's client aborted it while it was
            # leaving (process 0, told, had gone first): its line is the one line, its
            # chosen code the code (7 when it chose none: process 0 gone mid-collective)
            return DistributedError.exit_code if intended is None else intended
        if process_id is None:
            process_id = os.environ.get("JAX_PROCESS_ID", "?")
        print(f"{prefix}: error: process {process_id} lost contact with the others (JAX's "
              "coordination service stopped answering: process 0, which serves it, is gone "
              "or unreachable); every process stops. Restart all of them with --resume to "
              "continue from the last checkpoint", file=sys.stderr, flush=True)  # fmt: skip
        return DistributedError.exit_code
    return 128 - code if code < 0 else code
