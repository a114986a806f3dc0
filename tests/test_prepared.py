"""The prepared TFDS copy (jaxnn.data.prepared): each damage of issue #26 named in one line
(exit 3) in memory and streamed, the full check, the rebuild from --manual-dir, and
preparations that are killed or run twice at once."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxnn import checkpoint, cli, data, stream
from jaxnn.data import prepared
from jaxnn.errors import DataError
from tests.test_data import write_idx

from jaxnn.data.sources.mnist_idx import IDX_FILES  # isort: skip

SHARD = "mnist_idx-{}.array_record-00000-of-00001"


def tiny_arrays():
    rng = np.random.default_rng(0)
    arrays = {}
    for split, m in (("train", 24), ("test", 12)):
        images = rng.integers(0, 256, (m, 28, 28), dtype=np.uint8)
        arrays[split] = (images, (np.arange(m) % 10).astype(np.uint8))
    return arrays


def write_tiny_idx(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in tiny_arrays().items():
        write_idx(folder / IDX_FILES[split][0], images)
        write_idx(folder / IDX_FILES[split][1], labels)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny MNIST copy prepared once for the module (24 train, 12 test examples)."""
    from jaxnn.data.sources.mnist_idx import manual_files

    root = tmp_path_factory.mktemp("prepared")
    idx = write_tiny_idx(root / "idx")
    with pytest.MonkeyPatch.context() as patch:
        table = {
            name: manual_files.Canonical(manual_files.idx_sha256(array), len(array))
            for split, arrays in tiny_arrays().items()
            for name, array in zip(manual_files.IDX_NAMES[split], arrays, strict=True)
        }
        patch.setitem(manual_files.CANONICAL, "mnist", table)
        data.prepare("mnist", str(root / "tfds"), str(idx))
    return root


@pytest.fixture
def copy(built, tmp_path, canonical):
    """``(data_dir, version folder, idx folder)``: a fresh copy of the prepared set."""
    canonical(tiny_arrays())
    shutil.copytree(built / "tfds", tmp_path / "tfds")
    return str(tmp_path / "tfds"), tmp_path / "tfds" / "mnist_idx" / "1.0.0", built / "idx"


def flip(path, at):
    content = bytearray(path.read_bytes())
    content[at] ^= 1
    path.write_bytes(bytes(content))


DAMAGES = {  # name: (damage(folder), the file the error must name)
    "train truncated to half": (
        lambda d: os.truncate(d / SHARD.format("train"), 65536),
        SHARD.format("train"),
    ),
    "test replaced by a few bytes": (
        lambda d: (d / SHARD.format("test")).write_bytes(b"abc"), SHARD.format("test")),
    "train missing": (lambda d: (d / SHARD.format("train")).unlink(), SHARD.format("train")),
    "a record's byte flipped": (lambda d: flip(d / SHARD.format("train"), 300),
                                SHARD.format("train")),
    "dataset_info.json garbled": (lambda d: (d / "dataset_info.json").write_text("{x"),
                                  "dataset_info.json"),
    "manifest garbled": (lambda d: (d / prepared.MANIFEST).write_text("{x"), prepared.MANIFEST),
}  # fmt: skip


def assert_one_line(text, *words):
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_a_good_copy_passes_both_checks_and_verify_says_what_it_checked(copy, capsys):
    data_dir, folder, _ = copy
    assert prepared.check(str(folder), "mnist") is None
    assert prepared.check(str(folder), "mnist", full=True) is None
    assert cli.main(["data", "verify", "mnist", "--data-dir", data_dir]) == 0
    assert "2 shards, 36 records" in capsys.readouterr().out


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("how", ["memory", "stream"])
def test_each_damage_is_one_line_naming_the_file_before_training(copy, damage, how):
    data_dir, folder, _ = copy
    harm, named = DAMAGES[damage]
    harm(folder)
    with pytest.raises(DataError) as error:
        if how == "memory":
            data.load("mnist", data_dir=data_dir)
        else:
            stream.open_tfds("mnist", data_dir, None, keep=4)
    assert error.value.exit_code == 3
    assert_one_line(str(error.value), named, "rm -r", "jaxnn data prepare mnist", "mnist")


