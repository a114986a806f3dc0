"""Streaming (jaxnn.stream): a tiny TFDS MNIST larger than the memory budget the test sets
streams through Grain and trains the in-memory run's params; --resume is exact."""

import json
import pathlib

import numpy as np
import pytest
from test_data import write_idx  # tests/ is on sys.path under pytest

from jaxnn import checkpoint, data, stream
from jaxnn.data.sources.mnist_idx import IDX_FILES
from jaxnn.errors import ConfigError
from jaxnn.run import TrainConfig, train_and_evaluate

M_TRAIN = 60  # 60 × 784 float32 = 184 KB of training inputs


@pytest.fixture
def tiny_mnist(tmp_path, canonical):
    """A prepared TFDS mnist (array_record) of 60 train and 12 test images: its data_dir."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    splits = {}
    for split, m in (("train", M_TRAIN), ("test", 12)):
        labels = (np.arange(m) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (m, 28, 28), dtype=np.uint8)
        images[np.arange(m), labels * 2, :] = 255  # a learnable stripe per class
        write_idx(folder / IDX_FILES[split][0], images)
        write_idx(folder / IDX_FILES[split][1], labels)
        splits[split] = (images, labels)
    canonical(splits)
    data_dir = str(tmp_path / "tfds")
    data.prepare("mnist", data_dir, str(folder))
    return data_dir


def config(data_dir, **changes):
    settings = dict(dataset="mnist", data_dir=data_dir, layers=(784, 16, 10), batch_size=16,
                    lr=0.1, seed=2, epochs=2, checkpoint_secs=0)  # fmt: skip
    return TrainConfig(**{**settings, **changes})


def params_of(folder, epoch=None):
    return checkpoint.load(str(folder / "checkpoints"), epoch)["params"]


def test_over_budget_streams_and_trains_the_in_memory_params(tiny_mnist, tmp_path, monkeypatch):
    read = []
    real_read_split = data.records.read_split

    def recording(source, **kwargs):
        read.append(len(source))
        return real_read_split(source, **kwargs)

    monkeypatch.setattr(data.records, "read_split", recording)
    budget = 0.1  # MiB, below the 184 KB training set
    assert stream.training_bytes(data.Shapes(M_TRAIN, 12, 784, 10)) > budget * 2**20
    streamed = train_and_evaluate(config(tiny_mnist, memory_budget=budget), str(tmp_path / "s"),
                                  progress=False)  # fmt: skip
    assert streamed["streamed"] is True and read == [12]  # the train split never read whole
    in_memory = train_and_evaluate(config(tiny_mnist), str(tmp_path / "m"), progress=False)
    assert in_memory["streamed"] is False
    a, b = params_of(tmp_path / "s"), params_of(tmp_path / "m")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-7)
    assert streamed["final_cost"] == pytest.approx(in_memory["final_cost"], rel=1e-5)
    rows = [json.loads(x) for x in (tmp_path / "s" / "history.jsonl").read_text().splitlines()]
    assert all(0 <= row["data_wait_seconds"] <= row["seconds"] for row in rows)


def test_streamed_resume_is_exact(tiny_mnist, tmp_path):
    full = tmp_path / "full"
    train_and_evaluate(config(tiny_mnist, stream=True, epochs=3), str(full), progress=False)
    part = tmp_path / "part"
    train_and_evaluate(config(tiny_mnist, stream=True, epochs=1), str(part), progress=False)
    resumed = train_and_evaluate(config(tiny_mnist, stream=True, epochs=3), str(part),
                                 resume=True, progress=False)  # fmt: skip
    assert resumed["resumed_from_epoch"] == 1
    a, b = params_of(full, 3), params_of(part, 3)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_minibatches_follow_the_order_and_split_over_processes():
    order = np.array([5, 3, 0, 4, 1, 2, 6])
    assert [b.tolist() for b in stream.minibatches(order, 4)] == [[5, 3, 0, 4], [1, 2, 6]]
    first = stream.minibatches(order, 4, process=0, processes=2)
    second = stream.minibatches(order, 4, process=1, processes=2)
    assert [b.tolist() for b in first] == [[5, 3], [1, 2, 6]]  # 3 rows: read whole by each
    assert [b.tolist() for b in second] == [[0, 4], [1, 2, 6]]


def test_stream_needs_a_tfds_dataset(tmp_path):
    with pytest.raises(ConfigError, match="--stream reads TFDS"):
        train_and_evaluate(TrainConfig(dataset="digits", stream=True), str(tmp_path))


def test_fast_read_equals_tfds_decoding(tiny_mnist):
    records = data.tfds_source.open_builder("mnist", tiny_mnist).as_data_source()["train"]
    source = stream.Source(records, (28, 28, 1), 0, lambda labels: data.one_hot(labels, 10))
    assert source.layout is not None  # the byte-slicing path is the one taken
    fast = source.read([5, 0, 59])
    source.layout = None  # TFDS's own decoding
    slow = source.read([5, 0, 59])
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)
    assert fast[0].shape == (3, 28, 28, 1) and fast[1].shape == (3, 10)


def test_two_processes_stream_their_slices_to_the_single_process_params(tiny_mnist, tmp_path):
    """2 processes of `jaxnn train --distributed --stream`, each reading its half of every
    minibatch (a batch of 16 = 8 + 8 rows; the last 12 = 6 + 6), train the single-process
    in-memory params."""
    from test_distributed import finish, free_port, start

    args = ["--dataset", "mnist", "--data-dir", tiny_mnist, "--layers", "784,16,10",
            "--batch-size", "16", "--lr", "0.1", "--seed", "2", "--epochs", "2", "--quiet",
            "--checkpoint-secs", "0", "--stream"]  # fmt: skip
    port = free_port()
    # --devices left out: every process's device (2)
    results = finish([start(i, port, tmp_path / "d", args=args, devices=False) for i in (0, 1)])
    for code, _, err in results:
        assert code == 0, err
    metrics = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert metrics["streamed"] is True and metrics["processes"] == 2 and metrics["devices"] == 2
    train_and_evaluate(config(tiny_mnist), str(tmp_path / "m"), progress=False)
    a, b = params_of(tmp_path / "d"), params_of(tmp_path / "m")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-5)


def test_a_prepared_copy_of_other_sizes_is_compiled_for_while_it_loads(tiny_mnist, tmp_path):
    """The sizes of a prepared copy (here 60 / 12, not MNIST's 60000 / 10000) come from its
    dataset_info.json before loading, so the programs compiled meanwhile are the ones used."""
    assert data.expected_shapes("mnist", tiny_mnist)[:2] == (M_TRAIN, 12)
    assert data.expected_shapes("mnist", str(tmp_path / "none")) == data.DATASETS["mnist"].shapes
    metrics = train_and_evaluate(config(tiny_mnist, epochs=1), str(tmp_path / "r"),
                                 progress=False)  # fmt: skip
    assert metrics["compiled_while_loading"] is True


def test_an_unreadable_dataset_info_falls_back_to_the_known_sizes(tiny_mnist):
    (info,) = list(pathlib.Path(tiny_mnist).glob("*/*/dataset_info.json"))
    info.write_text("{ damaged")
    assert data.expected_shapes("mnist", tiny_mnist) == data.DATASETS["mnist"].shapes


def test_a_quiet_streamed_run_stops_inside_an_epoch(tiny_mnist, tmp_path, monkeypatch):
    """Streamed, --quiet: the epoch waits for its steps and checks for a stop about every
    half second (here every step), so a stop in epoch 2 ends it there, epoch 1 kept
    (jaxnn.signals; tests/test_signals.py for the in-memory epoch and real signals)."""
    from jaxnn import chunked_epoch, signals

    monkeypatch.setattr(chunked_epoch, "SECONDS_PER_CHUNK", 0.0)  # a report after each step
    per_epoch = -(-M_TRAIN // 16)  # 4 steps
    checks = []

    def check():
        checks.append(True)
        if len(checks) == per_epoch + 1 + 2:  # epoch 1's steps, its end, 2 steps of epoch 2
            raise signals.Preempted("stopped by SIGTERM")

    monkeypatch.setattr(signals, "check", check)
    out = tmp_path / "s"
    with pytest.raises(signals.Preempted):
        train_and_evaluate(config(tiny_mnist, memory_budget=0.1, epochs=3, checkpoint_secs=3600),
                           str(out), progress=False)  # fmt: skip
    assert checkpoint.latest_epoch(str(out / "checkpoints")) == 1
    assert len((out / "history.jsonl").read_text().splitlines()) == 1


def test_a_streamed_run_records_the_forms_of_its_steps(tiny_mnist, tmp_path, monkeypatch):
    """The run folder's autotune.json holds every form the run's programs were built with,
    the streamed steps' included (they compile on first use, after the file is written:
    they are traced ahead for it), so that --resume builds the same steps."""
    from jaxnn.layers import autotune

    monkeypatch.setenv(autotune.ENV, str(tmp_path / "tune.json"))
    autotune.clear()
    try:
        run = config(tiny_mnist, model="lenet5", layers=None, width=0.25, stream=True,
                     epochs=1)  # fmt: skip
        assert train_and_evaluate(run, str(tmp_path / "s"), progress=False)["streamed"]
        recorded = json.loads((tmp_path / "s" / autotune.RUN_FILE).read_text())["choices"]
        used = {record.key for record in autotune.records()}
        assert any("|conv" in key and "16x" in key for key in used), used  # the steps' own
        assert used <= set(recorded), used - set(recorded)
    finally:
        autotune.clear()
