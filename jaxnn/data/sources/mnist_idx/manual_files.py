"""MNIST as people already hold it: recognise the file forms, decode them, verify them.

A ``--manual-dir`` folder is recognised by file name, in this order:

* ``idx``: the four IDX files of LeCun's (or Zalando's) distribution, each gzipped
  (``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``, also spelled
  ``train-images.idx3-ubyte``; torchvision's ``MNIST/raw/`` holds both);
* ``npz`` (MNIST only): Keras's ``mnist.npz`` — ``x_train (60000, 28, 28)``, ``y_train``,
  ``x_test``, ``y_test``, uint8 — read with ``allow_pickle=False``;
* ``pkl`` (MNIST only): ``mnist.pkl.gz`` of the deeplearning.net tutorials and Nielsen's
  book — a (Python 2) pickled tuple of three ``(X float32 (n, 784) = uint8 / 256, y int64)``
  pairs: 50 000 train and 10 000 validation, which in order are the 60 000 IDX training
  images, then 10 000 test.

Whatever the form, the decoded uint8 images and labels are re-encoded as the four
uncompressed IDX files (header included) and their SHA-256 compared with ``CANONICAL``
before anything is built; anything else is a ``DataError`` (exit code 3) naming the file,
what was expected and what was found.

Files from disk are untrusted: a pickle can run code while it loads, so ``mnist.pkl.gz`` is
read by ``ArrayUnpickler``, which resolves only the few numpy names an array needs and
refuses every other global before it can be called.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from jaxnn.errors import DataError

SPLITS = ("train", "test")
# the uncompressed IDX names of each split: (images, labels)
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NPZ_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class Canonical(NamedTuple):
    """What an uncompressed IDX file of the dataset must be."""

    sha256: str
    count: int  # images or labels in it


# SHA-256 of the uncompressed canonical IDX files. Tests replace entries with the digests of
# their own tiny files (the table is read at call time).
CANONICAL: dict[str, dict[str, Canonical]] = {
    "mnist": {
        "train-images-idx3-ubyte": Canonical(
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 60000),
        "train-labels-idx1-ubyte": Canonical(
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60000),
        "t10k-images-idx3-ubyte": Canonical(
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 10000),
        "t10k-labels-idx1-ubyte": Canonical(
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10000),
    },
    # Computed from the files of Debian's dataset-fashion-mnist (0.0~git20200523.55506a9-1),
    # which ships Zalando's canonical files unchanged: Debian's .gz files differ from the
    # ones in checksums.tsv only in their gzip header (file name and mtime dropped); putting
    # back the name and mtime (2017-08-31 10:50 UTC) reproduces those SHA-256 byte for byte.
    "fashion_mnist": {
        "train-images-idx3-ubyte": Canonical(
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 60000),
        "train-labels-idx1-ubyte": Canonical(
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60000),
        "t10k-images-idx3-ubyte": Canonical(
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 10000),
        "t10k-labels-idx1-ubyte": Canonical(
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10000),
    },
}  # fmt: skip
SINGLE_FILES = {"mnist": {"npz": "mnist.npz", "pkl": "mnist.pkl.gz"}, "fashion_mnist": {}}


class Found(NamedTuple):
    """A recognised form: ``form`` is "idx", "npz" or "pkl"; ``paths`` maps each IDX name to
    the file holding it (one file for all four in npz and pkl)."""

    form: str
    paths: dict[str, str]


# ------------------------------------------------------------------------- recognising
def _idx_candidates(name: str) -> tuple[str, ...]:
    """The file names an IDX file goes by: uncompressed first (no inflating), then gzip."""
    dotted = name.replace("-idx", ".idx")  # train-images.idx3-ubyte
    return (name, dotted, name + ".gz", dotted + ".gz")


def _first_existing(folder: str, names) -> str | None:
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def find(folder: str | os.PathLike | None, dataset: str) -> Found | None:
    """The form of ``dataset`` that ``folder`` holds, recognised by file name, or None.
    torchvision's root (``DIR`` holding ``MNIST/raw/``, or ``MNIST/`` holding ``raw/``) is
    looked into as well."""
    if not folder or not os.path.isdir(folder):
        return None
    folder = os.fspath(folder)
    for inner in (("MNIST", "raw"), ("FashionMNIST", "raw"), ("raw",)):
        if os.path.isdir(os.path.join(folder, *inner)) and not _holds_any(folder, dataset):
            return find(os.path.join(folder, *inner), dataset)
    names = [name for pair in IDX_NAMES.values() for name in pair]
    paths = {name: _first_existing(folder, _idx_candidates(name)) for name in names}
    if all(paths.values()):
        return Found("idx", paths)
    for form, file_name in SINGLE_FILES.get(dataset, {}).items():
        path = os.path.join(folder, file_name)
        if os.path.isfile(path):
            return Found(form, dict.fromkeys(names, path))
    return None


def forms(dataset: str) -> str:
    """The forms ``find`` recognises, in words, for error messages."""
    text = "the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    text += "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped .gz or uncompressed)"
    singles = SINGLE_FILES.get(dataset, {})
    if singles:
        text += ", " + " or ".join(singles.values())
    return text


def _holds_any(folder: str, dataset: str) -> bool:
    names = [name for pair in IDX_NAMES.values() for name in pair]
    singles = SINGLE_FILES.get(dataset, {}).values()
    return any(_first_existing(folder, _idx_candidates(name)) for name in names) or any(
        os.path.isfile(os.path.join(folder, name)) for name in singles
    )


def missing(folder: str | os.PathLike) -> list[str]:
    """The IDX files ``folder`` lacks, when it holds some of them (for the error message)."""
    names = [name for pair in IDX_NAMES.values() for name in pair]
    present = [name for name in names if _first_existing(os.fspath(folder), _idx_candidates(name))]
    return [name for name in names if name not in present] if present else []


# ---------------------------------------------------------------------------- decoding
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
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path} is truncated: its header ends after {len(data)} bytes")
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


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _frombuffer():
    try:
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy < 2
        from numpy.core.numeric import _frombuffer
    return _frombuffer


def _latin1_bytes():
    def encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
            raise pickle.UnpicklingError(f"refused codec {encoding!r} (only latin1)")
        return text.encode("latin1", errors)

    return encode


# (module, name) a pickled numpy array refers to -> how to get it. The real mnist.pkl.gz (a
# protocol-2 pickle from Python 2) needs only numpy.core.multiarray._reconstruct,
# numpy.ndarray and numpy.dtype; numpy 2 writes the _core spellings; protocol 5 pickles an
# array through _frombuffer; a protocol-2 pickle written by Python 3 stores the array's
# bytes as _codecs.encode(text, "latin1"), allowed for that codec only.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1_bytes,
}


class RefusedPickle(DataError):
    """A pickle names a global that a numpy array does not need; nothing of it was run."""


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers, and nothing else.

    ``find_class`` is the only way a pickle reaches code (every GLOBAL / STACK_GLOBAL opcode
    goes through it), so refusing every name outside ``_ALLOWED`` there stops a payload
    before anything is called. Persistent ids are refused by ``pickle.Unpickler`` itself.
    """

    def __init__(self, file, path: str):
        super().__init__(file, encoding="latin1")  # the pickles are Python 2's str
        self.path = path

    def find_class(self, module: str, name: str):
        resolve = _ALLOWED.get((module, name))
        if resolve is None:
            raise RefusedPickle(
                f"{self.path}: refused to load: the pickle calls {module}.{name}, which a "
                "pickle of numpy arrays never needs (it could run code); nothing in it was "
                "run. Use the original mnist.pkl.gz, or the IDX files or mnist.npz instead"
            )
        return resolve()


