"""Streaming for every model family that reads a TFDS dataset (jaxnn.stream): the streamed
rows have each model's in-memory layout (images (n_H, n_W, n_C), sequences (T, n_x) read
row by row, columns), a streamed run trains the in-memory run's params, and a streamed run
resumed after an epoch equals the uninterrupted one."""

import jax
import numpy as np
import pytest
from test_defaults import small_step
from test_stream import params_of, tiny_mnist  # noqa: F401  (a fixture)

from jaxnn import chunked_epoch, data, models, run, stream, train
from jaxnn.run import TrainConfig, train_and_evaluate

# conv/pool layers at their fixed forms: no compiling and timing of every form (conftest)
pytestmark = pytest.mark.usefixtures("untuned")

# one model per family that reads images, small enough to train in seconds on 60 of them
FAMILIES = {
    "lenet5": dict(model="lenet5", width=0.25),
    "lstm": dict(model="lstm", options={"hidden_size": 8}),
    "vae": dict(model="vae", options={"latent": 2, "units": [8]}),
}


def family_config(data_dir, family, **changes):
    # 60 images: batch 16 ends each epoch with a partial minibatch (its own program, read and
    # sharded differently: the LSTM's runs cover it); LeNet-5 takes 20, one compile less
    batch_size = 20 if family == "lenet5" else 16
    settings = dict(dataset="mnist", data_dir=data_dir, batch_size=batch_size, lr=0.05, seed=1,
                    epochs=2, checkpoint_secs=0, **FAMILIES[family])  # fmt: skip
    return TrainConfig(**{**settings, **changes})


def assert_params_close(a, b, rtol=1e-5, atol=1e-6):
    leaves_a = jax.tree_util.tree_leaves_with_path(a)
    leaves_b = jax.tree_util.tree_leaves_with_path(b)
    assert [path for path, _ in leaves_a] == [path for path, _ in leaves_b]
    for (path, x), (_, y) in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol,
                                   err_msg=str(path))  # fmt: skip


@pytest.mark.parametrize("family", ["mlp", *FAMILIES])
def test_streamed_rows_are_the_in_memory_layout(tiny_mnist, family):  # noqa: F811
    """stream.Source reads each model's rows exactly as the in-memory path lays them out."""
    config = TrainConfig(dataset="mnist", data_dir=tiny_mnist, **FAMILIES.get(family, {}))
    opened = stream.open_tfds("mnist", tiny_mnist, None, 8)
    dataset = data.load("mnist", data_dir=tiny_mnist)
    assert opened.shapes == data.Shapes.of(dataset)  # (28, 28, 1): the channel axis kept
    model = run.build_model(config, opened.shapes)
    source = stream.Source(opened.records, model.input_shape, model.example_axis,
                           lambda labels: data.one_hot(labels, 10))  # fmt: skip
    indices = [7, 0, 59, 3]
    X_rows, Y_rows = source.read(indices)
    expected = data.in_layout(dataset.X_train[:, indices], model.input_shape, model.example_axis)
    np.testing.assert_array_equal(run.train.to_layout(X_rows, model.example_axis), expected)
    np.testing.assert_array_equal(Y_rows.T, data.one_hot(dataset.labels_train[indices], 10))


@pytest.mark.parametrize("family", ["lenet5", "lstm"])  # columns: tests/test_stream.py
def test_streamed_family_equals_in_memory(tiny_mnist, tmp_path, family):  # noqa: F811
    """A streamed run of 1 epoch, resumed for a 2nd, trains the in-memory run's params after
    each epoch, bitwise (the streamed steps run the in-memory epoch's programs)."""
    memory = train_and_evaluate(family_config(tiny_mnist, family), str(tmp_path / "m"),
                                progress=False)  # fmt: skip
    part = tmp_path / "s"
    first = train_and_evaluate(family_config(tiny_mnist, family, stream=True, epochs=1),
                               str(part), progress=False)  # fmt: skip
    resumed = train_and_evaluate(family_config(tiny_mnist, family, stream=True), str(part),
                                 resume=True, progress=False)  # fmt: skip
    assert (memory["streamed"], first["streamed"], resumed["streamed"]) == (False, True, True)
    assert resumed["resumed_from_epoch"] == 1
    for epoch in (1, 2):
        assert_params_close(params_of(part, epoch), params_of(tmp_path / "m", epoch), 0, 0)


class _RowsInMemory:
    """A ``stream.Source`` stand-in: the rows of a fixture, read by index as the loader reads
    the TFDS records (the reading itself: test_streamed_rows_are_the_in_memory_layout)."""

    def __init__(self, X_rows, Y_rows):
        self.X_rows, self.Y_rows = np.asarray(X_rows), np.asarray(Y_rows)

    def __len__(self):
        return len(self.X_rows)

    def read(self, indices):
        return self.X_rows[indices], self.Y_rows[indices]


# every registered model, later ones too; the CIFAR ResNets differ only in depth (the same
# layers, more blocks: minutes of compiling each for ResNet-110), so the 20-layer ones
# (residual and plain) stand for the deeper ones, as in tests/test_defaults.py
EVERY_MODEL = [name for name in models.MODELS
               if name not in models.RESNETS or name.endswith("20")]  # fmt: skip


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_every_models_streamed_epoch_is_its_in_memory_epoch_bitwise(name):
    """For every registered model (at its gradient check's size, with its training
    defaults): a streamed epoch (stream.StreamedEpoch) trains the in-memory epoch's
    (chunked_epoch.ChunkedEpoch) params and costs bitwise, over 3 full minibatches and a
    partial one. Before, each streamed step was compiled by itself and rounded otherwise:
    LeNet-5's conv1 bias differed in the last bit after one step, and an MNIST epoch grew
    that into test cost 0.152 instead of 0.131 (issue #33)."""
    model, init_opt_state, step = small_step(name)  # its defaults' optimizer, small size
    batch, m = 4, 14  # 3 full minibatches and one of 2
    key_params, key_data, key_run = jax.random.split(jax.random.PRNGKey(3), 3)
    params = model.init(key_params)
    X_rows, Y_rows = train.device_rows(*models.example(model, key_data, m), model.example_axis)
    order, epoch_key = train.epoch_order(key_run, 0, m), train.epoch_key(key_run, 0)
    memory = chunked_epoch.ChunkedEpoch(step, m, batch, None, model.example_axis)(
        params, init_opt_state(params), order, X_rows, Y_rows, epoch_key
    )
    streamed = stream.StreamedEpoch(step, m, batch, None, model.example_axis)(
        params, init_opt_state(params), order, _RowsInMemory(X_rows, Y_rows), None, epoch_key
    )
    np.testing.assert_array_equal(np.asarray(streamed[2]), np.asarray(memory[2]))  # the costs
    for (path, a), (_, b) in zip(
        jax.tree_util.tree_leaves_with_path(streamed[0]),
        jax.tree_util.tree_leaves_with_path(memory[0]),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{name} {path}")
