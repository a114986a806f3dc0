"""Data: real datasets through tensorflow-datasets (no TensorFlow), the bundled 8×8 digits,
synthetic sets, and feature processing. This is the only place rows become columns:
every loader returns ``X (n_x, m)`` float32 in [0, 1] (or standardized) and integer labels.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlparse

import numpy as np

from jaxnn.data import features, sequences, synthetic
from jaxnn.data.dataset import Dataset
from jaxnn.data.features import one_hot
from jaxnn.errors import ConfigError, DatasetUnavailableError

__all__ = ["Dataset", "DATASETS", "features", "hold_out", "in_layout", "load", "one_hot",
           "prepare", "synthetic"]  # fmt: skip

DEBIAN_FOLDERS = {
    "mnist": "/usr/share/datasets/mnist",
    "fashion_mnist": "/usr/share/datasets/fashion-mnist",
}


class Shapes(NamedTuple):
    """A dataset's sizes, known before it is loaded (so that training can compile meanwhile)."""

    m_train: int
    m_test: int
    n_x: int
    num_classes: int
    image_shape: tuple[int, int, int] | None = None
    sequence_shape: tuple[int, ...] | None = None

    @classmethod
    def of(cls, dataset: Dataset) -> Shapes:
        return cls(dataset.X_train.shape[1], dataset.X_test.shape[1], dataset.n_x,
                   dataset.num_classes, dataset.image_shape,
                   dataset.sequence_shape)  # fmt: skip

    def sequences(self) -> tuple[int, ...]:
        """One example as a sequence: the dataset's own ``sequence_shape`` (``(T, n_x)`` or
        ``(T,)`` tokens), or an image read row by row: ``(n_H, n_W·n_C)``."""
        if self.sequence_shape is not None:
            return tuple(self.sequence_shape)
        if self.image_shape is not None:
            n_H, n_W, n_C = self.image_shape
            return (n_H, n_W * n_C)
        raise ConfigError(
            "this dataset holds neither sequences nor images: a recurrent model needs one "
            "(adding, text, or an image dataset read row by row: digits, mnist, fashion_mnist)"
        )

    def input_shape(self, example_axis: int = 1) -> tuple[int, ...]:
        """One example's shape in a model's layout: ``(n_x,)`` for columns (example_axis 1),
        ``(n_H, n_W, n_C)`` for images (example_axis 0)."""
        if example_axis == 1:
            return (self.n_x,)
        if self.image_shape is None:
            images = ", ".join(image_datasets())
            raise ConfigError(f"{self.holds()}, not images: {self.read_by()}; a convolutional "
                              f"model needs an image dataset ({images})")  # fmt: skip
        return tuple(self.image_shape)

    def holds(self) -> str:
        """What one example is, in words: "this dataset holds token ids (sequences of 100)"."""
        if self.sequence_shape is not None and len(self.sequence_shape) == 1:
            return f"this dataset holds token ids (sequences of {self.sequence_shape[0]})"
        if self.sequence_shape is not None:
            T, n_x = self.sequence_shape
            return f"this dataset holds sequences ({T} steps of {n_x} values)"
        return f"this dataset holds feature vectors ({self.n_x} features)"

    def read_by(self) -> str:
        """The models that read such examples (``jaxnn.models.LAYOUTS``), in words."""
        from jaxnn import models

        layout = "sequences" if self.sequence_shape is not None else "columns"
        names = [name for name, read in models.LAYOUTS.items() if read == layout]
        what = {"sequences": "sequences", "columns": "feature vectors"}[layout]
        return f"the models that read {what} are {', '.join(names)}"


def image_datasets() -> list[str]:
    """The datasets whose examples are images (a convolutional model's, or a recurrent one's
    read row by row)."""
    return [name for name, spec in DATASETS.items()
            if spec.shapes is not None and spec.shapes.image_shape is not None]  # fmt: skip


