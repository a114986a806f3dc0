"""CIFAR-10 from the file people have: the "python version" tarball of Krizhevsky's page.

``--manual-dir FOLDER`` must hold ``cifar-10-python.tar.gz`` (163 MB). Before anything is
read from it, its MD5 is compared with the one published beside it
(c58f30108f718f92721af3b95e74349a); then the six batches (``cifar-10-batches-py/
data_batch_1`` … ``_5``, 50,000 training images, and ``test_batch``, 10,000) are unpickled by
the restricted ``ArrayUnpickler`` of the MNIST pickle (``jaxnn.data.sources.mnist_idx.
manual_files``): numpy arrays and plain containers only, any other global refused before it
can run. Each batch is a dict with ``data`` (n, 3072) uint8 — 1024 red, 1024 green, 1024 blue
values, each plane row-major 32×32 — and ``labels`` (n ints 0..9).

The images become columns ``(3072, m)`` in jaxnn's ``(h, w, c)`` order, scaled to [0, 1];
``image_shape`` (32, 32, 3). Anything else is a one-line ``DataError`` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import zlib

import numpy as np

from jaxnn.data import features
from jaxnn.data.sources.mnist_idx.manual_files import ArrayUnpickler, RefusedPickle
from jaxnn.errors import DataError, DatasetUnavailableError

TARBALL = "cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # published on www.cs.toronto.edu/~kriz/cifar.html
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
SIZES = {"train": 50_000, "test": 10_000}


class _BatchUnpickler(ArrayUnpickler):
    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)
        except RefusedPickle:
            raise RefusedPickle(
                f"{self.path}: refused to load: the pickle calls {module}.{name}, which "
                "CIFAR-10's batches never need (it could run code); nothing in it was run. "
                f"Use the original {TARBALL}"
            ) from None


def md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _batch(tar: tarfile.TarFile, path: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    where = f"{path}:{FOLDER}/{name}"
    try:
        file = tar.extractfile(f"{FOLDER}/{name}")
        if file is None:
            raise KeyError(name)
        batch = _BatchUnpickler(file, where).load()
    except RefusedPickle:
        raise
    except KeyError:
        raise DataError(f"{path} has no {FOLDER}/{name}: use the original {TARBALL}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            zlib.error, tarfile.TarError, OSError) as error:  # fmt: skip
        raise DataError(f"{where}: not a readable CIFAR-10 batch ({error})") from None
    data = batch.get("data") if isinstance(batch, dict) else None
    labels = batch.get("labels") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:  # fmt: skip
        found = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{where}: expected data as uint8 (n, 3072); found {found}")
    labels = np.asarray(labels if isinstance(labels, list | tuple | np.ndarray) else [])
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer) \
            or (labels.size and (labels.min() < 0 or labels.max() > 9)):  # fmt: skip
        raise DataError(f"{where}: expected {len(data)} labels 0..9; found {labels.shape}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (n, 32, 32, 3): h, w, c
    return images, labels.astype(np.int32)


def read(manual_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (images (n, 32, 32, 3) uint8, labels (n,) int32)}`` from the tarball in
    ``manual_dir``, after its MD5 matched."""
    path = os.path.join(os.path.expanduser(manual_dir), TARBALL)
    if not os.path.isfile(path):
        raise DataError(
            f"{manual_dir} holds no {TARBALL}: download the python version from "
            "https://www.cs.toronto.edu/~kriz/cifar.html into it"
        )
    found = md5(path)
    if found != MD5:
        raise DataError(
            f"{path}: MD5 {found}, but the published {TARBALL} has {MD5} (a truncated or "
            "different file): download it again"
        )
    try:
        with tarfile.open(path, "r:gz") as tar:
            splits = {}
            for split, names in BATCHES.items():
                parts = [_batch(tar, path, name) for name in names]
                splits[split] = (np.concatenate([p[0] for p in parts]),
                                 np.concatenate([p[1] for p in parts]))  # fmt: skip
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a readable tar.gz ({error})") from None
    return splits


def load(data_dir: str | None = None, manual_dir: str | None = None, **_):
    """CIFAR-10 as a ``jaxnn.data.Dataset`` of columns (3072, m), from ``--manual-dir``."""
    from jaxnn.data.dataset import Dataset

    del data_dir
    if manual_dir is None:
        raise DatasetUnavailableError(
            f"cifar10 is read from {TARBALL} (nothing is downloaded): get it from "
            "https://www.cs.toronto.edu/~kriz/cifar.html and pass --manual-dir FOLDER"
        )
    splits = read(manual_dir)

    def columns(images):
        return features.to_columns(features.scale_01(features.flatten(images)))

    (X_train, y_train), (X_test, y_test) = splits["train"], splits["test"]
    return Dataset("cifar10", columns(X_train), y_train, columns(X_test), y_test, 10,
                   f"{TARBALL} (MD5 verified)", (32, 32, 3))  # fmt: skip
