"""The prepared TFDS copy of a dataset: checked before it is read, built under a lock.

``jaxnn`` builds MNIST and Fashion-MNIST once into ``DATA_DIR/<builder>/1.0.0/``
(``array_record`` shards, ``dataset_info.json``). A disk that filled, an interrupted copy
or a bad network filesystem can damage that folder afterwards; reading it then fails deep
in array_record's C++ reader. This module finds such damage first and names it in one line.

* **Every run (cheap: 12 ms for Fashion-MNIST, measured).** ``dataset_info.json`` parses;
  every shard it lists exists; each shard's record count, read from the array_record
  footer (``num_records``), equals the count TFDS recorded (``shardLengths``); each
  shard's size equals the size recorded in ``jaxnn_prepared.json`` when the copy was
  built; and, where the manual files are at hand (``--manual-dir``), the content digests
  recorded there (the canonical IDX SHA-256 the source files were verified against) are
  the ones those files must have.
* **On request** (``jaxnn data verify NAME``, and whenever a read fails): the SHA-256 of
  every shard against ``jaxnn_prepared.json`` and every record read back (array_record
  checks each chunk's hash). A read that failed leaves ``jaxnn_damaged.json`` in the copy:
  the next run names the damage at once instead of after loading.
* ``jaxnn_prepared.json`` is written by the builder into TFDS's ``incomplete.*`` folder
  before TFDS renames it to ``1.0.0``: a copy has its manifest from the moment it exists,
  and a killed preparation leaves only an ``incomplete.*`` folder, which TFDS never reads
  (``is_prepared`` looks for ``1.0.0/dataset_info.json``) and the next preparation deletes.
* Two preparations of the same dataset at once (two jobs, the processes of one distributed
  run) take turns on a file lock (``fcntl.flock`` on ``DATA_DIR/.<builder>.lock``, released
  by the kernel when its holder dies); the second finds the copy built and reuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from typing import NamedTuple

from jaxnn.errors import DataError

MANIFEST = "jaxnn_prepared.json"
DAMAGED = "jaxnn_damaged.json"  # a damage a failed read found (``read_failed``)
TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"  # TFDS's shard file names


class Damage(NamedTuple):
    path: str  # the damaged file
    problem: str  # what is wrong with it


def folder_of(builder) -> str:
    return os.fspath(builder.data_path)


def _info(folder: str) -> dict:
    """The folder's ``dataset_info.json``, parsed (OSError or ValueError when it cannot be)."""
    with open(os.path.join(folder, "dataset_info.json")) as file:
        return json.load(file)


def split_sizes(folder: str) -> dict[str, int] | None:
    """``{split: examples}`` as the folder's ``dataset_info.json`` lists them (its shards'
    lengths); None when it is missing or unreadable (``check`` names that damage)."""
    try:
        return {split["name"]: sum(int(n) for n in split["shardLengths"])
                for split in _info(folder)["splits"]}  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _shards(folder: str) -> tuple[list[tuple[str, int]], Damage | None]:
    """``[(path, records)]`` of every shard ``dataset_info.json`` lists, or the damage."""
    info_path = os.path.join(folder, "dataset_info.json")
    try:
        info = _info(folder)
        shards = []
        for split in info["splits"]:
            lengths = [int(n) for n in split["shardLengths"]]
            template = split.get("filepathTemplate", TEMPLATE)
            fields = {"DATASET": info["name"], "SPLIT": split["name"],
                      "FILEFORMAT": info.get("fileFormat", "array_record")}  # fmt: skip
            for index, records in enumerate(lengths):
                name = template.format(**fields, SHARD_X_OF_Y=f"{index:05d}-of-{len(lengths):05d}")
                shards.append((os.path.join(folder, name), records))
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [], Damage(info_path, f"unreadable ({_reason(error)})")
    return shards, None


def _manifest(folder: str) -> tuple[dict | None, Damage | None]:
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return None, None  # a copy prepared before jaxnn recorded one
    try:
        with open(path) as file:
            manifest = json.load(file)
        if not isinstance(manifest.get("files"), dict):
            raise ValueError("no files")
        return manifest, None
    except (OSError, ValueError, AttributeError) as error:
        return None, Damage(path, f"unreadable ({_reason(error)})")


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]


