"""Writes that fail under a run (jaxnn.safe_write): a full disk (a small tmpfs) and
failures injected into each result file: one line, exit 5, the last complete checkpoint
named, nothing half-written, and --resume once space is freed."""

import errno
import os
import subprocess
import sys
import time
import uuid

import pytest

from jaxnn import checkpoint, cli, safe_write
from jaxnn.errors import WriteError

RUN = ["train", "--dataset", "digits", "--layers", "64,256,10", "--batch-size", "64",
       "--checkpoint-secs", "0", "--quiet"]  # fmt: skip


def mount_tmpfs(folder, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                 str(folder)], capture_output=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only: skipped where ``mount -t tmpfs`` is refused)."""
    folder = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    if not mount_tmpfs(folder, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root): the full disk is not simulated")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder, leave: int):
    """Fill the filesystem of ``folder`` up to ``leave`` bytes; returns the filler."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    filler = folder / "filler"
    with open(filler, "wb") as file:
        file.write(b"\0" * max(0, free - leave))
    return filler


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, dirs, names in os.walk(folder) for name in names + dirs)  # fmt: skip


CHECKPOINT_BYTES = (64 * 256 + 256 + 256 * 10 + 10) * 4 + 16  # params, step, epoch, key


# 32 KiB: the resumed run's config.json (every resolved setting) and autotune.json still fit
@pytest.mark.parametrize("leave", [32 * 1024, CHECKPOINT_BYTES + 8 * 1024],
                         ids=["refused before orbax writes", "failing inside orbax"])  # fmt: skip
