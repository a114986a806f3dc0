"""The datasets jaxnn knows (``DATASETS``: ``jaxnn data list``), their sizes before loading
(``Shapes``), and ``load``: every loader returns ``X (n_x, m)`` float32 in [0, 1] (or
standardized) and integer labels — this is the only place rows become columns. Where each
comes from: ``bundled`` (digits, synthetic sets), ``sequences`` (adding, text),
``tfds_source`` (MNIST, Fashion-MNIST: the one path through TFDS), ``sources.cifar10``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from jaxnn.data import bundled, sequences, synthetic, tfds_source
from jaxnn.data.dataset import Dataset
from jaxnn.errors import ConfigError


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


def expected_shapes(name: str, data_dir: str | None = None) -> Shapes | None:
    """The sizes dataset ``name`` will load with, known before loading it: ``DATASETS[name]
    .shapes``, with the split sizes of an already prepared TFDS copy in ``data_dir`` when
    there is one (its ``dataset_info.json``: a few milliseconds; a copy prepared from a
    --manual-dir subset has fewer examples). ``jaxnn.run`` compiles for these while the data
    loads, and compiles again if the loaded data differs; so a guess that is wrong, or a
    copy that turns out damaged, costs time only."""
    spec = DATASETS[name].shapes
    if spec is None or name not in tfds_source.DEBIAN_FOLDERS:
        return spec
    sizes = tfds_source.split_sizes(name, data_dir)
    if sizes is None or not {"train", "test"} <= set(sizes):
        return spec  # not prepared yet (or damaged: the load says so)
    return spec._replace(m_train=sizes["train"], m_test=sizes["test"])


def _load_cifar10(**kwargs) -> Dataset:
    from jaxnn.data.sources import cifar10  # loaded when asked for

    return cifar10.load(**kwargs)


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "8x8 handwritten digits, 1438 train / 359 test, 64 features, 10 classes",
        "bundled with scikit-learn (no network)", bundled.load_digits,
        Shapes(1438, 359, 64, 10, (8, 8, 1)),
    ),
    "mnist": DatasetSpec(
        "MNIST handwritten digits, 60000 / 10000, 784 features, 10 classes",
        "TFDS builder mnist_idx: download (checksummed) or --manual-dir",
        functools.partial(tfds_source.load, "mnist"),
        Shapes(60000, 10000, 784, 10, (28, 28, 1)),
    ),
    "fashion_mnist": DatasetSpec(
        "Fashion-MNIST articles, 60000 / 10000, 784 features, 10 classes",
        "TFDS builder fashion_mnist_idx: Debian dataset-fashion-mnist, --manual-dir or download",
        functools.partial(tfds_source.load, "fashion_mnist"),
        Shapes(60000, 10000, 784, 10, (28, 28, 1)),
    ),
    "flower": DatasetSpec(
        "planar flower, 800 / 200, 2 features, 2 classes", "synthetic (seed 0)",
        bundled.synthetic_loader("flower", synthetic.planar_flower), Shapes(800, 200, 2, 2),
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
        bundled.synthetic_loader("moons", synthetic.moons), Shapes(800, 200, 2, 2),
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
    the seed), as ``mnist.pkl.gz`` holds out the last 10,000 training images of MNIST's files
    as its validation set (``jaxnn.data.sources.mnist_idx.manual_files``). The examples
    differ: jaxnn reads a dataset in the order its TFDS build wrote it (MNIST's first
    training digit is a 4 here, a 5 in the files), so ``n = 10000`` holds out other images
    than that validation set.
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
