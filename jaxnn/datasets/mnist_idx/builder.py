"""TFDS ``GeneratorBasedBuilder``s for MNIST and Fashion-MNIST from their IDX files.

TFDS's own ``mnist`` / ``fashion_mnist`` builders need TensorFlow; these do not. They store
``array_record`` files, read back with ``tfds.data_source``. Where there is internet they
download the canonical IDX files (checked against ``checksums.tsv`` beside this file);
offline they build from a folder holding the four ``.gz`` files (TFDS's ``manual_dir``),
e.g. Debian's ``dataset-fashion-mnist`` package in ``/usr/share/datasets/fashion-mnist``.

Images are stored as raw ``uint8`` tensors (28, 28), not PNG: reading a split back is a
bulk byte copy, not 60 000 image decodes.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a numpy array.

    Format: two zero bytes, a dtype code, the number of dimensions, then each dimension as a
    big-endian uint32, then the data in row-major order.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as file:
        data = file.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(shape))
    offset = 4 + 4 * ndim
    if len(data) - offset != count * dtype.itemsize:
        raise ValueError(
            f"{path} is truncated or corrupt: header says shape {shape}, "
            f"file holds {len(data) - offset} bytes of data"
        )
    return np.frombuffer(data, dtype, count, offset).reshape(shape)


class _IdxBuilder(tfds.core.GeneratorBasedBuilder):
    """Shared logic; subclasses name the dataset, its URLs and its classes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "IDX files stored as array_record, raw uint8 images."}
    URL_ROOT = ""
    CLASS_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))
    HOMEPAGE = ""
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in one folder and pass it "
        "as manual_dir (jaxnn: --manual-dir)."
    )

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        """This file. TFDS finds ``checksums.tsv`` beside it; its own lookup goes through
        ``importlib.resources`` of the top package, which fails for editable installs."""
        return epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=(28, 28), dtype=np.uint8, encoding=tfds.features.Encoding.BYTES
                    ),
                    "label": tfds.features.ClassLabel(names=list(self.CLASS_NAMES)),
                }
            ),
            supervised_keys=("image", "label"),
            homepage=self.HOMEPAGE,
        )

    def _split_generators(self, dl_manager):
        manual = _manual_folder(dl_manager)
        paths = {}
        for split, names in IDX_FILES.items():
            if manual is not None:
                paths[split] = [os.path.join(manual, name) for name in names]
            else:
                paths[split] = [
                    os.fspath(p)
                    for p in dl_manager.download([self.URL_ROOT + name for name in names])
                ]
        return {split: self._generate_examples(*files) for split, files in paths.items()}

    def _generate_examples(self, images_path, labels_path):
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise ValueError(
                f"{images_path} holds images {images.shape}, {labels_path} labels "
                f"{labels.shape}: expected (n, 28, 28) and (n,)"
            )
        for index in range(images.shape[0]):
            yield index, {"image": images[index], "label": int(labels[index])}


def _manual_folder(dl_manager) -> str | None:
    """The manual_dir if it holds all four IDX files, else None (download instead)."""
    try:
        folder = dl_manager.manual_dir
    except Exception:  # TFDS raises when no manual_dir was configured
        return None
    if folder is None:
        return None
    folder = os.fspath(folder)
    names = [name for pair in IDX_FILES.values() for name in pair]
    if all(os.path.exists(os.path.join(folder, name)) for name in names):
        return folder
    return None


class MnistIdx(_IdxBuilder):
    """MNIST handwritten digits (LeCun et al.), 60 000 train / 10 000 test, 28×28."""

    URL_ROOT = "https://storage.googleapis.com/cvdf-datasets/mnist/"
    HOMEPAGE = "http://yann.lecun.com/exdb/mnist/"


class FashionMnistIdx(_IdxBuilder):
    """Fashion-MNIST (Xiao et al., 2017), Zalando article images, same format as MNIST."""

    URL_ROOT = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
    CLASS_NAMES = (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )  # fmt: skip
