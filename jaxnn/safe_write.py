"""A run's results on disk when the disk fails under it: one line, nothing half-written.

A write that fails during a run (disk full, quota, a network mount that vanished) — a
checkpoint, ``history.jsonl``, ``config.json``/``metrics.json``, the plots — ends the run
with a ``WriteError`` (exit code 5): what could not be written, where, why, and which
checkpoint is the last complete one, so that ``--resume`` continues from it once space is
freed. What the failed write left is removed: orbax's ``*.orbax-checkpoint-tmp`` folders,
a checkpoint folder without its manifest, a ``*.tmp`` JSON file, a partial history line.

orbax writes a checkpoint from background threads, which log their failure (with a
traceback) before the same error reaches ``checkpoint.save``; those records are collected
here (``ORBAX_ERRORS``) instead of printed, and the one-line error reports the failure.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import re
import shutil
import traceback

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
    from jaxnn import checkpoint

    epoch = checkpoint.latest_epoch(ckpt_dir)
    if epoch is None:
        return "no checkpoint is complete yet: free space (or fix the folder) and rerun"
    return (f"the last complete checkpoint is epoch {epoch} ({os.path.join(ckpt_dir, str(epoch))}"
            "): free space (or fix the folder) and rerun with --resume")  # fmt: skip


def clean_partial(ckpt_dir: str) -> None:
    """Remove what failed saves left: orbax's temporary folders and checkpoint folders
    newer than the last complete one (no manifest: ``checkpoint.latest_epoch`` skips them,
    but orbax would count them among the ones it keeps)."""
    from jaxnn import checkpoint

    if not os.path.isdir(ckpt_dir):
        return
    latest = checkpoint.latest_epoch(ckpt_dir)
    for name in os.listdir(ckpt_dir):
        path = os.path.join(ckpt_dir, name)
        partial = ".orbax-checkpoint-tmp" in name or (
            name.isdigit() and (latest is None or int(name) > latest)
            and not os.path.exists(os.path.join(path, checkpoint.MANIFEST))
        )  # fmt: skip
        if partial:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)


def failed(what: str, path: str, ckpt_dir: str, error: BaseException) -> WriteError:
    """The one-line error for a failed write (the partial checkpoints removed first)."""
    with contextlib.suppress(OSError):
        clean_partial(ckpt_dir)
    failure = WriteError(f"could not write {what} to {path} ({reason(error)}); "
                         f"{last_complete(ckpt_dir)}")  # fmt: skip
    failure.parts = (what, path, ckpt_dir, reason(error))
    return failure


def restated(error: WriteError) -> WriteError:
    """``error`` naming the last complete checkpoint as it is now: once the save that was
    in flight when the write failed has finished (or failed in turn)."""
    parts = getattr(error, "parts", None)
    if parts is None:
        return error
    what, path, ckpt_dir, why = parts
    with contextlib.suppress(OSError):
        clean_partial(ckpt_dir)
    return WriteError(f"could not write {what} to {path} ({why}); {last_complete(ckpt_dir)}")


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
