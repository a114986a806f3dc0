import gzip
import os
import struct
import time

import numpy as np
import pytest

from jaxnn import data
from jaxnn.data import features, synthetic
from jaxnn.data.sources.mnist_idx import IDX_FILES, read_idx
from jaxnn.errors import DatasetUnavailableError, LabelError


def write_idx(path, array):
    """Write ``array`` (uint8) as a gzip IDX file: magic 0x0000_08_ndim, big-endian dims."""
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.tobytes())


@pytest.fixture
def tiny_idx(tmp_path, canonical):
    """The four IDX files of a tiny MNIST-like set: 24 train, 12 test images (made the
    canonical content for the test, see conftest's ``canonical``)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    arrays = {}
    for split, m in (("train", 24), ("test", 12)):
        images = rng.integers(0, 256, (m, 28, 28), dtype=np.uint8)
        labels = (np.arange(m) % 10).astype(np.uint8)
        write_idx(folder / IDX_FILES[split][0], images)
        write_idx(folder / IDX_FILES[split][1], labels)
        arrays[split] = (images, labels)
    canonical(arrays)
    return folder, arrays


def test_read_idx_roundtrip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX"):
        read_idx(tmp_path / "bad")


def test_tfds_builder_from_manual_dir(tiny_idx, tmp_path):
    folder, arrays = tiny_idx
    dataset = data.load("mnist", data_dir=str(tmp_path / "tfds"), manual_dir=str(folder))
    assert dataset.X_train.shape == (784, 24) and dataset.X_test.shape == (784, 12)
    assert dataset.X_train.dtype == np.float32
    assert 0.0 <= dataset.X_train.min() and dataset.X_train.max() <= 1.0
    assert "array_record" in dataset.source
    assert list((tmp_path / "tfds" / "mnist_idx" / "1.0.0").glob("*.array_record*"))
    # same examples as the IDX files (TFDS stores them in its own order): match by content
    images, labels = arrays["train"]
    expected = {images[i].tobytes(): int(labels[i]) for i in range(24)}
    got_images = np.rint(dataset.X_train.T * 255).astype(np.uint8).reshape(-1, 28, 28)
    for image, label in zip(got_images, dataset.labels_train, strict=True):
        assert expected[image.tobytes()] == label
    # prepared once: a second load needs no manual dir
    again = data.load("mnist", data_dir=str(tmp_path / "tfds"))
    np.testing.assert_array_equal(again.X_test, dataset.X_test)


@pytest.mark.parametrize("whole_files", [True, False])
def test_bulk_read_equals_tfds_decoding(tiny_idx, tmp_path, whole_files):
    """Both ways to the raw records (the split's files read whole, or the data source)."""
    folder, _ = tiny_idx
    data.prepare("fashion_mnist", str(tmp_path / "tfds"), str(folder))
    builder = data.tfds_source.open_builder("fashion_mnist", str(tmp_path / "tfds"))
    source = builder.as_data_source()["test"]
    paths = builder.info.splits["test"].filepaths if whole_files else ()
    images, labels = data.records.read_split(source, filepaths=paths)
    decoded = source.__getitems__(range(len(source)))
    np.testing.assert_array_equal(images, np.stack([e["image"] for e in decoded]))
    np.testing.assert_array_equal(labels, [e["label"] for e in decoded])


def test_offline_without_files_fails_fast(tmp_path, monkeypatch):
    nowhere = str(tmp_path / "none")
    monkeypatch.setattr(
        data.tfds_source, "DEBIAN_FOLDERS", {"mnist": nowhere, "fashion_mnist": nowhere}
    )
    monkeypatch.setattr(data.tfds_source, "online", lambda url, timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailableError, match="--manual-dir") as info:
        data.load("fashion_mnist", data_dir=str(tmp_path / "tfds"))
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert time.perf_counter() - start < 10
    with pytest.raises(DatasetUnavailableError, match="four IDX files"):
        data.load("mnist", data_dir=str(tmp_path / "tfds"), manual_dir=str(tmp_path))


def test_online_probe_answers_quickly_for_a_closed_port():
    start = time.perf_counter()
    assert data.tfds_source.online("http://127.0.0.1:9/", timeout=2.0) is False
    assert time.perf_counter() - start < 5


def test_digits_is_bundled_and_columns():
    dataset = data.load("digits")
    assert dataset.X_train.shape[0] == 64
    assert dataset.X_train.shape[1] + dataset.X_test.shape[1] == 1797
    assert dataset.X_train.max() == 1.0 and dataset.num_classes == 10


@pytest.mark.parametrize("name", ["flower", "moons"])
def test_synthetic_sets(name):
    dataset = data.load(name)
    assert dataset.X_train.shape == (2, 800) and set(np.unique(dataset.labels_train)) == {0, 1}


def test_random_regression_is_the_printed_shapes():
    x, y = synthetic.random_regression()
    assert x.shape == (64, 1000) and y.shape == (64, 10)


def test_feature_processing():
    images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    assert features.flatten(images).shape == (2, 6)
    assert features.scale_01(np.array([0, 255])).tolist() == [0.0, 1.0]
    rows = np.array([[1.0, 5.0], [3.0, 5.0]])
    std = features.Standardizer.fit(rows)
    np.testing.assert_allclose(std.transform(rows), [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(std.transform(np.array([[5.0, 5.0]])), [[3.0, 0.0]])
    Y = features.one_hot(np.array([2, 0]), 3)
    np.testing.assert_array_equal(Y, [[0, 1], [0, 0], [1, 0]])
    # every pair of one-hot categories is √2 apart
    assert np.linalg.norm(Y[:, 0] - Y[:, 1]) == pytest.approx(np.sqrt(2))
    np.testing.assert_array_equal(features.multi_hot([[1, 3]], 4)[:, 0], [0, 1, 0, 1])
    vocab = features.Vocabulary(["Beijing", "Shanghai", "Shenzhen"])
    assert vocab.encode(["Shenzhen", "Paris", "Beijing"]).tolist() == [2, 3, 0]
    assert len(vocab) == 4
    assert features.to_columns(rows).tolist() == [[1.0, 3.0], [5.0, 5.0]]


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0], [0.5, 1]])
def test_bad_labels_are_named(labels):
    with pytest.raises(LabelError):
        features.one_hot(np.array(labels), 3)