def test_a_full_disk_ends_the_run_in_one_line_and_resume_finishes_it(small_disk, leave, capsys):
    """Free space for the history but not for a checkpoint: too little for its arrays
    (refused before orbax starts), or for its arrays and orbax's metadata (fails in
    orbax's writer threads, whose errors must not reach stderr)."""
    out = small_disk / "run"
    assert cli.main([*RUN, "--epochs", "2", "--out", str(out)]) == 0
    filler = fill(small_disk, leave)
    argv = [*RUN, "--epochs", "4", "--resume", "--out", str(out)]
    if leave < CHECKPOINT_BYTES:  # orbax never starts: in this process
        assert cli.main(argv) == 5
        stderr = capsys.readouterr().err
    else:  # a subprocess, as a user runs it: what orbax's threads print at exit is seen too
        result = subprocess.run([sys.executable, "-m", "jaxnn.cli", *argv], capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        assert result.returncode == 5, result.stderr
        stderr = result.stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "could not write checkpoint 3" in lines[0] and "No space left on device" in lines[0]
    if leave < CHECKPOINT_BYTES:
        assert "needs about 0.1 MiB" in lines[0]
    assert f"last complete checkpoint is epoch 2 ({out / 'checkpoints' / '2'})" in lines[0]
    assert "--resume" in lines[0]
    assert not [f for f in files_under(out) if "tmp" in f], files_under(out)
    assert checkpoint.latest_epoch(str(out / "checkpoints")) == 2
    filler.unlink()  # space freed
    assert cli.main([*RUN, "--epochs", "4", "--resume", "--out", str(out)]) == 0
    assert (out / "metrics.json").exists()
    assert [row["epoch"] for row in safe_write.read_jsonl(str(out / "history.jsonl"))] == [
        1, 2, 3, 4]  # fmt: skip


def failing_open(monkeypatch, name):
    """``open`` in jaxnn.safe_write failing with ENOSPC for files named ``name`` (after
    writing half a line, as a full disk does)."""
    real_open = open

    class Half:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def tell(self):
            return self.file.tell()

        def truncate(self, size):
            return self.file.truncate(size)

        def write(self, text):
            self.file.write(text[: len(text) // 2])
            self.file.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def writelines(self, lines):
            self.write("".join(lines))

    def opener(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        is_target = os.path.basename(str(path)).removesuffix(".tmp") == name
        return Half(file) if is_target and "r" not in mode else file

    monkeypatch.setattr(safe_write, "open", opener, raising=False)


@pytest.mark.parametrize("name, last", [("history.jsonl", 1), ("metrics.json", 2),
                                        ("cost.png", 2)])  # fmt: skip
def test_each_result_file_that_cannot_be_written_is_named(name, last, tmp_path, monkeypatch,
                                                           capsys):  # fmt: skip
    out = tmp_path / "run"
    if name == "cost.png":
        from jaxnn import plots

        def full(history, out_dir):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(out_dir, name))

        monkeypatch.setattr(plots, "training_curves", full)
    elif name == "history.jsonl":  # the second epoch's line, while epoch 1's save is slow
        from jaxnn import checkpoint as module

        slow = module._write_manifest  # the save's last step: still in flight when it fails
        monkeypatch.setattr(module, "_write_manifest", lambda d: time.sleep(1.5) or slow(d))
        writes = []
        real = safe_write.append_line

        def second_fails(path, line):
            writes.append(line)
            if len(writes) == 2:  # once epoch 1's checkpoint folder is there, unfinished
                first = out / "checkpoints" / "1"
                deadline = time.monotonic() + 60
                while not first.exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
                failing_open(monkeypatch, name)
            return real(path, line)

        monkeypatch.setattr(safe_write, "append_line", second_fails)
    else:
        failing_open(monkeypatch, name)
    assert cli.main([*RUN, "--epochs", "2", "--out", str(out)]) == 5
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err
    assert (name if name != "cost.png" else "the plots") in err
    # history.jsonl: epoch 1's save was in flight when the write failed, and completes
    # (it used to be removed as a partial checkpoint by the failed write, under it)
    complete = checkpoint.latest_epoch(str(out / "checkpoints"))
    assert complete == last and f"last complete checkpoint is epoch {last}" in err
    assert not [f for f in files_under(out) if f.endswith(".tmp") or "orbax" in f]
    if name == "history.jsonl":  # no half line left
        assert len(safe_write.read_jsonl(str(out / "history.jsonl"))) == 1
        assert (out / "history.jsonl").read_text().endswith("}\n")


NOISE = """Traceback (most recent call last):
  File "/usr/lib/python3.11/asyncio/base_events.py", line 806, in call_soon_threadsafe
    self._check_closed()
RuntimeError: Event loop is closed
"""
REAL = """Traceback (most recent call last):
  File "x.py", line 1, in <module>
ValueError: a real error

During handling of the above exception, another exception occurred:
"""


def test_quiet_stderr_drops_only_orbax_shutdown_noise():
    import io

    sink = io.StringIO()
    quiet = safe_write.QuietStderr(sink)
    for text in ("before\n", NOISE[:40], NOISE[40:], "progress\r", REAL, NOISE, "the line\n"):
        quiet.write(text)
    assert sink.getvalue() == "before\nprogress\r" + REAL + "the line\n"
    assert safe_write.ORBAX_ERRORS[-1] == "RuntimeError: Event loop is closed"


def test_reason_reads_tensorstore_messages():
    error = ValueError(
        'RESOURCE_EXHAUSTED: Error writing "W/0.0" in OCDBT database: Failed '
        "to write 10 bytes: No space left on device [os_error_code='28']"
    )
    assert safe_write.reason(error) == os.strerror(28)
    assert safe_write.reason(OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))) == os.strerror(
        errno.EDQUOT)  # fmt: skip


def test_a_cut_last_history_line_is_dropped_but_a_changed_one_is_named(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
    assert safe_write.read_jsonl(str(path)) == [{"epoch": 1}, {"epoch": 2}]
    path.write_text('{"epoch": 1}\n{"epo\n{"epoch": 3}\n')
    with pytest.raises(Exception, match="line 2 is not JSON"):
        safe_write.read_jsonl(str(path))


def test_partial_checkpoints_are_removed_and_complete_ones_kept(tmp_path):
    ckpt = tmp_path / "checkpoints"
    (ckpt / "1").mkdir(parents=True)
    (ckpt / "1" / checkpoint.MANIFEST).write_text("{}")
    for partial in ("2", "3.orbax-checkpoint-tmp-17", "2.orbax-checkpoint-tmp"):
        (ckpt / partial).mkdir()
    safe_write.clean_partial(str(ckpt))
    assert sorted(os.listdir(ckpt)) == ["1"]
    error = safe_write.failed("checkpoint 2", str(ckpt / "2"), str(ckpt), OSError(28, "x"))
    assert isinstance(error, WriteError) and error.exit_code == 5
    assert "last complete checkpoint is epoch 1" in str(error)
