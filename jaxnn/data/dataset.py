"""``Dataset``: one loaded dataset, its splits as columns. Every loader returns one (the
bundled and synthetic sets in ``jaxnn.data``, the TFDS builders, ``jaxnn.data.sources``'
CIFAR-10 reader), which is why it stands alone here, below all of them."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    name: str
    X_train: np.ndarray  # (n_x, m_train) float32 (or int32 token ids), one example per column
    labels_train: np.ndarray  # (m_train,) int32 classes (empty for datasets with Y_train)
    X_test: np.ndarray
    labels_test: np.ndarray
    num_classes: int  # classes (or the vocabulary size of token datasets)
    source: str
    image_shape: tuple[int, int, int] | None = None  # (n_H, n_W, n_C) of image datasets
    # sequence datasets: one example's (T, n_x) (or (T,) token ids) behind its n_x = T·n_x column
    sequence_shape: tuple[int, ...] | None = None
    # targets that are not classes (regression values, next tokens): (n_y, m) columns
    Y_train: np.ndarray | None = None
    Y_test: np.ndarray | None = None

    @property
    def n_x(self) -> int:
        return self.X_train.shape[0]