def test_damage_only_the_full_check_sees(copy, capsys):
    """A bit flipped in a shard's padding: no read notices; the SHA-256 does."""
    data_dir, folder, _ = copy
    flip(folder / SHARD.format("train"), (folder / SHARD.format("train")).stat().st_size - 100)
    assert prepared.check(str(folder), "mnist") is None
    assert cli.main(["data", "verify", "mnist", "--data-dir", data_dir]) == 3
    assert_one_line(capsys.readouterr().err, SHARD.format("train"), "SHA-256")


def test_train_exits_3_with_one_line(copy, tmp_path, capsys):
    data_dir, folder, _ = copy
    DAMAGES["train truncated to half"][0](folder)
    for extra in ([], ["--stream"]):
        rc = cli.main(["train", "--dataset", "mnist", "--data-dir", data_dir, "--quiet",
                       "--epochs", "1", "--out", str(tmp_path / "run"), *extra])  # fmt: skip
        assert rc == 3
        assert_one_line(capsys.readouterr().err, SHARD.format("train"), "--manual-dir")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_damaged_copy_is_rebuilt_from_manual_dir(copy, capsys):
    data_dir, folder, idx = copy
    good = data.load("mnist", data_dir=data_dir)
    DAMAGES["test replaced by a few bytes"][0](folder)
    again = data.load("mnist", data_dir=data_dir, manual_dir=str(idx))
    assert "rebuilding it from" in capsys.readouterr().err
    np.testing.assert_array_equal(again.X_test, good.X_test)
    assert prepared.check(str(folder), "mnist", full=True) is None


def test_the_check_is_planted_bug_sensitive(copy, monkeypatch):
    """Without the manifest's sizes, the footer still catches a half-truncated shard; with
    the footer check made blind as well, it passes: each check catches damage on its own."""
    _, folder, _ = copy
    DAMAGES["train truncated to half"][0](folder)
    (folder / prepared.MANIFEST).unlink()  # no sizes to compare: the footer count remains
    assert "footer cannot be read" in prepared.check(str(folder), "mnist").problem
    monkeypatch.setattr(prepared, "_count_records", lambda path: 24 if "train" in path else 12)
    assert prepared.check(str(folder), "mnist") is None


# ------------------------------------------------------------------ preparation
PREPARE = """
import sys, time, numpy as np
sys.path.insert(0, {root!r})
from tests.test_prepared import tiny_arrays
from jaxnn import data
from jaxnn.data.sources.mnist_idx import manual_files, builder
manual_files.CANONICAL["mnist"] = {{
    name: manual_files.Canonical(manual_files.idx_sha256(a), len(a))
    for split, arrays in tiny_arrays().items()
    for name, a in zip(manual_files.IDX_NAMES[split], arrays)}}
generate = builder._IdxBuilder._generate_examples
def slow(self, images, labels):
    for index, example in enumerate(generate(self, images, labels)):
        if index == 1:
            open({marker!r}, "a").close()
        time.sleep({delay})
        yield example
builder._IdxBuilder._generate_examples = slow
print(data.prepare("mnist", {data_dir!r}, {idx!r}), flush=True)
"""


def preparation(tmp_path, data_dir, idx, marker, delay):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = PREPARE.format(root=root, marker=str(marker), delay=delay, data_dir=data_dir,
                          idx=str(idx))  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for(path, process, timeout=120):
    start = time.time()
    while not os.path.exists(path):
        assert process.poll() is None, process.communicate()
        assert time.time() - start < timeout
        time.sleep(0.05)