def in_layout(X: np.ndarray, shape, example_axis: int = 1) -> np.ndarray:
    """``X (n_x, m)`` columns in a model's layout, one example of ``shape`` each: unchanged
    for vectors (``example_axis = 1``, shape ``(n_x,)`` or None), images
    ``(m, n_H, n_W, n_C)`` for ``example_axis = 0``, sequences ``(T, n_x, m)`` for
    ``example_axis = 2`` (token ids ``(T, m)``: example_axis 1). The reshape is free on the
    row-major data the loaders keep behind their column views."""
    if shape is None or (example_axis == 1 and len(shape) == 1):
        if example_axis == 1:
            return X
        shape = Shapes(X.shape[1], 0, X.shape[0], 0, None).input_shape(0)  # explains
    rows = X.T.reshape(X.shape[1], *shape)
    return rows if example_axis == 0 else np.moveaxis(rows, 0, example_axis)


class DatasetSpec(NamedTuple):
    description: str
    source: str
    load: Callable[..., Dataset]
    shapes: Shapes | None = None  # the sizes load() returns (None: not known in advance)


# ----------------------------------------------------------------------------- bundled
def _split(name, X, labels, num_classes, source, test_fraction=0.2, seed=0) -> Dataset:
    """A fixed, seeded train/test split of column data."""
    m = X.shape[1]
    order = np.random.default_rng(seed).permutation(m)
    n_test = int(round(m * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset(
        name, np.ascontiguousarray(X[:, train]), labels[train].astype(np.int32),
        np.ascontiguousarray(X[:, test]), labels[test].astype(np.int32), num_classes, source,
    )  # fmt: skip


def load_digits(**_) -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes, no network).

    Pixels 0..16 scaled to [0, 1]; a fixed 80/20 train/test split (seed 0).
    """
    pixels, labels = _digits_file()
    X = features.to_columns(features.scale_01(pixels, 16.0))
    return _split("digits", X, labels, 10, "scikit-learn bundled 8x8 digits")._replace(
        image_shape=(8, 8, 1)
    )


def _digits_file() -> tuple[np.ndarray, np.ndarray]:
    """The pixels (1797, 64) and labels of scikit-learn's ``digits.csv.gz``, read straight
    from the installed package (0.05 s) instead of through ``sklearn.datasets``, whose import
    takes 0.6 s; ``sklearn.datasets.load_digits`` if the file is not where it was."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin:
        path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
        if os.path.exists(path):
            with gzip.open(path, "rt") as file:
                table = np.loadtxt(file, delimiter=",")
            pixels, labels = table[:, :-1], table[:, -1]
            if table.shape == (1797, 65) and pixels.min() >= 0 and pixels.max() <= 16:
                return pixels, labels.astype(np.int64)
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return bunch.data, bunch.target


def _synthetic_loader(name, generator):
    def load(**_) -> Dataset:
        X, labels = generator(m=1000, seed=0)
        return _split(name, X, labels, 2, f"synthetic: jaxnn.data.synthetic.{generator.__name__}")

    load.__doc__ = generator.__doc__
    return load


# ----------------------------------------------------------------------------- TFDS
def import_loader(name: str) -> None:
    """Import the libraries loading dataset ``name`` imports, on the calling thread.

    ``jaxnn.run`` calls it before its compile-ahead thread starts: importing
    ``tensorflow_datasets`` (whose builders load lazily) on one thread while JAX imports its
    own modules for lowering on another once failed with ``ModuleNotFoundError:
    jax._src.state.types … Could not import TFDS dataset builders``."""
    if name in ("mnist", "fashion_mnist"):
        import tensorflow_datasets  # noqa: F401

        from jaxnn.datasets import mnist_idx  # noqa: F401


def expected_shapes(name: str, data_dir: str | None = None) -> Shapes | None:
    """The sizes dataset ``name`` will load with, known before loading it: ``DATASETS[name]
    .shapes``, with the split sizes of an already prepared TFDS copy in ``data_dir`` when
    there is one (its ``dataset_info.json``: a few milliseconds; a copy prepared from a
    --manual-dir subset has fewer examples). ``jaxnn.run`` compiles for these while the data
    loads, and compiles again if the loaded data differs; so a guess that is wrong, or a
    copy that turns out damaged, costs time only."""
    spec = DATASETS[name].shapes
    if spec is None or name not in ("mnist", "fashion_mnist"):
        return spec
    from jaxnn.data import prepared

    sizes = prepared.split_sizes(_prepared_folder(name, data_dir))
    if sizes is None or not {"train", "test"} <= set(sizes):
        return spec  # not prepared yet (or damaged: the load says so)
    return spec._replace(m_train=sizes["train"], m_test=sizes["test"])


def _builder_class(name: str):
    from jaxnn.datasets.mnist_idx import FashionMnistIdx, MnistIdx

    return {"mnist": MnistIdx, "fashion_mnist": FashionMnistIdx}[name]


def _prepared_folder(name: str, data_dir: str | None) -> str:
    """Where TFDS keeps (or will keep) the prepared copy of ``name`` under ``data_dir``."""
    from tensorflow_datasets.core import constants

    cls = _builder_class(name)
    return os.path.join(data_dir or constants.DATA_DIR, cls.name, str(cls.VERSION))


def _builder(name: str, data_dir: str | None):
    try:
        return _builder_class(name)(data_dir=data_dir, file_format="array_record")
    except Exception:  # TFDS reads a prepared copy's dataset_info.json here
        from jaxnn.data import prepared

        folder = _prepared_folder(name, data_dir)
        damage = prepared.check(folder, name) if os.path.isdir(folder) else None
        if damage is None:
            raise
        raise prepared.damaged_error(name, folder, damage, rebuildable=False) from None


def _online(url: str, timeout: float = 3.0) -> bool:
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


def _manual_form(folder: str | None, name: str):
    """The form of ``name`` that ``folder`` holds (IDX files, mnist.npz, mnist.pkl.gz), or
    None; see ``jaxnn.datasets.mnist_idx.manual_files``."""
    from jaxnn.datasets.mnist_idx import manual_files

    return manual_files.find(folder, name)


def prepare(name: str, data_dir: str | None = None, manual_dir: str | None = None) -> str:
    """Build the TFDS ``array_record`` files for ``name`` once; returns where they came from.

    Order: already prepared → the manual folder (``manual_dir``, else Debian's package
    folder) → download with checksums. Offline with no local files fails within seconds.
    """
    if name not in DEBIAN_FOLDERS:
        raise ConfigError(
            f"{name!r} is not a TFDS dataset jaxnn builds; choose one of: "
            f"{', '.join(DEBIAN_FOLDERS)}"
        )
    return _prepare(_builder(name, data_dir), name, manual_dir, rebuild=True)


def _prepare(builder, name: str, manual_dir: str | None, rebuild: bool = False) -> str:
    """``prepare`` on a builder the caller keeps using (one builder per load). A prepared
    copy is checked first (``prepared.check``, ~1 ms); a damaged one is a ``DataError``
    naming the file and the fix, or is rebuilt where a source was named (``manual_dir``) or
    the user asked for a preparation (``rebuild``: ``jaxnn data prepare``)."""
    from jaxnn.data import prepared

    folder = prepared.folder_of(builder)
    given = manual_dir is not None  # the manual files at hand: their digests checked too
    damage = prepared.check(folder, name, content=given) if builder.is_prepared() else None
    if builder.is_prepared() and damage is None:
        return f"prepared TFDS array_record in {builder.data_dir}"
    if damage is not None and manual_dir is None and not rebuild:
        raise prepared.damaged_error(name, folder, damage)
    try:
        source = _find_source(builder, name, manual_dir)
    except DatasetUnavailableError:
        if damage is None:
            raise
        raise prepared.damaged_error(name, folder, damage) from None  # nothing to rebuild from
    if source is not None:
        from jaxnn.datasets.mnist_idx import manual_files

        # decoded and checked against the canonical SHA-256 before TFDS is called (and
        # before the lock is taken), so a wrong, truncated or refused file (DataError, exit
        # code 3) leaves nothing in data_dir
        builder.verified_arrays = manual_files.load(source, name)
    with prepared.lock(folder, name):
        if builder.is_prepared():  # another process built it while this one waited
            damage = prepared.check(folder, name, content=given)
            if damage is None:
                builder.info.read_from_directory(builder.data_path)
                return f"prepared TFDS array_record in {builder.data_dir} (by another process)"
        prepared.remove_incomplete(folder)
        return _build(builder, name, source, damage)


def _find_source(builder, name: str, manual_dir: str | None) -> str | None:
    """The manual folder to build from (``manual_dir``, else Debian's package folder), or
    None to download; a ``DatasetUnavailableError`` when there is neither."""
    from jaxnn.datasets.mnist_idx import manual_files

    if manual_dir is not None and _manual_form(manual_dir, name) is None:
        lacking = manual_files.missing(manual_dir) if os.path.isdir(manual_dir) else []
        lacks = f"; it lacks {', '.join(lacking)}" if lacking else ""
        raise DatasetUnavailableError(
            f"--manual-dir {manual_dir} does not hold {name} in a form jaxnn reads: "
            f"{manual_files.forms(name)}{lacks}"
        )
    folder = manual_dir or (DEBIAN_FOLDERS[name] if _manual_form(DEBIAN_FOLDERS[name], name)
                            else None)  # fmt: skip
    if folder is None and not _online(builder.URL_ROOT):
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


def _build(builder, name: str, folder: str | None, damage) -> str:
    """Build the copy from ``folder`` (or the download), the damaged one deleted first."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.utils import tqdm_utils

    from jaxnn.data import prepared

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


def _raw_records(source, filepaths=()) -> list[bytes]:
    """Every serialized record of a split, in TFDS's order: each of the split's array_record
    files (``SplitInfo.filepaths``, in shard order) read whole by array_record's C++ reader
    (0.1 s for Fashion-MNIST's 60 000, against 0.4 s through the data source's per-record
    index bookkeeping), or through the data source if the files do not add up."""
    try:
        from array_record.python.array_record_module import ArrayRecordReader

        raw = []
        for path in filepaths:
            reader = ArrayRecordReader(os.fspath(path))
            try:
                raw.extend(reader.read_all())
            finally:
                reader.close()
        if filepaths and len(raw) == len(source):
            return raw
    except (ImportError, OSError, RuntimeError, ValueError):
        pass
    return source.data_source.__getitems__(list(range(len(source))))


class RecordLayout(NamedTuple):
    """Where a fixed-length serialized example keeps its image bytes and its label byte."""

    length: int  # bytes per record
    start: int  # the image's first byte
    image_shape: tuple[int, ...]
    label_column: int

    def decode(self, raw: list[bytes]) -> tuple[np.ndarray, np.ndarray] | None:
        """``(images, labels)`` sliced out of the records, or None if one differs in length."""
        if any(len(record) != self.length for record in raw):
            return None
        matrix = np.frombuffer(b"".join(raw), np.uint8).reshape(len(raw), self.length)
        size = int(np.prod(self.image_shape))
        images = matrix[:, self.start : self.start + size].reshape(len(raw), *self.image_shape)
        return images, matrix[:, self.label_column].astype(np.int32)


def record_layout(raw: list[bytes], decoded: list[dict]) -> RecordLayout | None:
    """Locate the image and label bytes on records of one length (``raw``) from TFDS's own
    decoding of the same records (``decoded``, spread over the split), and verify that the
    layout decodes every one of them the same; None where it does not."""
    lengths = {len(record) for record in raw}
    if len(lengths) != 1 or not raw:
        return None
    matrix = np.frombuffer(b"".join(raw), np.uint8).reshape(len(raw), lengths.pop())
    image_bytes = decoded[0]["image"].tobytes()
    start = raw[0].find(image_bytes)
    labels_ok = np.array([example["label"] for example in decoded])
    label_columns = [
        column
        for column in range(matrix.shape[1])
        if not start <= column < start + len(image_bytes)
        and np.array_equal(matrix[:, column], labels_ok)
    ]
    if start < 0 or len(label_columns) != 1:
        return None
    layout = RecordLayout(matrix.shape[1], start, decoded[0]["image"].shape, label_columns[0])
    images, _ = layout.decode(raw)
    if not np.array_equal(images, np.stack([example["image"] for example in decoded])):
        return None
    return layout


def _read_split(source, check: int = 256, filepaths=()) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as arrays in one batched read (not one example at a time).

    Fast path: every record of these builders is a serialized example of the same length
    (a 784-byte image and a one-byte label), so the raw records (``_raw_records``) are
    stacked into one byte matrix and the image and label columns are sliced out. The columns
    are located on decoded examples and then verified against TFDS's own decoding on
    ``check`` records spread over the split (``record_layout``, which also checks the record
    order); anything unexpected falls back to TFDS decoding of every record.
    """
    n = len(source)
    raw = _raw_records(source, filepaths)
    if n > 0:
        probe = np.unique(np.linspace(0, n - 1, min(n, check)).astype(int))
        layout = record_layout([raw[i] for i in probe], source.__getitems__(probe.tolist()))
        decoded = layout.decode(raw) if layout is not None else None
        if decoded is not None:
            return decoded
    examples = source.__getitems__(range(n))
    images = np.stack([example["image"] for example in examples])
    labels = np.fromiter((example["label"] for example in examples), np.int32, n)
    return images, labels


def _tfds_loader(name: str):
    def load(data_dir: str | None = None, manual_dir: str | None = None, **_) -> Dataset:
        from jaxnn.data import prepared

        builder = _builder(name, data_dir)
        _prepare(builder, name, manual_dir)
        with prepared.reading(name, prepared.folder_of(builder)):  # a failed read: one line
            sources = builder.as_data_source()
            splits = builder.info.splits
            images_train, labels_train = _read_split(
                sources["train"], filepaths=splits["train"].filepaths
            )
            images_test, labels_test = _read_split(
                sources["test"], filepaths=splits["test"].filepaths
            )

        def columns(images):
            return features.to_columns(features.scale_01(features.flatten(images)))

        return Dataset(
            name, columns(images_train), labels_train, columns(images_test), labels_test, 10,
            f"tensorflow-datasets array_record ({builder.data_dir})", (28, 28, 1),
        )  # fmt: skip

    return load


def _load_cifar10(**kwargs) -> Dataset:
    from jaxnn.datasets import cifar10  # imports this module: loaded when asked for

    return cifar10.load(**kwargs)


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "8x8 handwritten digits, 1438 train / 359 test, 64 features, 10 classes",
        "bundled with scikit-learn (no network)", load_digits, Shapes(1438, 359, 64, 10, (8, 8, 1)),
    ),
    "mnist": DatasetSpec(
        "MNIST handwritten digits, 60000 / 10000, 784 features, 10 classes",
        "TFDS builder mnist_idx: download (checksummed) or --manual-dir", _tfds_loader("mnist"),
        Shapes(60000, 10000, 784, 10, (28, 28, 1)),
    ),
    "fashion_mnist": DatasetSpec(
        "Fashion-MNIST articles, 60000 / 10000, 784 features, 10 classes",
        "TFDS builder fashion_mnist_idx: Debian dataset-fashion-mnist, --manual-dir or download",
        _tfds_loader("fashion_mnist"), Shapes(60000, 10000, 784, 10, (28, 28, 1)),
    ),
    "flower": DatasetSpec(
        "planar flower, 800 / 200, 2 features, 2 classes", "synthetic (seed 0)",
        _synthetic_loader("flower", synthetic.planar_flower), Shapes(800, 200, 2, 2),
    ),
    "adding": DatasetSpec(
        "the adding problem, T = 50: 10000 / 1000 sequences of (value, marker) pairs, target "
        "the sum of the two marked values", "synthetic (seeds 0, 1)",
        sequences.load_adding(50), Shapes(10000, 1000, 100, 1, None, (50, 2)),
    ),
    "adding200": DatasetSpec(
        "the adding problem, T = 200 (as adding)", "synthetic (seeds 0, 1)",
        sequences.load_adding(200), Shapes(10000, 1000, 400, 1, None, (200, 2)),
    ),
    "text": DatasetSpec(
        "English text, sequences of 100 characters -> the next characters (90% / 10%)",
        "the standard library's pydoc_data.topics (no network)", sequences.load_text,
    ),
    "moons": DatasetSpec(
        "two moons, 800 / 200, 2 features, 2 classes", "synthetic (seed 0)",
        _synthetic_loader("moons", synthetic.moons), Shapes(800, 200, 2, 2),
    ),
    "cifar10": DatasetSpec(
        "CIFAR-10 images 32x32x3, 50000 / 10000, 3072 features, 10 classes",
        "--manual-dir holding cifar-10-python.tar.gz (MD5-checked; never downloaded)",
        _load_cifar10, Shapes(50000, 10000, 3072, 10, (32, 32, 3)),
    ),
}  # fmt: skip


