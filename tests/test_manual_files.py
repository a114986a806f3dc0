"""MNIST from the forms people hold (IDX gz / raw, mnist.npz, mnist.pkl.gz): recognised,
decoded to the same arrays, verified against the canonical digests, and refused — one line,
exit code 3, nothing built — when the content is wrong or a pickle would run code.

Every file is a tiny one built here; ``canonical`` (conftest) makes its digests the
expected ones, as the real files' digests are in ``manual_files.CANONICAL``."""

import gzip
import io
import os
import pickle
import struct

import numpy as np
import pytest

from jaxnn import cli, data
from jaxnn.data.sources.mnist_idx import FashionMnistIdx, MnistIdx, manual_files
from jaxnn.errors import DataError, DatasetUnavailableError

N_TRAIN, N_VALID, N_TEST = 20, 6, 10  # the pkl's train + validation = the IDX training set


@pytest.fixture
def splits(canonical):
    """{"train": (images, labels), "test": ...}: uint8, canonical for this test."""
    rng = np.random.default_rng(3)
    result = {
        split: (rng.integers(0, 256, (m, 28, 28), dtype=np.uint8),
                rng.integers(0, 10, m).astype(np.uint8))
        for split, m in (("train", N_TRAIN + N_VALID), ("test", N_TEST))
    }  # fmt: skip
    canonical(result)
    return result


def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(folder, splits, gz=True, dotted=False):
    folder.mkdir(parents=True, exist_ok=True)
    for split, arrays in splits.items():
        for name, array in zip(manual_files.IDX_NAMES[split], arrays, strict=True):
            name = name.replace("-idx", ".idx") if dotted else name
            if gz:
                with gzip.open(folder / (name + ".gz"), "wb") as file:
                    file.write(idx_bytes(array))
            else:
                (folder / name).write_bytes(idx_bytes(array))
    return folder


def write_npz(folder, splits):
    folder.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    np.savez(folder / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return folder


def pkl_parts(splits):
    """The deeplearning.net layout: ((X, y) train, validation, test), X = uint8 / 256."""
    (images, labels), (test_images, test_labels) = splits["train"], splits["test"]

    def pair(x, y):
        return x.reshape(len(x), 784).astype(np.float32) / 256, y.astype(np.int64)

    return (pair(images[:N_TRAIN], labels[:N_TRAIN]), pair(images[N_TRAIN:], labels[N_TRAIN:]),
            pair(test_images, test_labels))  # fmt: skip


def write_pkl(folder, payload, protocol=2):
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "mnist.pkl.gz", "wb") as file:
        pickle.dump(payload, file, protocol=protocol)
    return folder


FORMS = {
    "idx-gz": lambda folder, s: write_idx(folder, s, gz=True),
    "idx-raw": lambda folder, s: write_idx(folder, s, gz=False),
    "idx-raw-dotted": lambda folder, s: write_idx(folder, s, gz=False, dotted=True),
    "npz": write_npz,
    "pkl-protocol-2": lambda folder, s: write_pkl(folder, pkl_parts(s), protocol=2),
    "pkl-protocol-5": lambda folder, s: write_pkl(folder, pkl_parts(s), protocol=5),
}


def assert_one_line_naming(error, path, *words):
    text = str(error.value)
    assert "\n" not in text and str(path) in text, text
    for word in words:
        assert word in text, text
    assert error.value.exit_code == 3


def files_under(folder):
    return [os.path.join(d, f) for d, _, names in os.walk(folder) for f in names]


# --------------------------------------------------------------------------- each form
@pytest.mark.parametrize("form", FORMS)
def test_each_form_decodes_to_the_same_arrays(form, splits, tmp_path):
    folder = FORMS[form](tmp_path / form, splits)
    assert manual_files.find(folder, "mnist").form == form.split("-")[0]
    loaded = manual_files.load(folder, "mnist")
    for split in ("train", "test"):
        for got, expected in zip(loaded[split], splits[split], strict=True):
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, expected)


def test_every_form_builds_the_same_tfds_dataset(splits, tmp_path):
    reference = None
    for form, write in FORMS.items():
        folder = write(tmp_path / form, splits)
        dataset = data.load(
            "mnist", data_dir=str(tmp_path / f"tfds-{form}"), manual_dir=str(folder)
        )
        if reference is None:
            reference = dataset
            # the stored examples are the files' (TFDS's own order): match them by content
            images, labels = splits["train"]
            expected = {images[i].tobytes(): int(labels[i]) for i in range(len(labels))}
            pixels = np.rint(dataset.X_train.T * 255).astype(np.uint8)
            stored = zip(pixels, dataset.labels_train, strict=True)
            assert len(pixels) == len(labels)
            assert {p.tobytes(): int(y) for p, y in stored} == expected
        for field in ("X_train", "labels_train", "X_test", "labels_test"):
            np.testing.assert_array_equal(getattr(dataset, field), getattr(reference, field))


