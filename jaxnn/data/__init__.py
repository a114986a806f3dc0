"""Data: the datasets jaxnn knows, as columns ``X (n_x, m)`` (``catalog``: ``load``,
``DATASETS``, ``Shapes``), where they come from (``bundled``, ``sequences``,
``tfds_source``: MNIST and Fashion-MNIST through TFDS, read in one straight path;
``sources``: the TFDS builders and CIFAR-10's archive), and feature processing
(``features``). This module only hands the names on."""

from jaxnn.data import features, synthetic
from jaxnn.data.bundled import load_digits
from jaxnn.data.catalog import (
    DATASETS,
    DatasetSpec,
    Shapes,
    expected_shapes,
    held_out_shapes,
    hold_out,
    image_datasets,
    in_layout,
    load,
    timed_load,
)
from jaxnn.data.dataset import Dataset
from jaxnn.data.features import one_hot
from jaxnn.data.records import record_layout
from jaxnn.data.tfds_source import (
    DEBIAN_FOLDERS,
    import_libraries,
    prepare,
    progress_bars,
    verify,
)

__all__ = [
    "DATASETS", "DEBIAN_FOLDERS", "Dataset", "DatasetSpec", "Shapes", "expected_shapes",
    "features", "held_out_shapes", "hold_out", "image_datasets", "import_libraries",
    "in_layout", "load", "load_digits", "one_hot", "prepare", "progress_bars", "record_layout",
    "synthetic", "timed_load", "verify",
]  # fmt: skip
