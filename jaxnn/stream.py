"""Training data that streams: minibatches read from the TFDS ``array_record`` files while
the previous step computes, instead of the whole training set on the device.

``jaxnn train --stream`` (or a training set larger than ``--memory-budget``, or than half of
an accelerator's memory) trains through ``StreamedEpoch`` instead of ``train.make_epoch``.
Grain (``grain.MapDataset``) does the loading: each step's minibatch is one batched random
read of TFDS's data source (``tfds.data_source``: array_record, no TensorFlow), decoded into
the model's rows, prefetched by background threads (``grain.ReadOptions``).

* **Same order, same params.** The epoch's order is the run's own permutation
  (``train.epoch_order``: ``fold_in(key, epoch)``), not Grain's shuffle, and each step is
  run by the in-memory epoch's own programs (``chunked_epoch.programs``: the minibatch
  read is the rows, ``arange(B)`` the order) with the same key ``fold_in(epoch_key, i)``,
  so a streamed run and an in-memory run on one device train the same params, bitwise
  (docs/scale.md; a step compiled by itself, as before, rounded differently in the last
  bit, and an MNIST epoch of LeNet-5 grew that into another model). The loader's state at
  a checkpoint is the next epoch's number and the run's key, both in the checkpoint, so
  ``--resume`` is exact.
* **Several processes.** Each process reads only its slice of every minibatch (the rows its
  devices hold) and ``jax.make_array_from_process_local_data`` assembles the global batch.
* **Memory.** Only the test split and the first ``EVAL_SUBSET`` training examples (the
  per-epoch train metrics) are held; the end-of-run metrics over the whole training set are
  computed in chunks of that size (weighted means).
* ``StreamedEpoch.stats``: the last epoch's seconds and the seconds the loop waited for the
  loader (``data_wait``): the fraction of the epoch the step was starved of data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import chunked_epoch, compilation_cache, data, train
from jaxnn.data import features
from jaxnn.errors import ConfigError

READ_THREADS = 2  # Grain's background reading threads
PREFETCH = 8  # minibatches read ahead
DEVICE_SHARE = 0.5  # stream when the training set needs more than this share of a device


def training_bytes(shapes: data.Shapes) -> int:
    """The float32 bytes of the training set's inputs on the device."""
    return shapes.m_train * shapes.n_x * 4


def wanted(stream: bool, memory_budget_mib: float | None, shapes: data.Shapes | None) -> bool:
    """Stream when asked, when the training set exceeds ``memory_budget_mib``, or (no
    budget given) when it exceeds ``DEVICE_SHARE`` of the smallest memory among this
    process's own devices (``jax.local_devices()``, as JAX reports it: GPUs and TPUs; a CPU
    reports none and holds the data in host memory). A device of another process is never
    asked (JAX refuses: its memory is not this process's to read). Several processes take
    one decision: streamed if any of them needs it (``distributed.agree_any``), so that
    every process runs the same program."""
    from jaxnn import distributed

    if shapes is None:
        return stream
    if stream:
        local = True
    elif memory_budget_mib is not None:
        local = training_bytes(shapes) > memory_budget_mib * 2**20
    else:
        limits = [(device.memory_stats() or {}).get("bytes_limit") for device in
                  jax.local_devices()]  # fmt: skip
        limit = min((limit for limit in limits if limit), default=None)
        local = limit is not None and training_bytes(shapes) > DEVICE_SHARE * limit
    return distributed.agree_any(local)


def check(dataset: str) -> None:
    if dataset not in data.DEBIAN_FOLDERS:
        raise ConfigError(
            f"--stream reads TFDS array_record files ({', '.join(data.DEBIAN_FOLDERS)}); "
            f"{dataset} is built in memory: train it without --stream"
        )


