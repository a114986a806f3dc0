"""An epoch run in chunks of steps, so that the progress bar moves inside an epoch.

``train.make_epoch`` compiles a whole epoch into one program: fast, but nothing can be shown
until it returns (a VGG-16 epoch on a CPU: hours). ``ChunkedEpoch`` compiles one program that
runs the minibatch steps ``start … stop - 1`` of the epoch (a ``lax.fori_loop`` whose bounds
are arguments, so any chunk size uses the same compiled program), and calls it repeatedly,
reporting the steps done after each chunk. The last partial minibatch, if any, is one more
step (its own program, as in ``make_epoch``).

Chunk sizes: with one process, the first chunk of a run is one step; from the time steps take,
each later chunk is sized to last about ``SECONDS_PER_CHUNK`` (a fast epoch stays one chunk).
The host waits for each chunk before it starts the next: one dispatch and one wait per chunk,
microseconds against a chunk of ~0.5 s. With several processes every process must run the same
chunks (each is a program with collectives), so the plan is fixed by the step count alone:
``CHUNKS_FOR_SEVERAL_PROCESSES`` chunks. Without a progress callback an epoch is one chunk.

``jaxnn.run`` always passes one, ``--quiet`` or not (then it only checks for a stop): Python
has control between chunks, so Ctrl-C and SIGTERM end a run within about a chunk. One
program for the whole epoch would hold the host until the epoch ended (a ResNet-20 epoch on
a CPU: minutes), and the signal would wait for it. The cost is one wait per chunk.

The steps are the same ``step`` with the same minibatches and keys (``fold_in(key, i)``) as
``make_epoch``'s, and a chunk boundary only passes the params through the host unchanged, so
the result does not depend on the chunk sizes (tests/test_chunked_epoch.py checks bitwise
equality with one chunk, with chunks of one step, and with ``make_epoch``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import compilation_cache, train

SECONDS_PER_CHUNK = 0.5
CHUNKS_FOR_SEVERAL_PROCESSES = 20


def programs(step, batch_size: int, num_full: int, mesh=None, example_axis: int = 1):
    """``(chunk, last)``: the two programs an epoch's steps run in, not jitted.

    ``chunk(params, opt_state, costs, start, stop, first, order, X_rows, Y_rows, key)`` runs
    steps ``start … stop - 1`` in a ``fori_loop``: step i takes the minibatch
    ``order[(i - first)·B : (i - first + 1)·B]`` of the rows, the key ``fold_in(key, i)`` and
    writes ``costs[i]``. ``last(params, opt_state, indices, X_rows, Y_rows, key)`` is
    step ``num_full`` on the partial minibatch of those rows (``order[num_full·B:]``).

    In memory (``ChunkedEpoch``) the rows are the whole training set and ``first`` is 0; a
    streamed epoch (``jaxnn.stream.StreamedEpoch``) runs the same programs one step at a
    time on the minibatch it read (``first = start``, ``order`` its rows ``0 … B − 1`` and
    one index more, so that XLA cannot tell the slice is all of the order and hoist the
    minibatch out of the loop) and with the epoch's ``costs``. Both paths thereby run one
    program, differing only in the rows' count, and train bitwise the same params: a step
    compiled by itself (outside a loop) fused differently, and its rounding differed in the
    last bit (LeNet-5's conv1 bias after one step), which 469 steps of an MNIST epoch grew
    to a test cost of 0.152 instead of 0.131 (width 1/4; issue #33, docs/scale.md)."""
    minibatch = train.minibatch_taker(mesh, example_axis)  # make_epoch's minibatches

    def step_key(key, i):
        return None if key is None else jax.random.fold_in(key, i)

    def chunk(params, opt_state, costs, start, stop, first, order, X_rows, Y_rows, key=None):
        """Steps start … stop - 1: minibatch i is order[(i - first)·B : …]; costs[i] = J_i."""

        def body(i, carry):
            params, opt_state, costs = carry
            indices = jax.lax.dynamic_slice(order, ((i - first) * batch_size,), (batch_size,))
            params, opt_state, J = step(params, opt_state, *minibatch(indices, X_rows, Y_rows),
                                        step_key(key, i))  # fmt: skip
            return params, opt_state, costs.at[i].set(J)

        return jax.lax.fori_loop(start, stop, body, (params, opt_state, costs))

    def last(params, opt_state, indices, X_rows, Y_rows, key=None):
        """The last, partial minibatch: the rows at ``indices``."""
        return step(params, opt_state, *minibatch(indices, X_rows, Y_rows),
                    step_key(key, num_full))  # fmt: skip

    return chunk, last


class ChunkedEpoch:
    """``epoch(params, opt_state, order, X_rows, Y_rows, key=None, progress=None) -> (params,
    opt_state, costs)``: ``train.make_epoch``'s epoch (same arguments, same checks, same
    results), calling ``progress(steps_done)`` after each chunk when given.

    ``lower(...)`` with the arguments' shapes (``jax.ShapeDtypeStruct``) and ``.compile()``
    compile ahead of time, as for a jitted function (``jaxnn.run`` compiles while the data
    loads); the compiled epoch is called the same way."""

    def __init__(self, step, m: int, batch_size: int, mesh=None, example_axis: int = 1,
                 _compiled: tuple | None = None):  # fmt: skip
        train.check_epoch(m, batch_size, mesh)  # make_epoch's checks
        self.step, self.m, self.batch_size = step, m, batch_size
        self.mesh, self.example_axis = mesh, example_axis
        self.num_full, self.remainder = divmod(m, batch_size)
        self.seconds_per_step: float | None = None  # measured on the first chunk
        if _compiled is not None:
            self._chunk, self._last = _compiled
            return
        chunk, last = programs(step, batch_size, self.num_full, mesh, example_axis)
        self._chunk = jax.jit(chunk)
        self._last = jax.jit(last) if self.remainder else None

    # -- ahead-of-time compilation (jaxnn.run._compile) -----------------------------------
    def lower(self, params, opt_state, order, X_rows, Y_rows, key=None):
        return _Lowered(self, params, opt_state, order, X_rows, Y_rows, key)

    # -- one epoch ------------------------------------------------------------------------
    def __call__(self, params, opt_state, order, X_rows, Y_rows, key=None,
                 progress: Callable[[int], None] | None = None):  # fmt: skip
        order = np.asarray(order)  # host data, as make_epoch takes it (one copy per chunk)
        costs = np.zeros((self.num_full,), self._cost_dtype(params).dtype)
        done = 0
        while done < self.num_full:
            stop = self.num_full if progress is None else done + self._chunk_size(done)
            started = time.perf_counter()
            params, opt_state, costs = self._chunk(params, opt_state, costs, np.int32(done),
                                                   np.int32(stop), np.int32(0), order, X_rows,
                                                   Y_rows, key)  # fmt: skip
            if progress is not None:
                costs.block_until_ready()
                self._measured(stop - done, time.perf_counter() - started)
                progress(stop)
            done = stop
        if self._last is not None:
            tail = order[self.num_full * self.batch_size :]
            params, opt_state, J = self._last(params, opt_state, tail, X_rows, Y_rows, key)
            costs = jnp.concatenate([costs, J[None]])
            if progress is not None:
                progress(self.num_full + 1)
        return params, opt_state, costs

    @staticmethod
    def _cost_dtype(params):
        leaves = [
            leaf for leaf in jax.tree.leaves(params) if jnp.issubdtype(leaf.dtype, jnp.floating)
        ]
        return jax.ShapeDtypeStruct((), leaves[0].dtype if leaves else jnp.float32)

    def _chunk_size(self, done: int) -> int:
        """Steps in the next chunk: see the module docstring."""
        left = self.num_full - done
        if jax.process_count() > 1:
            return min(left, max(1, math.ceil(self.num_full / CHUNKS_FOR_SEVERAL_PROCESSES)))
        if self.seconds_per_step is None:
            return 1
        return min(left, max(1, int(SECONDS_PER_CHUNK / max(self.seconds_per_step, 1e-9))))

    def _measured(self, steps: int, seconds: float) -> None:
        rate = seconds / steps
        # the first chunk may carry one-off costs: later chunks refine it
        self.seconds_per_step = rate if self.seconds_per_step is None else (
            0.5 * self.seconds_per_step + 0.5 * rate)  # fmt: skip


class _Lowered:
    """``ChunkedEpoch.lower(...)``: ``compile()`` gives a ``ChunkedEpoch`` that runs the
    programs compiled for these shapes."""

    def __init__(self, epoch: ChunkedEpoch, params, opt_state, order, X_rows, Y_rows, key):
        def struct(shape, dtype):
            return jax.ShapeDtypeStruct(shape, dtype)

        self.epoch = epoch
        cost = ChunkedEpoch._cost_dtype(params)
        index = struct((), jnp.int32)
        self._args = (params, opt_state, order, X_rows, Y_rows, key)
        self._chunk = epoch._chunk.lower(params, opt_state, struct((epoch.num_full,), cost.dtype),
                                         index, index, index, order, X_rows, Y_rows,
                                         key)  # fmt: skip
        self._last = None
        if epoch._last is not None:
            tail = struct((epoch.remainder,), jnp.int32)
            self._last = epoch._last.lower(params, opt_state, tail, X_rows, Y_rows, key)

    def compile(self) -> ChunkedEpoch:
        """The programs compiled, or reused if this process compiled the same ones before
        (``compilation_cache.compile``)."""
        e = self.epoch
        compiled = tuple(None if lowered is None else compilation_cache.compile(lowered, self._args)
                         for lowered in (self._chunk, self._last))  # fmt: skip
        return ChunkedEpoch(e.step, e.m, e.batch_size, e.mesh, e.example_axis, compiled)
