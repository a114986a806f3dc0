"""The datasets that need no download: scikit-learn's bundled 8×8 digits and the synthetic
planar sets, each split once into train and test with a fixed seed."""

from __future__ import annotations

import os

import numpy as np

from jaxnn.data import features
from jaxnn.data.dataset import Dataset


def split(name, X, labels, num_classes, source, test_fraction=0.2, seed=0) -> Dataset:
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
    pixels, labels = digits_file()
    X = features.to_columns(features.scale_01(pixels, 16.0))
    return split("digits", X, labels, 10, "scikit-learn bundled 8x8 digits")._replace(
        image_shape=(8, 8, 1)
    )


def digits_file() -> tuple[np.ndarray, np.ndarray]:
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


def synthetic_loader(name, generator):
    def load(**_) -> Dataset:
        X, labels = generator(m=1000, seed=0)
        return split(name, X, labels, 2, f"synthetic: jaxnn.data.synthetic.{generator.__name__}")

    load.__doc__ = generator.__doc__
    return load