def _count_records(path: str) -> int:
    from array_record.python.array_record_module import ArrayRecordReader

    reader = ArrayRecordReader(path, "readahead_buffer_size:0,max_parallelism:0")  # footer
    try:
        return reader.num_records()
    finally:
        reader.close()


def _read_every_record(path: str) -> int:
    from array_record.python.array_record_module import ArrayRecordReader

    reader = ArrayRecordReader(path)
    try:
        return len(reader.read_all())
    finally:
        reader.close()


def _sha256(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def content_digests(dataset: str) -> dict[str, str]:
    """The canonical IDX SHA-256 a copy of ``dataset`` is built from (``manual_files``)."""
    from jaxnn.data.sources.mnist_idx import manual_files

    return {name: entry.sha256 for name, entry in manual_files.CANONICAL[dataset].items()}


def check(folder: str, dataset: str, full: bool = False, content: bool | None = None
          ) -> Damage | None:  # fmt: skip
    """The first damage found in the prepared copy in ``folder``, or None. ``full``: also
    the SHA-256 of every shard and every record read back (see the module docstring).
    ``content`` (default: ``full``): also the content digests recorded at preparation
    against the canonical ones the manual files must have (a run given --manual-dir)."""
    content = full if content is None else content
    shards, damage = _shards(folder)
    if damage is not None:
        return damage
    with contextlib.suppress(OSError, ValueError, TypeError):
        with open(os.path.join(folder, DAMAGED)) as file:
            return Damage(**json.load(file))
    manifest, damage = _manifest(folder)
    if damage is not None:
        return damage
    if content and manifest is not None and manifest.get("content") != content_digests(dataset):
        return Damage(os.path.join(folder, MANIFEST),
                      f"built from other files than the canonical {dataset}")  # fmt: skip
    recorded = (manifest or {}).get("files", {})
    for path, records in shards:
        name = os.path.basename(path)
        if not os.path.isfile(path):
            return Damage(path, "missing")
        size = os.path.getsize(path)
        if name in recorded and size != recorded[name]["bytes"]:
            return Damage(path, f"{size} bytes where {recorded[name]['bytes']} were written "
                                "(truncated or changed)")  # fmt: skip
        try:
            found = _read_every_record(path) if full else _count_records(path)
        except (RuntimeError, OSError, ValueError) as error:
            what = "its records" if full else "its array_record footer"
            return Damage(path, f"{what} cannot be read ({_reason(error)})")
        if found != records:
            return Damage(path, f"{found} records where dataset_info.json lists {records}")
        if full and name in recorded and _sha256(path) != recorded[name]["sha256"]:
            return Damage(path, "its SHA-256 differs from the one recorded when it was built")
    if full and manifest is None:
        return Damage(os.path.join(folder, MANIFEST),
                      "missing: prepared before jaxnn recorded checksums, so its records "
                      "read back but its content cannot be checked")  # fmt: skip
    return None


def _fix(dataset: str, folder: str, rebuildable: bool = True) -> str:
    fix = (f"delete it (rm -r {folder}) and prepare it again (jaxnn data prepare {dataset} "
           f"--data-dir {data_dir_of(folder)}, with --manual-dir DIR offline)")  # fmt: skip
    return fix + (", or rerun with --manual-dir DIR to rebuild it automatically"
                  if rebuildable else "")  # fmt: skip


def data_dir_of(folder: str) -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(folder)))


def damaged_error(dataset: str, folder: str, damage: Damage, rebuildable: bool = True
                  ) -> DataError:  # fmt: skip
    return DataError(f"the prepared {dataset} in {folder} is damaged: "
                     f"{os.path.basename(damage.path)}: {damage.problem}; "
                     f"{_fix(dataset, folder, rebuildable)}")  # fmt: skip


