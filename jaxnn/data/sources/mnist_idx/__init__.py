"""TFDS builders for the MNIST-family IDX datasets, without TensorFlow."""

from jaxnn.data.sources.mnist_idx.builder import (
    IDX_FILES,
    FashionMnistIdx,
    MnistIdx,
    read_idx,
)

__all__ = ["IDX_FILES", "FashionMnistIdx", "MnistIdx", "read_idx"]
