"""A run's results on disk when the disk fails under it: one line, nothing half-written.

A write that fails during a run (disk full, quota, a network mount that vanished) — a
checkpoint, ``history.jsonl``, ``config.json``/``metrics.json``, the plots — ends the run
with a ``WriteError`` (exit code 5): what could not be written, where, why, and which
checkpoint is the last complete one, so that ``--resume`` continues from it once space is
freed. What the failed write left is removed: orbax's ``*.orbax-checkpoint-tmp`` folders,
a checkpoint folder without its manifest, a ``*.tmp`` JSON file, a partial history line.

A checkpoint that cannot fit in the free space is refused before orbax starts
(``check_space``). Otherwise orbax writes it from background threads, which log their
failure (with a traceback) before the same error reaches ``checkpoint.save``, and
tensorstore's callbacks print "Event loop is closed" tracebacks up to the interpreter's
exit; both are collected here (``ORBAX_ERRORS``, ``QuietStderr``) instead of printed, and
the one-line error reports the failure.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import json
import logging
import os
import re
import shutil
import sys
import traceback

from jaxnn import checkpoint_folder
from jaxnn.errors import DataError, WriteError

ORBAX_ERRORS: collections.deque = collections.deque(maxlen=20)  # the latest records


class _CollectOrbaxErrors(logging.Filter):
    """Keeps orbax's error records (logged through absl by its writer threads) out of
    stderr: the error they report is raised again in the saving thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and _from_orbax(record):
            ORBAX_ERRORS.append(record.getMessage())
            return False
        return True


def _from_orbax(record: logging.LogRecord) -> bool:
    """Logged by orbax: its call site (absl reports its own file for ``exception``), or
    the traceback it carries, is in orbax."""
    if "orbax" in record.pathname:
        return True
    trace = record.exc_info[2] if record.exc_info else None
    return trace is not None and any("orbax" in frame.filename
                                     for frame in traceback.extract_tb(trace))  # fmt: skip


def install() -> None:
    """Collect orbax's error records (idempotent)."""
    logger = logging.getLogger("absl")
    if not any(isinstance(f, _CollectOrbaxErrors) for f in logger.filters):
        logger.addFilter(_CollectOrbaxErrors())


# what tensorstore's write callbacks print (through ``sys.stderr``) when they complete
# after the event loop of orbax's failed save was closed, up to interpreter shutdown
NOISE = ("RuntimeError: Event loop is closed", "ImportError: sys.meta_path is None")
TRACEBACK = "Traceback (most recent call last):"


class QuietStderr:
    """``sys.stderr`` once a checkpoint save failed: tracebacks that end in one of the
    ``NOISE`` lines are collected (``ORBAX_ERRORS``), everything else passes through."""

    def __init__(self, stream):
        self.stream, self.pending, self.block = stream, "", None

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self._line(line + "\n")
        if self.block is None and self.pending and not (
            TRACEBACK.startswith(self.pending) or self.pending.startswith(TRACEBACK)
        ):  # fmt: skip
            self.stream.write(self.pending)  # a partial line (a progress bar's \r)
            self.pending = ""
        return len(text)

    def _line(self, line: str) -> None:
        if self.block is None:
            if line.startswith(TRACEBACK):
                self.block = [line]
            else:
                self.stream.write(line)
            return
        self.block.append(line)
        if line.strip() and not line.startswith((" ", "\t", TRACEBACK)):  # its last line
            if line.startswith(NOISE):
                ORBAX_ERRORS.append(line.strip())
            else:
                self.stream.write("".join(self.block))
            self.block = None

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def quiet_stderr():
    """``QuietStderr`` while orbax writes, and from then on if the write failed (its
    threads may print until the interpreter exits)."""
    previous = sys.stderr
    if not isinstance(previous, QuietStderr):
        sys.stderr = QuietStderr(previous)
    yield
    if isinstance(sys.stderr, QuietStderr) and sys.stderr.stream is previous:
        sys.stderr = previous  # succeeded: nothing left to quieten


def check_space(directory: str, needed: int, what: str) -> None:
    """Refuse a write of about ``needed`` bytes that cannot fit in ``directory``'s
    filesystem before it starts (``OSError`` ENOSPC): a failure that orbax would meet
    halfway through, from its writer threads. Quotas and lost mounts still fail in the
    write itself."""
    try:
        stats = os.statvfs(directory)
    except (OSError, AttributeError):  # no statvfs (Windows): the write decides
        return
    free = stats.f_bavail * stats.f_frsize
    if needed > free:
        raise OSError(
            errno.ENOSPC,
            f"{os.strerror(errno.ENOSPC)}: {what} needs about "
            f"{needed / 2**20:.1f} MiB, {free / 2**20:.1f} MiB free",
        )


