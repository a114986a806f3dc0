"""The epoch in chunks (the progress bar inside an epoch) computes exactly make_epoch's epoch."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import chunked_epoch, loop, models, train
from jaxnn.run import TrainConfig, train_and_evaluate


def _setup(m, stochastic=False):
    """An MLP (dropout-free) or a VAE (noise in every step: the keys must line up)."""
    name = "vae" if stochastic else "mlp"
    model = models.build(name, (6,), 3) if name == "mlp" else models.build(name, (6,), 0)
    params = model.init(jax.random.PRNGKey(0))
    X, Y = models.example(model, jax.random.PRNGKey(1), m)
    init_opt_state, step = train.model_step(model, "hand", optax.adam(0.01), 0.0)
    X_rows, Y_rows = train.device_rows(X, Y, model.example_axis)
    return model, params, init_opt_state(params), step, X_rows, Y_rows


def _same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("m, batch, stochastic", [(40, 8, False), (43, 8, False), (37, 5, True)])
def test_every_chunking_is_bitwise_make_epoch(m, batch, stochastic, monkeypatch):
    model, params, opt_state, step, X_rows, Y_rows = _setup(m, stochastic)
    key = jax.random.PRNGKey(7)
    order = train.epoch_order(key, 0, m)
    reference = train.make_epoch(step, m, batch)(params, opt_state, order, X_rows, Y_rows, key)
    whole = chunked_epoch.ChunkedEpoch(step, m, batch)
    _same(whole(params, opt_state, order, X_rows, Y_rows, key), reference)

    monkeypatch.setattr(chunked_epoch, "SECONDS_PER_CHUNK", 0.0)  # chunks of one step
    reported = []
    steps = chunked_epoch.ChunkedEpoch(step, m, batch)
    result = steps(params, opt_state, order, X_rows, Y_rows, key, progress=reported.append)
    _same(result, reference)
    per_epoch = train.steps_per_epoch(m, batch)
    assert reported == list(range(1, per_epoch + 1))
    assert result[2].shape == (per_epoch,)


def test_chunks_of_several_steps_and_compiled_ahead(monkeypatch):
    m, batch = 50, 4  # 12 full minibatches and a partial one
    model, params, opt_state, step, X_rows, Y_rows = _setup(m)
    key = jax.random.PRNGKey(3)
    order = train.epoch_order(key, 2, m)
    reference = train.make_epoch(step, m, batch)(params, opt_state, order, X_rows, Y_rows, key)

    def struct(A):
        return jax.ShapeDtypeStruct(A.shape, A.dtype)

    epoch = (chunked_epoch.ChunkedEpoch(step, m, batch)
             .lower(*jax.tree.map(struct, (params, opt_state, jnp.asarray(order), X_rows,
                                           Y_rows, key))).compile())  # fmt: skip
    epoch.seconds_per_step = 1.0
    monkeypatch.setattr(epoch, "_measured", lambda steps, seconds: None)  # keep 1 s a step
    monkeypatch.setattr(chunked_epoch, "SECONDS_PER_CHUNK", 5.0)  # 5 steps a chunk
    reported = []
    _same(epoch(params, opt_state, order, X_rows, Y_rows, key, progress=reported.append),
          reference)  # fmt: skip
    assert reported == [5, 10, 12, 13]


def test_several_processes_run_the_same_chunks(monkeypatch):
    epoch = chunked_epoch.ChunkedEpoch(lambda *a: a, 1000, 10)
    epoch.seconds_per_step = 123.0  # one process's timing must not matter
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    assert epoch._chunk_size(0) == 100 // chunked_epoch.CHUNKS_FOR_SEVERAL_PROCESSES
    assert epoch._chunk_size(98) == 2


def test_the_run_shows_the_steps_of_an_epoch(tmp_path, capsys, monkeypatch):

    monkeypatch.setattr(loop.StepsBar, "AFTER_SECONDS", 0.0)
    monkeypatch.setattr(chunked_epoch, "SECONDS_PER_CHUNK", 0.0)
    config = TrainConfig(dataset="digits", layers=(64, 8, 10), batch_size=300, epochs=1, lr=0.1)
    train_and_evaluate(config, str(tmp_path / "shown"), progress=True)
    err = capsys.readouterr().err
    assert "  steps:" in err and "/5 [" in err  # 1437 training examples: 5 steps of 300
    train_and_evaluate(config, str(tmp_path / "quiet"), progress=False)  # one chunk
    assert "steps" not in capsys.readouterr().err

    def rows(name):
        lines = (tmp_path / name / "history.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if "seconds" not in k}
                for line in lines]  # fmt: skip

    assert rows("shown") == rows("quiet")  # the same numbers, however the epoch is cut
