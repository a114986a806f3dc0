"""Shared test set-up: float64 that never leaks, derandomized hypothesis."""

import os
import tempfile

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from jaxnn import compat

# Derandomized everywhere: CI and local runs draw the same cases. JAXNN_HYPOTHESIS=thorough
# draws more cases with fresh randomness for local exploration.
settings.register_profile(
    "default",
    derandomize=True,
    deadline=None,
    max_examples=8,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("thorough", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("JAXNN_HYPOTHESIS", "default"))

# float32 comparisons at float32's precision: on GPUs with TensorFloat-32 (A100, H100) XLA's
# default float32 matmuls and convolutions round their inputs to 10 mantissa bits, and hand
# vs jax.grad then differ by ~1e-4 from the order of operations alone (seen on an H100).
# CPUs compute float32 in full either way.
jax.config.update("jax_default_matmul_precision", "highest")

# XLA's CPU backend in the tests and their subprocesses (which inherit XLA_FLAGS) compiles
# for compile time: a test's time is mostly compiling small programs once.
# - optimization level 1: compiles in about two thirds of the default's time, runs about as
#   fast (level 0 compiles faster still but tripled LeNet-5 1998's 2-epoch run);
# - the older loop emitters for elementwise fusions (--xla_cpu_use_fusion_emitters=false):
#   the MLIR fusion emitters (XLA's default) took 119 s on 23 of the slowest compile-bound
#   tests (conv, transformer, recurrent float64 checks; the papers' three-way checks; every
#   model's defaults), the older emitters 87 s, same machine, interleaved (2026-11-30, AVX-512).
# Results differ from the defaults' by float rounding only (LeNet-5, ResNet-20, VGG-11
# gradients: at most 3e-6 relative in float32; no fast math either way); comparisons in the
# tests are within one setting (hand vs jax.grad, resumed vs uninterrupted, 2 processes vs
# 1). XLA_FLAGS naming either setting, or JAXNN_TEST_XLA_OPTIMIZE=1 (XLA's defaults), tests
# with those instead. (jaxlib 0.8.0, the floor, and 0.10.2, the lock's, know both flags; a
# jaxlib that drops one stops at start with XLA's "Unknown flag in XLA_FLAGS": drop it here.)
TEST_XLA_FLAGS = {
    "xla_backend_optimization_level": "1",
    "xla_cpu_use_fusion_emitters": "false",
}
if not os.environ.get("JAXNN_TEST_XLA_OPTIMIZE"):
    _given = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = " ".join(
        [_given, *(f"--{k}={v}" for k, v in TEST_XLA_FLAGS.items() if k not in _given)]
    ).strip()

# The CLI's persistent compilation cache (jaxnn.compilation_cache) goes to a folder of this
# test session, not the user's ~/.cache; subprocesses inherit it and reuse each other's work.
# Under pytest-xdist each worker gets its own (a shared folder would see one worker read an
# entry the other is still writing: a warning and a recompile).
if os.environ.get("PYTEST_XDIST_WORKER") or "JAXNN_COMPILATION_CACHE" not in os.environ:
    os.environ["JAXNN_COMPILATION_CACHE"] = tempfile.mkdtemp(prefix="jaxnn-xla-")


@pytest.fixture(autouse=True, scope="session")
def _no_disk_cache_in_the_test_process():
    """The CLI run in-process (``cli.main``) would turn the disk cache on for the rest of the
    worker's tests: every later compile, thousands of them, serialized and written. That costs
    time, and one such write segfaulted inside jaxlib 0.10.2's ``executable.serialize()`` on
    CI (not reproduced). Subprocesses keep the cache (the variable above);
    tests/test_compilation_cache.py checks ``enable`` itself in subprocesses."""
    from jaxnn import compilation_cache

    patch = pytest.MonkeyPatch()
    patch.setattr(compilation_cache, "enable", lambda path=None: None)
    yield
    patch.undo()


@pytest.fixture
def x64():
    """Run the test with float64 enabled; restored afterwards even if the test fails."""
    with compat.enable_x64(True):
        yield


@pytest.fixture(autouse=True)
def _x64_never_leaks():
    before = jax.config.jax_enable_x64
    yield
    assert jax.config.jax_enable_x64 == before, "a test left float64 enabled"


@pytest.fixture
def canonical(monkeypatch):
    """Make a tiny test set "canonical": ``canonical({"train": (images, labels), "test":
    (...)})`` puts its IDX digests in ``manual_files.CANONICAL`` (MNIST and Fashion-MNIST)
    for this test, so that the verification a real file passes accepts the tiny one."""
    from jaxnn.data.sources.mnist_idx import manual_files

    def patch(splits, datasets=("mnist", "fashion_mnist")):
        table = {
            name: manual_files.Canonical(manual_files.idx_sha256(array), len(array))
            for split, arrays in splits.items()
            for name, array in zip(manual_files.IDX_NAMES[split], arrays, strict=True)
        }
        for dataset in datasets:
            monkeypatch.setitem(manual_files.CANONICAL, dataset, table)

    return patch


def _digits16(**_):
    """The bundled digits upsampled to 16×16: a real image dataset LeNet-5 fits, in seconds."""
    from jaxnn import data

    d = data.load_digits()

    def up(X):
        images = X.T.reshape(-1, 8, 8)
        return np.ascontiguousarray(np.kron(images, np.ones((2, 2), np.float32))
                                    .reshape(X.shape[1], -1).T)  # fmt: skip

    return d._replace(name="digits16", X_train=up(d.X_train), X_test=up(d.X_test),
                      image_shape=(16, 16, 1))  # fmt: skip


def _register(monkeypatch, name: str, description: str, load, shapes) -> str:
    """Put dataset ``name`` in ``data.DATASETS`` for the test; returns its name."""
    from jaxnn import data

    monkeypatch.setitem(data.DATASETS, name, data.DatasetSpec(description, "test", load,
                                                               data.Shapes(*shapes)))  # fmt: skip
    return name


def _first(dataset, name: str, m_train: int, m_test: int):
    """The first ``m_train`` / ``m_test`` examples of ``dataset``, named ``name``."""
    return dataset._replace(name=name,
                            X_train=np.ascontiguousarray(dataset.X_train[:, :m_train]),
                            labels_train=dataset.labels_train[:m_train],
                            X_test=np.ascontiguousarray(dataset.X_test[:, :m_test]),
                            labels_test=dataset.labels_test[:m_test])  # fmt: skip


@pytest.fixture
def digits16(monkeypatch):
    """Registers ``digits16`` (the digits at 16×16, 1438/359 images) for the test."""
    return _register(monkeypatch, "digits16", "digits at 16×16", _digits16,
                     (1438, 359, 256, 10, (16, 16, 1)))  # fmt: skip


SMALL_DIGITS = (200, 100)  # train / test images of ``digits_small``


@pytest.fixture
def digits_small(monkeypatch):
    """Registers ``digits_small``: the first 200 train / 100 test images of the bundled
    digits (8×8), enough for properties of a run (resume, several processes, streaming) at a
    seventh of the steps."""
    from jaxnn import data

    def load(**_):
        return _first(data.load_digits(), "digits_small", *SMALL_DIGITS)

    return _register(monkeypatch, "digits_small", "200/100 of the 8x8 digits", load,
                     (*SMALL_DIGITS, 64, 10, (8, 8, 1)))  # fmt: skip


@pytest.fixture
def digits16_small(monkeypatch):
    """Registers ``digits16_small``: 300 train (one batch of 256 and a remainder) / 100 test
    images of ``digits16``."""

    def load(**_):
        return _first(_digits16(), "digits16_small", 300, 100)

    return _register(monkeypatch, "digits16_small", "300/100 of the digits at 16×16", load,
                     (300, 100, 256, 10, (16, 16, 1)))  # fmt: skip


@pytest.fixture
def untuned(monkeypatch):
    """Conv/pool layers built with ``backward="auto"`` take their fixed choice
    (``backward="fast"``'s) instead of compiling and timing every form of every part: half the
    compile time of a conv net's first run. For tests whose subject is a run's properties
    (resume, processes, streaming, defaults), not the forms; tests/test_autotune.py checks the
    measuring. The choices of this test are kept apart from the process's and dropped."""
    from jaxnn.layers import autotune

    monkeypatch.setattr(autotune, "MIN_WORK", 10**18)
    monkeypatch.setattr(autotune, "MIN_POOL_WORK", 10**18)
    monkeypatch.setattr(autotune, "_records", {})