def load(name: str, data_dir: str | None = None, manual_dir: str | None = None) -> Dataset:
    """Load dataset ``name`` as columns; see ``DATASETS`` (``jaxnn data list``)."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name].load(data_dir=data_dir, manual_dir=manual_dir)


def hold_out(dataset: Dataset, n: int) -> Dataset:
    """A validation split carved from the training set: the first ``m_train − n`` training
    examples train, the **last** ``n`` take the test split's place, and the test set is
    dropped (a recipe chosen on this split has never seen it).

    Deterministic (no shuffle: the same ``n`` always holds out the same examples, whatever
    the seed), as ``mnist.pkl.gz`` holds out MNIST's last 10,000 training images as its
    validation set (``jaxnn.datasets.mnist_idx.manual_files``).
    """
    m = dataset.X_train.shape[1]
    if not 0 < n < m:
        raise ConfigError(f"--validation {n}: hold out between 1 and {m - 1} of the {m} "
                          f"training examples of {dataset.name} (e.g. --validation "
                          f"{max(1, m // 12)})")  # fmt: skip

    def first(A):
        return None if A is None else A[..., : m - n]

    def last(A):
        return None if A is None else A[..., m - n :]

    labels = dataset.labels_train
    return dataset._replace(
        X_train=first(dataset.X_train), labels_train=labels[: m - n] if len(labels) else labels,
        X_test=last(dataset.X_train), labels_test=labels[m - n :] if len(labels) else labels,
        Y_train=first(dataset.Y_train), Y_test=last(dataset.Y_train),
        source=f"{dataset.source}; validation: the last {n} of its {m} training examples "
        "(test set unused)",
    )  # fmt: skip


def held_out_shapes(shapes: Shapes, n: int) -> Shapes:
    """``shapes`` after ``hold_out(·, n)`` (checked there, on the loaded data)."""
    return shapes._replace(m_train=shapes.m_train - n, m_test=n)


def timed_load(name: str, **kwargs) -> tuple[Dataset, float]:
    start = time.perf_counter()
    dataset = load(name, **kwargs)
    return dataset, time.perf_counter() - start
