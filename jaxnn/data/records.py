"""A prepared TFDS split read as arrays in one batched read: the raw records stacked into one
byte matrix, the image and label bytes sliced out where the records have one layout, TFDS's
own decoding otherwise (``read_split``). ``stream`` uses the same layout to read minibatches.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np


def raw_records(source, filepaths=()) -> list[bytes]:
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


def read_split(source, check: int = 256, filepaths=()) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as arrays in one batched read (not one example at a time).

    Fast path: every record of these builders is a serialized example of the same length
    (a 784-byte image and a one-byte label), so the raw records (``raw_records``) are
    stacked into one byte matrix and the image and label columns are sliced out. The columns
    are located on decoded examples and then verified against TFDS's own decoding on
    ``check`` records spread over the split (``record_layout``, which also checks the record
    order); anything unexpected falls back to TFDS decoding of every record.
    """
    n = len(source)
    raw = raw_records(source, filepaths)
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