def test_a_killed_preparation_leaves_nothing_taken_for_a_copy(tmp_path, canonical):
    canonical(tiny_arrays())
    idx = write_tiny_idx(tmp_path / "idx")
    data_dir = str(tmp_path / "tfds")
    marker = tmp_path / "writing"
    process = preparation(tmp_path, data_dir, idx, marker, delay=5)
    wait_for(marker, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list((tmp_path / "tfds" / "mnist_idx").glob("incomplete.*"))  # TFDS's debris
    assert not data.tfds_source.open_builder("mnist", data_dir).is_prepared()
    assert cli.main(["data", "verify", "mnist", "--data-dir", data_dir]) == 4  # not prepared
    assert "built from" in data.prepare("mnist", data_dir, str(idx))
    assert not list((tmp_path / "tfds" / "mnist_idx").glob("incomplete.*"))  # cleaned
    assert prepared.check(str(tmp_path / "tfds" / "mnist_idx" / "1.0.0"), "mnist", True) is None


def test_two_preparations_at_once_take_turns(tmp_path, canonical):
    canonical(tiny_arrays())
    idx = write_tiny_idx(tmp_path / "idx")
    data_dir = str(tmp_path / "tfds")
    first = preparation(tmp_path, data_dir, idx, tmp_path / "first", delay=0.2)
    wait_for(tmp_path / "first", first)
    second = preparation(tmp_path, data_dir, idx, tmp_path / "second", delay=0.2)
    outputs = [process.communicate(timeout=180) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    assert "built from" in outputs[0][0]
    assert "by another process" in outputs[1][0] and "waiting for another" in outputs[1][1]
    assert prepared.check(str(tmp_path / "tfds" / "mnist_idx" / "1.0.0"), "mnist", True) is None


# ------------------------------------------------------------- mid-epoch, streamed
def test_a_read_error_mid_epoch_keeps_the_finished_epochs(copy, tmp_path, monkeypatch, capsys):
    """The copy is damaged after the run started (the cheap check passed): epoch 2's
    reads fail; the run ends in one line (exit 3) and epoch 1's checkpoint resumes."""
    data_dir, folder, idx = copy
    calls = []
    epoch = stream.StreamedEpoch.__call__

    def damaging(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # a disk going bad under the run
            flip(folder / SHARD.format("train"), 300)
        return epoch(self, *args, **kwargs)

    monkeypatch.setattr(stream.StreamedEpoch, "__call__", damaging)
    out = tmp_path / "run"
    argv = ["train", "--dataset", "mnist", "--data-dir", data_dir, "--quiet", "--stream",
            "--batch-size", "8", "--checkpoint-secs", "0", "--out", str(out)]  # fmt: skip
    assert cli.main([*argv, "--epochs", "3"]) == 3
    assert_one_line(capsys.readouterr().err, SHARD.format("train"), "records cannot be read")
    assert checkpoint.latest_epoch(str(out / "checkpoints")) == 1
    monkeypatch.setattr(stream.StreamedEpoch, "__call__", epoch)
    assert cli.main([*argv, "--epochs", "3", "--resume"]) == 3  # named at once, now
    assert_one_line(capsys.readouterr().err, SHARD.format("train"), "records cannot be read")
    assert cli.main([*argv, "--epochs", "3", "--resume", "--manual-dir", str(idx)]) == 0
    assert "rebuilding it from" in capsys.readouterr().err
    assert checkpoint.latest_epoch(str(out / "checkpoints")) == 3


def test_content_digests_are_checked_where_the_manual_files_are_at_hand(copy, monkeypatch):
    from jaxnn.data.sources.mnist_idx import manual_files

    _, folder, _ = copy
    assert prepared.check(str(folder), "mnist", content=True) is None
    other = {name: entry._replace(sha256="0" * 64)  # the table of other content
             for name, entry in manual_files.CANONICAL["mnist"].items()}  # fmt: skip
    monkeypatch.setitem(manual_files.CANONICAL, "mnist", other)
    assert prepared.check(str(folder), "mnist") is None  # a run without --manual-dir
    damage = prepared.check(str(folder), "mnist", content=True)
    assert damage.path.endswith(prepared.MANIFEST) and "other files" in damage.problem


def test_a_read_error_on_sound_files_is_not_recorded_as_damage(copy):
    _, folder, _ = copy

    class Flaky:
        def __len__(self):
            return 24

        def __getitems__(self, indices):
            raise RuntimeError("Input/output error")

    with pytest.raises(DataError, match="check out now.*rerun"):
        prepared.Guarded(Flaky(), "mnist", str(folder)).__getitems__([0])
    assert not (folder / prepared.DAMAGED).exists()
    assert prepared.check(str(folder), "mnist") is None
