"""CIFAR-10 from cifar-10-python.tar.gz, on a small tarball made here in the same format (the
real one is not reachable from the test machines): the MD5 gate, the layout, the restricted
unpickler, and one-line errors."""

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from jaxnn import data
from jaxnn.data.sources import cifar10
from jaxnn.data.sources.mnist_idx.manual_files import RefusedPickle
from jaxnn.errors import DataError, DatasetUnavailableError


def _batch(n, seed):
    rng = np.random.default_rng(seed)
    return {"batch_label": "batch", "labels": rng.integers(0, 10, n).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"img{i}.png" for i in range(n)]}  # fmt: skip


def _tarball(folder, batches=None, drop=()):
    batches = batches or {name: _batch(3, i) for i, name in
                          enumerate([*cifar10.BATCHES["train"], "test_batch"])}  # fmt: skip
    path = os.path.join(folder, cifar10.TARBALL)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in batches.items():
            if name in drop:
                continue
            blob = payload if isinstance(payload, bytes) else pickle.dumps(payload, protocol=2)
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path, batches


@pytest.fixture
def published(monkeypatch):
    """Make the MD5 of the tarball in ``folder`` the "published" one for this test."""

    def accept(path):
        monkeypatch.setattr(cifar10, "MD5", cifar10.md5(path))

    return accept


def test_reads_the_tarball_in_hwc_order(tmp_path, published):
    path, batches = _tarball(str(tmp_path))
    published(path)
    d = data.load("cifar10", manual_dir=str(tmp_path))
    assert d.X_train.shape == (3072, 15) and d.X_test.shape == (3072, 3)
    assert d.image_shape == (32, 32, 3) and d.num_classes == 10
    first = batches["data_batch_1"]
    np.testing.assert_array_equal(d.labels_train[:3], first["labels"])
    image = d.X_train[:, 0].reshape(32, 32, 3)
    red, green, blue = first["data"][0].reshape(3, 32, 32)
    np.testing.assert_allclose(image[..., 0] * 255, red, atol=1e-3)
    np.testing.assert_allclose(image[5, 7, 2] * 255, blue[5, 7], atol=1e-3)
    np.testing.assert_allclose(image[..., 1] * 255, green, atol=1e-3)


def test_a_file_without_the_published_md5_is_refused_before_reading(tmp_path):
    _tarball(str(tmp_path))
    with pytest.raises(DataError, match="MD5 .* published .* c58f30108f718f92721af3b95e74349a"):
        data.load("cifar10", manual_dir=str(tmp_path))


def test_a_pickle_that_calls_code_is_refused(tmp_path, published):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    batches = {name: _batch(2, 0) for name in [*cifar10.BATCHES["train"], "test_batch"]}
    batches["data_batch_2"] = pickle.dumps(Payload(), protocol=2)
    path, _ = _tarball(str(tmp_path), batches)
    published(path)
    with pytest.raises(RefusedPickle, match="nothing in it was run"):
        data.load("cifar10", manual_dir=str(tmp_path))


def test_missing_batch_wrong_contents_and_no_folder(tmp_path, published):
    path, _ = _tarball(str(tmp_path), drop=("test_batch",))
    published(path)
    with pytest.raises(DataError, match="no cifar-10-batches-py/test_batch"):
        data.load("cifar10", manual_dir=str(tmp_path))
    bad = {name: _batch(2, 0) for name in [*cifar10.BATCHES["train"], "test_batch"]}
    bad["test_batch"]["data"] = bad["test_batch"]["data"][:, :100]
    path, _ = _tarball(str(tmp_path), bad)
    published(path)
    with pytest.raises(DataError, match=r"uint8 \(n, 3072\)"):
        data.load("cifar10", manual_dir=str(tmp_path))
    with pytest.raises(DataError, match="holds no cifar-10-python.tar.gz"):
        data.load("cifar10", manual_dir=str(tmp_path / "empty"))
    with pytest.raises(DatasetUnavailableError, match="--manual-dir"):
        data.load("cifar10")
