"""The sources jaxnn reads datasets from: TFDS builders for the MNIST-family IDX files
(``mnist_idx``, each builder in its own package folder, as TFDS needs) and CIFAR-10's
python archive (``cifar10``)."""