def _as_uint8(array, path: str, what: str) -> np.ndarray:
    """Integer data 0..255 as uint8 (refusing anything a cast would silently change)."""
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.integer):
        found = type(array).__name__ if not isinstance(array, np.ndarray) else array.dtype
        raise DataError(f"{path}: {what} should be uint8 integers; found {found}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise DataError(
            f"{path}: {what} should be 0..255; found values {array.min()}..{array.max()}"
        )
    return array.astype(np.uint8, copy=False)


def _pixels_from_floats(X, path: str, what: str) -> np.ndarray:
    """The pkl's float pixels (uint8 / 256) back to uint8, exactly, or a DataError."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or not np.issubdtype(X.dtype, np.floating):
        found = getattr(X, "shape", type(X).__name__), getattr(X, "dtype", "")
        raise DataError(
            f"{path}: {what} should be a float32 array (n, 784) of uint8 / 256; found {found}"
        )
    scaled = X * X.dtype.type(256)  # exact: a power of two
    whole = np.floor(scaled)
    bad = np.flatnonzero((scaled != whole) | (scaled < 0) | (scaled > 255))
    if bad.size:
        row, column = divmod(int(bad[0]), X.shape[1])
        raise DataError(
            f"{path}: {what} are not multiples of 1/256 in [0, 255/256] as in the canonical "
            f"mnist.pkl.gz (uint8 / 256): found {X[row, column]!r} at image {row}, pixel "
            f"{column} ({bad.size} such values); use an unmodified mnist.pkl.gz"
        )
    pixels = whole.astype(np.uint8)
    return pixels.reshape(-1, 28, 28) if X.shape[1] == 784 else pixels  # else: verify says so


def _read_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        absent = [key for pair in NPZ_KEYS.values() for key in pair if key not in npz.files]
        if absent:
            raise DataError(
                f"{path}: expected Keras's mnist.npz with x_train, y_train, x_test, y_test; "
                f"missing {', '.join(absent)} (holds {', '.join(npz.files) or 'nothing'})"
            )
        arrays = {}
        for split, (x_key, y_key) in NPZ_KEYS.items():
            images_name, labels_name = IDX_NAMES[split]
            arrays[images_name] = _as_uint8(npz[x_key], path, f"{x_key} (pixels)")
            arrays[labels_name] = _as_uint8(npz[y_key], path, f"{y_key} (labels)")
    return arrays


def _read_pkl(path: str) -> dict[str, np.ndarray]:
    with gzip.open(path, "rb") as file:
        parts = ArrayUnpickler(file, path).load()
    if (
        not isinstance(parts, tuple | list)
        or len(parts) != 3
        or not all(isinstance(pair, tuple | list) and len(pair) == 2 for pair in parts)
    ):
        raise DataError(
            f"{path}: expected the deeplearning.net mnist.pkl.gz, a tuple of 3 (images, "
            f"labels) pairs (train, validation, test); found {type(parts).__name__}"
        )
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = parts
    names = {"train": "training", "valid": "validation", "test": "test"}
    pixels = {key: _pixels_from_floats(X, path, f"the {names[key]} pixels")
              for key, X in (("train", X_train), ("valid", X_valid), ("test", X_test))}  # fmt: skip
    labels = {key: _as_uint8(y, path, f"the {names[key]} labels")
              for key, y in (("train", y_train), ("valid", y_valid), ("test", y_test))}  # fmt: skip
    # validation follows training: together, in order, they are the IDX training set
    return {
        "train-images-idx3-ubyte": np.concatenate([pixels["train"], pixels["valid"]]),
        "train-labels-idx1-ubyte": np.concatenate([labels["train"], labels["valid"]]),
        "t10k-images-idx3-ubyte": pixels["test"],
        "t10k-labels-idx1-ubyte": labels["test"],
    }


_FORM_WORDS = {"idx": "an IDX file", "npz": "Keras's mnist.npz", "pkl": "mnist.pkl.gz"}
_READ_ERRORS = (
    ValueError, TypeError, KeyError, EOFError, OSError, zlib.error, zipfile.BadZipFile,
    pickle.UnpicklingError, AttributeError, IndexError, struct.error, MemoryError,
)  # fmt: skip


def decode(found: Found) -> dict[str, np.ndarray]:
    """The four arrays (keyed by IDX name) of a recognised form, as uint8. Unreadable,
    truncated or malformed files are ``DataError``s naming the file."""
    path = next(iter(found.paths.values()))
    try:
        if found.form == "npz":
            return _read_npz(path)
        if found.form == "pkl":
            return _read_pkl(path)
        arrays = {}
        for name, idx_path in found.paths.items():
            path = idx_path  # the file an error names
            arrays[name] = _as_uint8(read_idx(path), path, f"the {name} data")
        return arrays
    except DataError:
        raise
    except _READ_ERRORS as error:
        reason = str(error).replace(str(path), "").strip(" :")
        reason = reason.removeprefix("is truncated or corrupt: ") or type(error).__name__
        raise DataError(
            f"{path}: cannot be read as {_FORM_WORDS[found.form]} ({reason}): the file is "
            "truncated or corrupt; use an unmodified copy"
        ) from None


# --------------------------------------------------------------------------- verifying
def idx_sha256(array: np.ndarray) -> str:
    """SHA-256 of ``array`` (uint8) encoded as an uncompressed IDX file, header included."""
    array = np.ascontiguousarray(array, np.uint8)
    digest = hashlib.sha256(bytes([0, 0, 0x08, array.ndim]))
    digest.update(struct.pack(f">{array.ndim}I", *array.shape))
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def verify(arrays: dict[str, np.ndarray], found: Found, dataset: str) -> None:
    """Raise a ``DataError`` unless the four arrays are the canonical content."""
    for name, expected in CANONICAL[dataset].items():
        array = arrays[name]
        what = "images" if "images" in name else "labels"
        sha = idx_sha256(array)
        if sha != expected.sha256:
            raise DataError(
                f"{found.paths[name]}: not the canonical {dataset} {name}: expected "
                f"{expected.count} {what} with IDX SHA-256 {expected.sha256}, found "
                f"{what} of shape {tuple(array.shape)} with SHA-256 {sha}; use an unmodified "
                "copy of the file"
            )


def load(folder: str | os.PathLike, dataset: str, found: Found | None = None):
    """``{"train": (images, labels), "test": ...}`` (uint8 ``(n, 28, 28)`` and ``(n,)``) from
    the form ``folder`` holds, verified against ``CANONICAL[dataset]``; ``DataError`` else."""
    found = found or find(folder, dataset)
    if found is None:
        raise DataError(f"{folder} holds no {dataset} files jaxnn reads: {forms(dataset)}")
    arrays = decode(found)
    verify(arrays, found, dataset)
    return {split: (arrays[images], arrays[labels]) for split, (images, labels) in
            IDX_NAMES.items()}  # fmt: skip