@pytest.mark.skipif(
    not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist_is_found_by_default(tmp_path):
    dataset = data.load("fashion_mnist", data_dir=str(tmp_path / "tfds"))
    assert dataset.X_train.shape == (784, 60000) and dataset.X_test.shape == (784, 10000)
    assert np.bincount(dataset.labels_train).tolist() == [6000] * 10


def test_data_prepare_command(tiny_idx, tmp_path, capsys):
    from jaxnn import cli

    folder, _ = tiny_idx
    rc = cli.main(["data", "prepare", "mnist", "--data-dir", str(tmp_path / "tfds"),
                   "--manual-dir", str(folder)])  # fmt: skip
    assert rc == 0 and f"built from {folder}" in capsys.readouterr().out
    assert cli.main(["data", "prepare", "mnist", "--data-dir", str(tmp_path / "tfds")]) == 0
    assert "prepared TFDS array_record" in capsys.readouterr().out
    assert cli.main(["data", "prepare", "digits"]) == 0


def test_quiet_train_prepares_the_dataset_without_tfds_bars(tiny_idx, tmp_path, capsys):
    """`jaxnn train --quiet` on a dataset not yet prepared: TFDS's bars (generating splits,
    shuffling) were still drawn on stderr; now nothing is, and a prepare that is not quiet
    still shows them."""
    from jaxnn import cli

    folder, _ = tiny_idx
    rc = cli.main(["train", "--quiet", "--dataset", "mnist", "--data-dir", str(tmp_path / "q"),
                   "--manual-dir", str(folder), "--epochs", "1", "--batch-size", "24",
                   "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0 and "it/s]" not in err and "examples/s]" not in err and "%|" not in err, err
    assert cli.main(["data", "prepare", "mnist", "--data-dir", str(tmp_path / "shown"),
                     "--manual-dir", str(folder)]) == 0  # fmt: skip
    assert "%|" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["digits", "flower", "moons"])
def test_known_shapes_match_the_loaded_data(name):
    """DatasetSpec.shapes (what training compiles for while loading) is what load returns."""
    assert data.Shapes.of(data.load(name)) == data.DATASETS[name].shapes


def test_digits_file_equals_sklearn():
    """The bundled CSV read directly is scikit-learn's load_digits, value for value."""
    from sklearn.datasets import load_digits

    pixels, labels = data.bundled.digits_file()
    bunch = load_digits()
    np.testing.assert_array_equal(pixels, bunch.data)
    np.testing.assert_array_equal(labels, bunch.target)


def test_hold_out_is_the_last_training_examples_and_drops_the_test_set():
    """--validation N: the first m − N training examples train, the last N are evaluated,
    the test set is gone; the same split every call; sizes known before loading agree."""
    from jaxnn.errors import ConfigError

    digits = data.load("digits")
    m, n = digits.X_train.shape[1], 200
    held = data.hold_out(digits, n)
    np.testing.assert_array_equal(held.X_train, digits.X_train[:, : m - n])
    np.testing.assert_array_equal(held.labels_train, digits.labels_train[: m - n])
    np.testing.assert_array_equal(held.X_test, digits.X_train[:, m - n :])
    np.testing.assert_array_equal(held.labels_test, digits.labels_train[m - n :])
    assert not any(np.array_equal(held.X_test[:, j], digits.X_test[:, 0]) for j in range(n))
    assert "validation: the last 200 of its 1438" in held.source
    np.testing.assert_array_equal(data.hold_out(digits, n).X_test, held.X_test)
    assert data.held_out_shapes(data.Shapes.of(digits), n) == data.Shapes.of(held)
    for bad in (0, m, m + 1):
        with pytest.raises(ConfigError, match="--validation"):
            data.hold_out(digits, bad)
