"""TFDS ``GeneratorBasedBuilder``s for MNIST and Fashion-MNIST from their IDX files.

TFDS's own ``mnist`` / ``fashion_mnist`` builders need TensorFlow; these do not. They store
``array_record`` files, read back with ``tfds.data_source``. Where there is internet they
download the canonical IDX files (checked against ``checksums.tsv`` beside this file);
offline they build from a folder (TFDS's ``manual_dir``) holding the dataset in one of the
forms ``manual_files`` recognises (the IDX files gzipped or not; for MNIST also Keras's
``mnist.npz`` or ``mnist.pkl.gz``), e.g. Debian's ``dataset-fashion-mnist`` package in
``/usr/share/datasets/fashion-mnist``. Whatever the source, the content is verified against
the canonical files' SHA-256 (``manual_files.CANONICAL``) before any example is written.

Images are stored as raw ``uint8`` tensors (28, 28), not PNG: reading a split back is a
bulk byte copy, not 60 000 image decodes.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from jaxnn.data.sources.mnist_idx import manual_files
from jaxnn.data.sources.mnist_idx.manual_files import read_idx

__all__ = ["IDX_FILES", "FashionMnistIdx", "MnistIdx", "read_idx"]

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class _IdxBuilder(tfds.core.GeneratorBasedBuilder):
    """Shared logic; subclasses name the dataset, its URLs and its classes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "IDX files stored as array_record, raw uint8 images."}
    URL_ROOT = ""
    DATASET = ""  # jaxnn's name for it: the key of manual_files.CANONICAL
    CLASS_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))
    HOMEPAGE = ""
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped or not) — for MNIST, or "
        "Keras's mnist.npz, or mnist.pkl.gz — in one folder and pass it as manual_dir "
        "(jaxnn: --manual-dir)."
    )
    # {"train": (images, labels), "test": ...} already read and verified by jaxnn.data, so
    # that a manual folder is decoded once; None: _split_generators reads and verifies.
    verified_arrays: dict | None = None

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
        """Every split's arrays, verified (``manual_files.verify``) before TFDS writes any."""
        arrays = self.verified_arrays
        if arrays is None:
            found = _manual_form(dl_manager, self.DATASET)
            if found is None:  # download, then the same verification as a manual folder
                names = [name for pair in IDX_FILES.values() for name in pair]
                paths = dl_manager.download([self.URL_ROOT + name for name in names])
                found = manual_files.Found(
                    "idx", {name.removesuffix(".gz"): os.fspath(path)
                            for name, path in zip(names, paths, strict=True)},
                )  # fmt: skip
            arrays = manual_files.load(None, self.DATASET, found)
        return {split: self._generate_examples(*arrays[split]) for split in IDX_FILES}

    def _download_and_prepare(self, dl_manager, download_config=None):
        """TFDS's, then ``jaxnn_prepared.json`` (each shard's size and SHA-256) written into
        the ``incomplete.*`` folder TFDS is building in, before it renames it: the copy
        never exists without its manifest (``jaxnn.data.prepared``)."""
        from jaxnn.data import prepared

        super()._download_and_prepare(dl_manager=dl_manager, download_config=download_config)
        prepared.write_manifest(os.fspath(self.data_dir), self.DATASET)

    def _generate_examples(self, images, labels):
        for index in range(images.shape[0]):
            yield index, {"image": images[index], "label": int(labels[index])}


def _manual_form(dl_manager, dataset: str) -> manual_files.Found | None:
    """What the manual_dir holds (``manual_files.find``), or None (download instead)."""
    try:
        folder = dl_manager.manual_dir
    except Exception:  # TFDS raises when no manual_dir was configured
        return None
    return manual_files.find(folder, dataset) if folder is not None else None


class MnistIdx(_IdxBuilder):
    """MNIST handwritten digits (LeCun et al.), 60 000 train / 10 000 test, 28×28."""

    URL_ROOT = "https://storage.googleapis.com/cvdf-datasets/mnist/"
    DATASET = "mnist"
    HOMEPAGE = "http://yann.lecun.com/exdb/mnist/"


class FashionMnistIdx(_IdxBuilder):
    """Fashion-MNIST (Xiao et al., 2017), Zalando article images, same format as MNIST."""

    URL_ROOT = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    DATASET = "fashion_mnist"
    HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
    CLASS_NAMES = (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )  # fmt: skip