def reason(error: BaseException) -> str:
    """Why a write failed, in a few words: the OS's ("No space left on device"), also out
    of tensorstore's messages (``[os_error_code='28']``), else the error's first line."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    code = re.search(r"os_error_code='?(\d+)", text)
    if code:
        return os.strerror(int(code.group(1)))
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:200]


def last_complete(ckpt_dir: str) -> str:
    epoch = checkpoint_folder.latest_epoch(ckpt_dir)
    if epoch is None:
        return "no checkpoint is complete yet: free space (or fix the folder) and rerun"
    return (f"the last complete checkpoint is epoch {epoch} ({os.path.join(ckpt_dir, str(epoch))}"
            "): free space (or fix the folder) and rerun with --resume")  # fmt: skip


def clean_partial(ckpt_dir: str) -> None:
    """Remove what failed saves left: orbax's temporary folders and checkpoint folders
    newer than the last complete one (no manifest: ``checkpoint.latest_epoch`` skips them,
    but orbax would count them among the ones it keeps)."""
    if not os.path.isdir(ckpt_dir):
        return
    latest = checkpoint_folder.latest_epoch(ckpt_dir)
    for name in os.listdir(ckpt_dir):
        path = os.path.join(ckpt_dir, name)
        partial = ".orbax-checkpoint-tmp" in name or (
            name.isdigit() and (latest is None or int(name) > latest)
            and not os.path.exists(os.path.join(path, checkpoint_folder.MANIFEST))
        )  # fmt: skip
        if partial:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)


class WriteFailed(WriteError):
    """A failed write; its message names the last complete checkpoint when it is shown,
    after the saves still in flight when the write failed have ended."""

    def __init__(self, what: str, path: str, ckpt_dir: str, why: str):
        super().__init__(what, path, ckpt_dir, why)
        self.what, self.path, self.ckpt_dir, self.why = what, path, ckpt_dir, why

    def __str__(self) -> str:
        with contextlib.suppress(OSError):
            clean_partial(self.ckpt_dir)
        return (f"could not write {self.what} to {self.path} ({self.why}); "
                f"{last_complete(self.ckpt_dir)}")  # fmt: skip


def failed(what: str, path: str, ckpt_dir: str, error: BaseException,
           clean: bool = False) -> WriteError:  # fmt: skip
    """The one-line error for a failed write. ``clean``: remove the partial checkpoints
    now (a failed checkpoint removing its own). Any other write leaves them to the message
    (``WriteFailed.__str__``): a checkpoint may still be in flight in the background when
    a result file fails, and removing its unfinished folder now would make it fail too."""
    if clean:
        with contextlib.suppress(OSError):
            clean_partial(ckpt_dir)
    return WriteFailed(what, path, ckpt_dir, reason(error))


@contextlib.contextmanager
def writing(what: str, path: str, out_dir: str):
    """A failed write of ``what`` under ``out_dir`` as ``failed``'s one-line error."""
    try:
        yield
    except OSError as error:
        raise failed(what, path, os.path.join(out_dir, "checkpoints"), error) from None


def write_json(path: str, payload: dict) -> None:
    """``payload`` to ``path`` atomically (a temporary file, then a rename); a failure
    leaves the previous file and no temporary one, and is a ``WriteError``."""
    tmp = path + ".tmp"
    with writing(os.path.basename(path), path, os.path.dirname(path)):
        try:
            with open(tmp, "w") as file:
                json.dump(payload, file, indent=2)
                file.write("\n")
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise


def append_line(path: str, line: str) -> None:
    """Append ``line`` to ``path``; a failure truncates the file back to where it was (no
    partial line) and is a ``WriteError``."""
    with writing(os.path.basename(path), path, os.path.dirname(path)):
        with open(path, "a") as file:
            start = file.tell()
            try:
                file.write(line)
                file.flush()
            except OSError:
                with contextlib.suppress(OSError):
                    file.truncate(start)
                raise


def write_lines(path: str, lines: list[str]) -> None:
    with writing(os.path.basename(path), path, os.path.dirname(path)):
        with open(path, "w") as file:
            file.writelines(lines)


def read_jsonl(path: str) -> list[dict]:
    """The rows of a JSON-lines file; a last line cut short (a write that failed before
    jaxnn truncated it, or a killed process) is dropped."""
    with open(path) as file:
        lines = [line for line in file if line.strip()]
    rows = []
    for index, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except ValueError:
            if index != len(lines) - 1:
                raise DataError(
                    f"{path}: line {index + 1} is not JSON (changed on disk); "
                    "delete that line, or start the run afresh"
                ) from None
    return rows