class Source:
    """The training split as rows, read on demand: ``read(indices) -> (X_rows, Y_rows)``
    with the same values as the in-memory path (``data.in_layout`` + ``device_rows``), for
    every model family (``example_axis`` 1: columns, 0: images, 2: sequences).
    ``shape``/``dtype``/``sharding`` describe the rows it stands for."""

    def __init__(self, records, input_shape, example_axis: int, targets: Callable,
                 check: int = 256):  # fmt: skip
        self.records, self.input_shape = records, tuple(input_shape)
        self.example_axis, self.targets = example_axis, targets
        self.shape = (len(records), *self.input_shape)
        self.dtype, self.sharding = np.dtype(np.float32), None
        # fixed-length records: slice the image and label bytes out of the raw records
        # (data.record_layout, verified on `check` of them) instead of TFDS's per-example
        # decoding, which kept the step waiting for data most of the epoch (measured)
        probe = np.unique(np.linspace(0, len(records) - 1, min(len(records), check)).astype(int))
        raw = getattr(records, "data_source", None)
        self.layout = None if raw is None else data.record_layout(
            raw.__getitems__(probe.tolist()), records.__getitems__(probe.tolist()))  # fmt: skip

    def __len__(self) -> int:
        return self.shape[0]

    def _examples(self, indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
        if self.layout is not None:
            decoded = self.layout.decode(self.records.data_source.__getitems__(indices))
            if decoded is not None:
                return decoded
        examples = self.records.__getitems__(indices)
        images = np.stack([example["image"] for example in examples])
        labels = np.fromiter((example["label"] for example in examples), np.int32, len(examples))
        return images, labels

    def read(self, indices) -> tuple[np.ndarray, np.ndarray]:
        images, labels = self._examples([int(i) for i in indices])
        X_rows = features.scale_01(features.flatten(images))  # as data.tfds_source.columns scales
        # one example per row in the model's shape: (n_x,) columns, (n_H, n_W, n_C) images,
        # (T, n_x) sequences (an image read row by row) — data.in_layout's, before the
        # examples move to the model's axis in the step (train.to_layout)
        X_rows = X_rows.reshape(len(indices), *self.input_shape)
        return X_rows, np.ascontiguousarray(self.targets(labels).T)


class Opened(NamedTuple):
    dataset: data.Dataset  # X_train: only the first ``keep`` training examples
    records: object  # the training split's TFDS data source (random access)
    shapes: data.Shapes  # the whole dataset's sizes


def open_tfds(name: str, data_dir: str | None, manual_dir: str | None, keep: int) -> Opened:
    """The test split and the first ``keep`` training examples in memory, and the training
    split's records for streaming (prepared first, as ``data.load`` does)."""
    check(name)
    from jaxnn.data import prepared, tfds_source
    from jaxnn.data.records import read_split

    builder = tfds_source.open_builder(name, data_dir)
    tfds_source.ready(builder, name, manual_dir)
    folder = prepared.folder_of(builder)
    with prepared.reading(name, folder):  # a damaged copy: one line naming the file
        sources = builder.as_data_source()
        test_images, test_labels = read_split(
            sources["test"], filepaths=builder.info.splits["test"].filepaths
        )
    records = prepared.Guarded(sources["train"], name, folder)  # and mid-epoch as well
    head = records.__getitems__(list(range(min(keep, len(records)))))
    head_images = np.stack([example["image"] for example in head])
    head_labels = np.array([example["label"] for example in head], np.int32)

    columns = tfds_source.columns
    # (n_H, n_W, n_C), as the in-memory loader has it: a grey image decodes as (n_H, n_W)
    image_shape = (*test_images.shape[1:3], *(test_images.shape[3:] or (1,)))
    dataset = data.Dataset(
        name, columns(head_images), head_labels, columns(test_images), test_labels, 10,
        f"tensorflow-datasets array_record ({builder.data_dir}), streamed", image_shape,
    )  # fmt: skip
    shapes = data.Shapes(len(records), len(test_labels), int(np.prod(image_shape)), 10,
                         image_shape)  # fmt: skip
    return Opened(dataset, records, shapes)


def minibatches(order: np.ndarray, batch_size: int, process: int = 0, processes: int = 1):
    """The epoch's minibatches of example indices, in ``make_epoch``'s order (the full
    batches, then the remainder), each cut to this process's share (a batch that does not
    split evenly over the processes is read whole by each)."""
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    return [b if len(b) % processes else np.array_split(b, processes)[process] for b in batches]


class StreamedEpoch:
    """``epoch(params, opt_state, order, source, _, key=None) -> (params, opt_state,
    costs)``: ``make_epoch``'s epoch with the minibatches read by Grain from ``source``."""

    def __init__(self, step, m: int, batch_size: int, mesh=None, example_axis: int = 1):
        train.check_epoch(m, batch_size, mesh)  # make_epoch's checks
        self.batch_size, self.mesh, self.example_axis = batch_size, mesh, example_axis
        self.stats: dict[str, float] = {}
        self.num_full = m // batch_size
        # the in-memory epoch's own programs (chunked_epoch.programs), one step at a time on
        # the rows read: the same compiled steps, so the same params bitwise (a step
        # compiled alone rounded otherwise)
        chunk, last = chunked_epoch.programs(step, batch_size, self.num_full, mesh, example_axis)
        self._chunk = compilation_cache.Reusing(jax.jit(chunk))  # a resumed run: compiled once
        self._last = compilation_cache.Reusing(jax.jit(last))

    def lower(self, params, opt_state, order, X_rows, Y_rows, key=None):
        """``jaxnn.run`` compiles an epoch ahead of time; here each step compiles on first
        use, but is traced now, on the minibatches' shapes (``X_rows``, ``Y_rows``: any rows
        of the data, e.g. the evaluated subset): the forms ``jaxnn.layers.autotune`` chooses
        while tracing are then chosen before ``jaxnn.run`` records them in the run folder,
        so that ``--resume`` builds the same steps."""
        chunk, last = self._chunk.jitted, self._last.jitted
        cost_dtype = chunked_epoch.ChunkedEpoch._cost_dtype(params).dtype
        costs = jax.ShapeDtypeStruct((self.num_full,), cost_dtype)
        m = order.shape[0]
        for rows, program in ((self.batch_size, "chunk"), (m % self.batch_size, "last")):
            if rows == 0 or (program == "chunk" and self.num_full == 0):
                continue
            X = jax.ShapeDtypeStruct((rows, *X_rows.shape[1:]), X_rows.dtype)
            Y = jax.ShapeDtypeStruct((rows, *Y_rows.shape[1:]), Y_rows.dtype)
            index = jax.ShapeDtypeStruct((), jnp.int32)
            if program == "chunk":
                chunk.lower(params, opt_state, costs, index, index, index,
                            jax.ShapeDtypeStruct((rows + 1,), jnp.int32), X, Y, key)  # fmt: skip
            else:
                last.lower(params, opt_state, jax.ShapeDtypeStruct((rows,), jnp.int32), X, Y,
                           key)  # fmt: skip
        return self

    def compile(self):
        return self

    def _put(self, A: np.ndarray, whole: bool):
        """This process's rows as (its part of) a batch on the mesh."""
        if self.mesh is None:
            return jnp.asarray(A)
        from jax.sharding import NamedSharding, PartitionSpec

        split = not whole and A.shape[0] * jax.process_count() % self.mesh.devices.size == 0
        spec = PartitionSpec("data") if split else PartitionSpec()
        sharding = NamedSharding(self.mesh, spec)
        if jax.process_count() > 1:
            return jax.make_array_from_process_local_data(sharding, A)
        return jax.device_put(A, sharding)

    def __call__(self, params, opt_state, order, source: Source, _=None, key=None,
                 progress=None):  # fmt: skip
        """``progress(steps_done)``, when given, is called about every half second, after
        waiting for the steps so far: the host does not run ahead of the device, so a
        signal (raised in Python, ``jaxnn.signals``) stops the epoch within that time.
        With several processes it is called after the same steps on every process (after
        each of ``CHUNKS_FOR_SEVERAL_PROCESSES`` parts of the epoch), as ``ChunkedEpoch``
        does: it may run a collective (``signals.check``)."""
        import grain

        processes = jax.process_count()
        batches = minibatches(np.asarray(order), self.batch_size, jax.process_index(), processes)
        loader = (grain.MapDataset.source(batches).map(source.read)
                  .to_iter_dataset(grain.ReadOptions(num_threads=READ_THREADS,
                                                     prefetch_buffer_size=PREFETCH)))  # fmt: skip
        wait, start = 0.0, time.perf_counter()
        # the full minibatches' costs, written by the steps as in memory (an array of
        # another length there compiled J's reduction into another fusion: another rounding)
        costs = np.zeros((self.num_full,), chunked_epoch.ChunkedEpoch._cost_dtype(params).dtype)
        reported = start
        parts = chunked_epoch.CHUNKS_FOR_SEVERAL_PROCESSES
        every = math.ceil(len(batches) / parts)  # several processes: progress after as many
        iterator = iter(loader)
        for i, indices in enumerate(batches):
            before = time.perf_counter()
            X_rows, Y_rows = next(iterator)
            wait += time.perf_counter() - before
            full = len(order[i * self.batch_size : (i + 1) * self.batch_size])
            whole = processes > 1 and len(indices) == full  # read whole by every process
            X, Y = self._put(X_rows, whole), self._put(Y_rows, whole)
            # the minibatch: all the rows read (every process's), in order; and one index
            # more, so that XLA cannot see that the step's slice of it is all of it (it then
            # hoisted the minibatch out of the loop and fused the step otherwise at -O1)
            rows = np.arange(full + 1, dtype=np.int32) % full
            if i < self.num_full:
                params, opt_state, costs = self._chunk(
                    params, opt_state, costs, np.int32(i), np.int32(i + 1), np.int32(i),
                    rows, X, Y, key)  # fmt: skip
            else:
                params, opt_state, last_cost = self._last(params, opt_state, rows[:full], X, Y,
                                                          key)  # fmt: skip
            if processes > 1:  # every process reports after the same steps
                due = (i + 1) % every == 0 or i + 1 == len(batches)
            else:
                due = time.perf_counter() - reported >= chunked_epoch.SECONDS_PER_CHUNK
            if progress is not None and due:
                jax.block_until_ready(params)  # the steps done, not queued: a stop is prompt
                reported = time.perf_counter()
                progress(i + 1)
        if len(batches) > self.num_full:  # the partial minibatch
            costs = jnp.concatenate([costs, last_cost[None]])
        costs = jnp.asarray(costs)
        costs.block_until_ready()
        self.stats = {"seconds": time.perf_counter() - start, "data_wait": wait}
        return params, opt_state, costs


def evaluate_in_chunks(evaluate: Callable, params, source: Source, chunk: int, put) -> dict:
    """Metrics over the whole streamed training set: ``evaluate(params, X_rows, Y_rows)``
    on chunks of ``chunk`` examples, averaged weighted by their sizes (exact for means)."""
    totals: dict[str, float] = {}
    for start in range(0, len(source), chunk):
        indices = np.arange(start, min(start + chunk, len(source)))
        X_rows, Y_rows = source.read(indices)
        for name, value in evaluate(params, put(X_rows), put(Y_rows)).items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(indices)
    return {name: value / len(source) for name, value in totals.items()}