def test_torchvision_raw_folder_holds_both_spellings(splits, tmp_path):
    folder = write_idx(tmp_path / "raw", splits, gz=True)
    write_idx(folder, splits, gz=False)
    found = manual_files.find(folder, "mnist")
    assert all(not path.endswith(".gz") for path in found.paths.values())  # no inflating


def test_torchvision_root_is_looked_into(splits, tmp_path):
    write_idx(tmp_path / "data" / "MNIST" / "raw", splits, gz=False)
    (tmp_path / "data" / "MNIST" / "processed").mkdir()
    for folder in (tmp_path / "data", tmp_path / "data" / "MNIST"):
        found = manual_files.find(folder, "mnist")
        assert found.form == "idx" and all("/MNIST/raw/" in p for p in found.paths.values())


def test_idx_digest_is_the_sha256_of_the_uncompressed_file(splits, tmp_path):
    import hashlib

    folder = write_idx(tmp_path / "raw", splits, gz=False)
    for name, path in manual_files.find(folder, "mnist").paths.items():
        array = manual_files.read_idx(path)
        assert manual_files.idx_sha256(array) == hashlib.sha256(open(path, "rb").read()).hexdigest()
        assert manual_files.idx_sha256(array) == manual_files.CANONICAL["mnist"][name].sha256


def test_fashion_mnist_reads_idx_but_not_mnist_only_forms(splits, tmp_path):
    write_npz(tmp_path / "f", splits)
    assert manual_files.find(tmp_path / "f", "mnist").form == "npz"
    assert manual_files.find(tmp_path / "f", "fashion_mnist") is None
    write_idx(tmp_path / "f", splits, gz=False)
    assert manual_files.find(tmp_path / "f", "fashion_mnist").form == "idx"
    np.testing.assert_array_equal(
        manual_files.load(tmp_path / "f", "fashion_mnist")["test"][0], splits["test"][0]
    )


# ----------------------------------------------------------------- content refused
def one_pixel_changed(splits, split="train"):
    images, labels = splits[split]
    images = images.copy()
    images[3, 14, 14] ^= 1
    return {**splits, split: (images, labels)}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("split", ["train", "test"])
def test_one_changed_pixel_is_refused_naming_the_file(form, split, splits, tmp_path):
    folder = FORMS[form](tmp_path / form, one_pixel_changed(splits, split))
    found = manual_files.find(folder, "mnist")
    name = manual_files.IDX_NAMES[split][0]
    expected = manual_files.CANONICAL["mnist"][name].sha256
    with pytest.raises(DataError) as error:
        manual_files.load(folder, "mnist")
    assert_one_line_naming(error, found.paths[name], name, "expected", expected, "found")


def test_wrong_labels_and_fewer_images_are_refused(splits, tmp_path):
    images, labels = splits["test"]
    folder = write_idx(tmp_path / "labels", {**splits, "test": (images, (labels + 1) % 10)})
    with pytest.raises(DataError) as error:
        manual_files.load(folder, "mnist")
    assert_one_line_naming(error, folder / "t10k-labels-idx1-ubyte.gz", "labels")
    folder = write_npz(tmp_path / "fewer", {**splits, "test": (images[:-1], labels[:-1])})
    with pytest.raises(DataError) as error:
        manual_files.load(folder, "mnist")
    assert_one_line_naming(error, folder / "mnist.npz", f"expected {N_TEST} images", "(9, 28, 28)")