def read_failed(dataset: str, folder: str, error: BaseException) -> DataError:
    """The one-line error for a read of the prepared copy that failed (at load, or
    mid-epoch while streaming): the damaged file, found by the full check. The damage is
    recorded in the copy (``DAMAGED``), so that the next run's cheap check names it at
    once (and rebuilds the copy when given --manual-dir)."""
    damage = check(folder, dataset, full=True)
    if damage is None:  # the files check out now: a passing fault (a network filesystem)
        return DataError(f"reading the prepared {dataset} in {folder} failed "
                         f"({_reason(error)}), though its files check out now "
                         f"(jaxnn data verify {dataset}): rerun; if it recurs, "
                         f"{_fix(dataset, folder)}")  # fmt: skip
    with contextlib.suppress(OSError):  # a read-only copy: the next run finds it again
        with open(os.path.join(folder, DAMAGED), "w") as file:
            json.dump(damage._asdict(), file)
    return damaged_error(dataset, folder, damage)


def write_manifest(folder: str, dataset: str) -> None:
    """Record each shard's size and SHA-256, and the content digests, in ``folder``."""
    files = {}
    for name in sorted(os.listdir(folder)):
        if ".array_record-" in name:
            path = os.path.join(folder, name)
            files[name] = {"bytes": os.path.getsize(path), "sha256": _sha256(path)}
    payload = {"files": files, "content": content_digests(dataset)}
    tmp = os.path.join(folder, MANIFEST + ".tmp")
    with open(tmp, "w") as file:
        json.dump(payload, file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, os.path.join(folder, MANIFEST))


def discard(folder: str, dataset: str, damage: Damage, source: str) -> None:
    """Delete a damaged copy before it is rebuilt from ``source``, saying so."""
    print(f"jaxnn: the prepared {dataset} in {folder} is damaged "
          f"({os.path.basename(damage.path)}: {damage.problem}); rebuilding it from {source}",
          file=sys.stderr)  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)


def remove_incomplete(folder: str) -> None:
    """Delete what killed preparations left (TFDS's ``incomplete.*`` siblings of the copy).
    Called with the lock held: no preparation is writing them."""
    parent = os.path.dirname(os.path.abspath(folder))
    if os.path.isdir(parent):
        for name in os.listdir(parent):
            if name.startswith("incomplete."):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


@contextlib.contextmanager
def lock(folder: str, dataset: str):
    """Hold the preparation lock of the copy in ``folder`` (blocks while another process
    prepares the same dataset in the same data folder, saying so once)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one preparation at a time is the user's care
        yield
        return
    builder_dir = os.path.dirname(os.path.abspath(folder))
    root = os.path.dirname(builder_dir)
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, f".{os.path.basename(builder_dir)}.lock")
    with open(path, "a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"jaxnn: waiting for another preparation of {dataset} ({path})",
                  file=sys.stderr)  # fmt: skip
            fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


class Guarded:
    """A TFDS data source whose read errors are one-line ``DataError``s naming the
    damaged file (``read_failed``): for reads that come mid-epoch, while streaming."""

    def __init__(self, source, dataset: str, folder: str):
        self._source, self._dataset, self._folder = source, dataset, folder
        inner = getattr(source, "data_source", None)
        self.data_source = None if inner is None else Guarded(inner, dataset, folder)

    def __len__(self) -> int:
        return len(self._source)

    def __getitems__(self, indices):
        try:
            return self._source.__getitems__(indices)
        except (RuntimeError, OSError) as error:
            raise read_failed(self._dataset, self._folder, error) from None

    def __getitem__(self, index):
        return self.__getitems__([index])[0]


@contextlib.contextmanager
def reading(dataset: str, folder: str):
    """Turn a failed read of the copy into ``read_failed``'s one-line error."""
    try:
        yield
    except (RuntimeError, OSError) as error:
        raise read_failed(dataset, folder, error) from None


def verify_folder(folder: str, dataset: str) -> str:
    """The full check of the prepared copy in ``folder`` (``jaxnn data verify``: every record
    read); returns what was verified, raises the one-line ``DataError`` on damage."""
    damage = check(folder, dataset, full=True)
    if damage is not None:
        raise damaged_error(dataset, folder, damage)
    shards, _ = _shards(folder)
    records = sum(count for _, count in shards)
    return (
        f"{len(shards)} shards, {records} records: sizes, SHA-256 and every record "
        f"as when it was built ({folder})"
    )
