"""MNIST and Fashion-MNIST through tensorflow-datasets (without TensorFlow): the one path from
a dataset's name to its arrays, each step named once, in the order it runs::

    load(name, data_dir, manual_dir)
        builder = open_builder(name, data_dir)      the TFDS builder (sources.mnist_idx)
        ready(builder, name, manual_dir):           a prepared copy that is whole:
            check the prepared copy                 prepared.check: files, sizes (~1 ms)
            find the source                         find_source: --manual-dir, Debian's
                                                    folder, or the download (if online)
            verify the manual files                 manual_files.load: canonical SHA-256
            lock the folder                         prepared.lock: one builder at a time
            discard a damaged copy, build           build: TFDS download_and_prepare
        read the splits                             records.read_split, one batched read

A damaged prepared copy is a one-line ``DataError`` naming the file and the fix, or is
rebuilt where a source was named (``--manual-dir``) or a preparation was asked for
(``jaxnn data prepare``); a failed read of the copy is one line too
(``prepared.reading``). ``stream.open_tfds`` takes the same steps and reads the training
split minibatch by minibatch instead.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
from urllib.parse import urlparse

from jaxnn.data import features, prepared, records
from jaxnn.data.dataset import Dataset
from jaxnn.errors import ConfigError, DatasetUnavailableError

DEBIAN_FOLDERS = {
    "mnist": "/usr/share/datasets/mnist",
    "fashion_mnist": "/usr/share/datasets/fashion-mnist",
}


def load(name: str, data_dir: str | None = None, manual_dir: str | None = None) -> Dataset:
    """Dataset ``name`` as columns ``X (784, m)`` in [0, 1] (see the module's docstring)."""
    builder = open_builder(name, data_dir)
    ready(builder, name, manual_dir)
    with prepared.reading(name, prepared.folder_of(builder)):  # a failed read: one line
        sources = builder.as_data_source()
        splits = builder.info.splits
        images_train, labels_train = records.read_split(
            sources["train"], filepaths=splits["train"].filepaths
        )
        images_test, labels_test = records.read_split(
            sources["test"], filepaths=splits["test"].filepaths
        )
    return Dataset(
        name, columns(images_train), labels_train, columns(images_test), labels_test, 10,
        f"tensorflow-datasets array_record ({builder.data_dir})", (28, 28, 1),
    )  # fmt: skip


def columns(images):
    """Images ``(m, 28, 28[, 1])`` uint8 as columns ``(784, m)`` float32 in [0, 1]."""
    return features.to_columns(features.scale_01(features.flatten(images)))


def prepare(name: str, data_dir: str | None = None, manual_dir: str | None = None) -> str:
    """``jaxnn data prepare``: build the TFDS ``array_record`` files for ``name`` once (a
    damaged copy rebuilt); returns where they came from. Order: already prepared → the
    manual folder (``manual_dir``, else Debian's package folder) → download with checksums.
    Offline with no local files fails within seconds."""
    if name not in DEBIAN_FOLDERS:
        raise ConfigError(
            f"{name!r} is not a TFDS dataset jaxnn builds; choose one of: "
            f"{', '.join(DEBIAN_FOLDERS)}"
        )
    return ready(open_builder(name, data_dir), name, manual_dir, rebuild=True)


def verify(name: str, data_dir: str | None) -> str:
    """``jaxnn data verify``: the full check of ``name``'s prepared copy (every record read);
    returns what was verified, raises the one-line ``DataError`` on damage."""
    builder = open_builder(name, data_dir)
    folder = prepared.folder_of(builder)
    if not builder.is_prepared():
        raise DatasetUnavailableError(
            f"{name} is not prepared in {folder}; build it with jaxnn data prepare "
            f"{name} --data-dir {prepared.data_dir_of(folder)} (--manual-dir DIR offline)"
        )
    return prepared.verify_folder(folder, name)


# ----------------------------------------------------------------------------- the steps
def builder_class(name: str):
    from jaxnn.data.sources.mnist_idx import FashionMnistIdx, MnistIdx

    return {"mnist": MnistIdx, "fashion_mnist": FashionMnistIdx}[name]


def prepared_folder(name: str, data_dir: str | None) -> str:
    """Where TFDS keeps (or will keep) the prepared copy of ``name`` under ``data_dir``."""
    from tensorflow_datasets.core import constants

    cls = builder_class(name)
    return os.path.join(data_dir or constants.DATA_DIR, cls.name, str(cls.VERSION))


def split_sizes(name: str, data_dir: str | None) -> dict[str, int] | None:
    """The split sizes of an already prepared copy (its ``dataset_info.json``), or None."""
    return prepared.split_sizes(prepared_folder(name, data_dir))


def open_builder(name: str, data_dir: str | None):
    """Step 1: the TFDS builder of ``name`` (it reads a prepared copy's dataset_info.json:
    a damaged one is the one-line error, not TFDS's traceback)."""
    try:
        return builder_class(name)(data_dir=data_dir, file_format="array_record")
    except Exception:
        folder = prepared_folder(name, data_dir)
        damage = prepared.check(folder, name) if os.path.isdir(folder) else None
        if damage is None:
            raise
        raise prepared.damaged_error(name, folder, damage, rebuildable=False) from None


def ready(builder, name: str, manual_dir: str | None, rebuild: bool = False) -> str:
    """Step 2: a whole prepared copy for ``builder`` (one builder per load), built if need
    be; returns where it came from. A prepared copy is checked first (``prepared.check``,
    ~1 ms); a damaged one is a ``DataError`` naming the file and the fix, or is rebuilt
    where a source was named (``manual_dir``) or asked for (``rebuild``)."""
    folder = prepared.folder_of(builder)
    given = manual_dir is not None  # the manual files at hand: their digests checked too
    # check the prepared copy
    damage = prepared.check(folder, name, content=given) if builder.is_prepared() else None
    if builder.is_prepared() and damage is None:
        return f"prepared TFDS array_record in {builder.data_dir}"
    if damage is not None and manual_dir is None and not rebuild:
        raise prepared.damaged_error(name, folder, damage)
    # find the source
    try:
        source = find_source(builder, name, manual_dir)
    except DatasetUnavailableError:
        if damage is None:
            raise
        raise prepared.damaged_error(name, folder, damage) from None  # nothing to rebuild from
    # verify the manual files: decoded and checked against the canonical SHA-256 before TFDS
    # is called (and before the lock is taken), so a wrong, truncated or refused file
    # (DataError, exit code 3) leaves nothing in data_dir
    if source is not None:
        from jaxnn.data.sources.mnist_idx import manual_files

        builder.verified_arrays = manual_files.load(source, name)
    # lock the folder, then discard a damaged copy and build
    with prepared.lock(folder, name):
        if builder.is_prepared():  # another process built it while this one waited
            damage = prepared.check(folder, name, content=given)
            if damage is None:
                builder.info.read_from_directory(builder.data_path)
                return f"prepared TFDS array_record in {builder.data_dir} (by another process)"
        prepared.remove_incomplete(folder)
        return build(builder, name, source, damage)


def find_source(builder, name: str, manual_dir: str | None) -> str | None:
    """The manual folder to build from (``manual_dir``, else Debian's package folder), or
    None to download; a ``DatasetUnavailableError`` when there is neither."""
    from jaxnn.data.sources.mnist_idx import manual_files

    if manual_dir is not None and manual_files.find(manual_dir, name) is None:
        lacking = manual_files.missing(manual_dir) if os.path.isdir(manual_dir) else []
        lacks = f"; it lacks {', '.join(lacking)}" if lacking else ""
        raise DatasetUnavailableError(
            f"--manual-dir {manual_dir} does not hold {name} in a form jaxnn reads: "
            f"{manual_files.forms(name)}{lacks}"
        )
    debian = DEBIAN_FOLDERS[name]
    folder = manual_dir or (debian if manual_files.find(debian, name) else None)
    if folder is None and not online(builder.URL_ROOT):
        hint = (
            "install Debian's package (apt-get install dataset-fashion-mnist), "
            if name == "fashion_mnist"
            else ""
        )
        raise DatasetUnavailableError(
            f"{name} is not prepared in {builder.data_dir or '~/tensorflow_datasets'} and "
            f"{urlparse(builder.URL_ROOT).hostname} cannot be reached. To get it: {hint}"
            f"pass --manual-dir with {manual_files.forms(name)}, or connect to the internet. "
            "Offline, `--dataset digits` works with no download, and `--dataset fashion_mnist` "
            "with Debian's dataset-fashion-mnist package."
        )
    return folder


def online(url: str, timeout: float = 3.0) -> bool:
    """Can ``url``'s host be reached within ``timeout`` seconds? The name lookup runs in a
    thread too: ``getaddrinfo`` has no timeout of its own and can hang on a closed network."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)

    def connect() -> bool:
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout):
                return True
        except OSError:
            return False

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=timeout + 0.5)
    except concurrent.futures.TimeoutError:
        return False
    finally:
        pool.shutdown(wait=False)


def build(builder, name: str, folder: str | None, damage) -> str:
    """Build the copy from ``folder`` (or the download), the damaged one deleted first."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.utils import tqdm_utils

    if damage is not None:
        prepared.discard(prepared.folder_of(builder), name, damage,
                         folder or builder.URL_ROOT)  # fmt: skip
    config = tfds.download.DownloadConfig(manual_dir=folder)
    shown = tqdm_utils._active  # TFDS's own switch (tfds.display_progress_bar): put back after
    tfds.display_progress_bar(shown and _show_bars)
    try:
        builder.download_and_prepare(download_config=config)
    finally:
        tfds.display_progress_bar(shown)
    origin = f"built from {folder}" if folder else f"downloaded from {builder.URL_ROOT}"
    return f"{origin} into {builder.data_dir}"


_show_bars = True  # TFDS's progress bars while a dataset is prepared (see progress_bars)


@contextlib.contextmanager
def progress_bars(show: bool):
    """Inside, a dataset prepared for the first time shows TFDS's progress bars (download,
    generating splits, shuffling) only if ``show``: ``jaxnn train --quiet`` (and
    ``train_and_evaluate(progress=False)``) shows none."""
    global _show_bars
    before, _show_bars = _show_bars, show
    try:
        yield
    finally:
        _show_bars = before


def import_libraries(name: str) -> None:
    """Import the libraries loading dataset ``name`` imports, on the calling thread.

    ``jaxnn.run`` calls it before its compile-ahead thread starts: importing
    ``tensorflow_datasets`` (whose builders load lazily) on one thread while JAX imports its
    own modules for lowering on another once failed with ``ModuleNotFoundError:
    jax._src.state.types … Could not import TFDS dataset builders``."""
    if name in DEBIAN_FOLDERS:
        import tensorflow_datasets  # noqa: F401

        from jaxnn.data.sources import mnist_idx  # noqa: F401