@pytest.mark.parametrize("form", ["idx-gz", "idx-raw", "npz", "pkl-protocol-2"])
def test_truncated_file_is_refused(form, splits, tmp_path):
    folder = FORMS[form](tmp_path / form, splits)
    path = manual_files.find(folder, "mnist").paths["train-images-idx3-ubyte"]
    content = open(path, "rb").read()
    with open(path, "wb") as file:
        file.write(content[: len(content) // 2])
    with pytest.raises(DataError) as error:
        manual_files.load(folder, "mnist")
    assert_one_line_naming(error, path)


def test_pkl_pixels_must_be_multiples_of_1_256(splits, tmp_path):
    parts = pkl_parts(splits)
    X, y = parts[1]
    X = X.copy()
    X[2, 100] = 0.3  # 76.8 / 256
    folder = write_pkl(tmp_path / "pkl", (parts[0], (X, y), parts[2]))
    with pytest.raises(DataError) as error:
        manual_files.load(folder, "mnist")
    assert_one_line_naming(error, folder / "mnist.pkl.gz", "multiples of 1/256", "0.3",
                           "image 2, pixel 100", "validation")  # fmt: skip


def test_npz_with_float_pixels_is_refused(splits, tmp_path):
    folder = write_npz(tmp_path / "npz", splits)
    with np.load(folder / "mnist.npz") as npz:
        arrays = dict(npz)
    arrays["x_train"] = arrays["x_train"] / 255.0
    np.savez(folder / "mnist.npz", **arrays)
    with pytest.raises(DataError) as error:
        manual_files.load(folder, "mnist")
    assert_one_line_naming(error, folder / "mnist.npz", "x_train", "uint8", "float64")


# ------------------------------------------------------------------------ security
class _Payload:
    """Unpickling this calls ``function(argument)``: what a malicious mnist.pkl.gz does."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def _malicious(kind, marker):
    if kind == "os.system":
        return _Payload(os.system, f"touch {marker}")
    return _Payload(exec, f"open({str(marker)!r}, 'w').close()")


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec"])
def test_malicious_pickle_is_refused_before_it_runs(kind, splits, tmp_path):
    marker = tmp_path / "pwned"
    # the control: unpickled as pickle.load would, the payload does create the file
    pickle.loads(pickle.dumps(_malicious(kind, marker)))
    assert marker.exists()
    marker.unlink()
    # hidden inside an otherwise correct mnist.pkl.gz, as the labels of the test set
    train, valid, (X_test, _) = pkl_parts(splits)
    folder = write_pkl(tmp_path / "evil", (train, valid, (X_test, _malicious(kind, marker))))
    with pytest.raises(manual_files.RefusedPickle) as error:
        manual_files.load(folder, "mnist")
    assert_one_line_naming(error, folder / "mnist.pkl.gz", "refused", "system" if kind ==
                           "os.system" else "exec")  # fmt: skip
    assert not marker.exists()
    code = cli.main(["data", "prepare", "mnist", "--data-dir", str(tmp_path / "tfds"),
                     "--manual-dir", str(folder)])  # fmt: skip
    assert code == 3 and not marker.exists()
    assert files_under(tmp_path / "tfds") == []


def test_only_numpy_array_globals_resolve():
    unpickler = manual_files.ArrayUnpickler(io.BytesIO(), "f")
    assert unpickler.find_class("numpy", "ndarray") is np.ndarray
    for module, name in [
        ("os", "system"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("numpy", "load"),
        ("subprocess", "Popen"),
        ("numpy.core", "eval"),
    ]:
        with pytest.raises(manual_files.RefusedPickle):
            unpickler.find_class(module, name)  # fmt: skip


# ------------------------------------------------------------- nothing half-written
def test_refused_content_leaves_no_dataset_and_exits_3(splits, tmp_path, capsys):
    folder = write_idx(tmp_path / "bad", one_pixel_changed(splits))
    tfds_dir = tmp_path / "tfds"
    with pytest.raises(DataError):
        data.load("mnist", data_dir=str(tfds_dir), manual_dir=str(folder))
    assert files_under(tfds_dir) == []
    for argv in (["data", "prepare", "mnist"], ["train", "--dataset", "mnist", "--quiet",
                                                "--out", str(tmp_path / "run")]):  # fmt: skip
        capsys.readouterr()
        assert cli.main([*argv, "--data-dir", str(tfds_dir), "--manual-dir", str(folder)]) == 3
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "train-images-idx3-ubyte.gz" in err and "expected" in err
    assert files_under(tfds_dir) == [] and not (tmp_path / "run" / "metrics.json").exists()
    # the right files then build into the same data_dir
    good = write_idx(tmp_path / "good", splits)
    assert cli.main(["data", "prepare", "mnist", "--data-dir", str(tfds_dir),
                     "--manual-dir", str(good)]) == 0  # fmt: skip
    assert data.tfds_source.open_builder("mnist", str(tfds_dir)).is_prepared()


@pytest.mark.parametrize("builder_cls", [MnistIdx, FashionMnistIdx])
def test_the_builder_alone_verifies_and_tfds_removes_its_partial_output(
    builder_cls, splits, tmp_path
):
    """Used through TFDS directly (no jaxnn.data), the builder verifies in
    _split_generators, before any example is written, and TFDS deletes its incomplete dir."""
    import tensorflow_datasets as tfds

    folder = write_idx(tmp_path / "bad", one_pixel_changed(splits, "test"))
    builder = builder_cls(data_dir=str(tmp_path / "tfds"), file_format="array_record")
    config = tfds.download.DownloadConfig(manual_dir=str(folder))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: not the canonical"):
        builder.download_and_prepare(download_config=config)
    assert not builder.is_prepared()
    assert not [f for f in files_under(tmp_path / "tfds") if "array_record" in f]


def test_partial_idx_folder_names_what_it_lacks(splits, tmp_path):
    folder = write_idx(tmp_path / "half", {"train": splits["train"]})
    with pytest.raises(DatasetUnavailableError) as error:
        data.prepare("mnist", str(tmp_path / "tfds"), str(folder))
    assert "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in str(error.value)
    assert error.value.exit_code == 4


@pytest.mark.skipif(
    not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist_is_canonical():
    found = manual_files.find("/usr/share/datasets/fashion-mnist", "fashion_mnist")
    arrays = manual_files.decode(found)
    manual_files.verify(arrays, found, "fashion_mnist")
