"""Each conv/pool layer's formulation chosen by measurement, per device and shape.

The same formula (a convolution's Z, dW or dA_prev; a pool's forward or backward) can be
written in several forms — an XLA convolution, one matmul per kernel offset, im2col and one
matmul, col2im by pad-and-add, a reshaped view — and which one XLA compiles into the fastest
code depends on the machine and the shape (LeNet-5's conv1 dW on one AVX-512 VM: per-offset
7.7 ms, XLA convolution 4.4 ms, im2col 3.8 ms; the order differed on the machine where the
per-offset form was picked). As cuDNN's benchmark mode and XLA's GPU autotuner do, a layer
built with ``backward="auto"`` (the default of the conv nets) times every applicable form of
each part the first time it is traced for a shape, keeps the fastest, and remembers it:

* in this process (``records()`` lists every choice with each candidate's median time);
* in each run folder (``autotune.json``): ``--resume`` builds its programs with the run's
  own forms, so it continues bitwise even where a measurement would now pick another form;
* on disk, in a JSON file beside XLA's compilation cache (``cache_path()``:
  ``$JAXNN_TUNE_CACHE`` if set, ``off`` for none; else ``<compilation cache folder>-tune.json``,
  ``~/.cache/jaxnn/xla-tune.json`` by default), keyed by the device kind, the JAX version,
  the part and the shapes — so a second run measures nothing.

The file is untrusted input: one that cannot be read or parsed, or an entry naming a form
this version does not have, is ignored (with a warning) and measured again; writes go to a
temporary file renamed into place, so a killed process never leaves half a file.

Timing: each candidate compiled on its own (``jit``), run once to warm up, then ``ROUNDS``
interleaved rounds (candidate 1, 2, 3, 1, 2, 3, …; none started after ``BUDGET_SECONDS``)
and the median of each — the machine may be shared. Parts smaller than ``MIN_WORK``
multiply-adds (``MIN_POOL_WORK`` input elements for a pool) are not measured: they take
microseconds and the measurement would cost more than it could gain; they use the fixed
choice of ``backward="fast"``. Batches above ``MAX_TIMED_BATCH`` are timed and keyed at that
batch. All forms compute the same numbers up to float rounding;
tests check each one against ``jax.grad``."""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from jaxnn import compilation_cache
from jaxnn.layers import conv, pool

ENV = "JAXNN_TUNE_CACHE"
ROUNDS = 5
BUDGET_SECONDS = 1.0  # no round starts after this many seconds of timing (at least one runs)
MIN_WORK = 2_000_000  # a conv part's multiply-adds below which it is not timed
MIN_POOL_WORK = 100_000  # a pool's input elements below which it is not timed
FILE_VERSION = 1
REMEASURE = False  # True: time every part again, ignoring (and then updating) the file

log = logging.getLogger("jaxnn.autotune")


class Record(NamedTuple):
    """One part's choice: ``seconds`` maps each candidate to its median time (empty when not
    measured in this process); ``source`` is "measured", "disk" or "not timed (small)"."""

    key: str
    choice: str
    seconds: dict[str, float]
    source: str


_records: dict[str, Record] = {}
_lock = threading.Lock()


def records() -> list[Record]:
    """Every choice made in this process, in the order made."""
    return list(_records.values())


def clear() -> None:
    """Forget the choices made in this process (the file on disk stays)."""
    _records.clear()


def cache_path() -> str | None:
    """The JSON file of choices, or None when turned off (see the module docstring)."""
    chosen = os.environ.get(ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "0", "off", "no", "false") else chosen
    folder = compilation_cache.default_dir()
    return None if folder is None else folder.rstrip(os.sep) + "-tune.json"


def device_kind() -> str:
    device = jax.devices()[0]
    return f"{device.platform}:{device.device_kind}"


def load(path: str | None) -> dict[str, dict]:
    """The ``key -> {"form", "seconds"}`` entries of the file at ``path`` ({} if absent or
    unreadable; malformed entries are dropped, and ``choose`` ignores one naming a form that
    does not apply)."""
    if path is None or not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
        if not isinstance(content, dict) or content.get("version") != FILE_VERSION:
            raise ValueError(f"not a version-{FILE_VERSION} jaxnn tuning file")
        entries = content.get("choices")
        if not isinstance(entries, dict):
            raise ValueError("no 'choices' object")
    except (OSError, ValueError, UnicodeDecodeError) as error:
        warnings.warn(
            f"ignoring the tuning cache {path} ({error}); forms will be measured again and the "
            "file rewritten (delete it, or set JAXNN_TUNE_CACHE=off, to silence this)",
            stacklevel=2,
        )
        return {}
    return {k: v for k, v in entries.items() if _valid_entry(k, v)}


def _valid_entry(key, entry) -> bool:
    """``{"form": name, "seconds": {name: float}}`` (what ``save`` writes)."""
    if not (isinstance(key, str) and isinstance(entry, dict)):
        return False
    seconds = entry.get("seconds")
    return isinstance(entry.get("form"), str) and isinstance(seconds, dict) and all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
        for k, v in seconds.items()
    )  # fmt: skip


def save(path: str | None, key: str, form: str, seconds: dict[str, float]) -> None:
    """Add ``key -> {"form": form, "seconds": seconds}`` to the file (read again first: other
    processes may have added entries), written to a temporary file and renamed into place."""
    if path is None:
        return
    with _lock:
        entries = load(path)
        entries[key] = {"form": form, "seconds": seconds}
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tune-", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump({"version": FILE_VERSION, "choices": entries}, file, indent=1,
                          sort_keys=True)  # fmt: skip
            os.replace(tmp, path)
        except OSError as error:
            warnings.warn(f"could not write the tuning cache {path}: {error}", stacklevel=2)


def time_candidates(candidates: dict[str, Callable], args: tuple, rounds: int | None = None):
    """Median seconds of each ``candidates[name](*args)``, compiled, in interleaved rounds."""
    rounds = ROUNDS if rounds is None else rounds
    with jax.ensure_compile_time_eval():
        compiled = {name: jax.jit(fn).lower(*args).compile() for name, fn in candidates.items()}
        for run in compiled.values():
            jax.block_until_ready(run(*args))
        times: dict[str, list[float]] = {name: [] for name in compiled}
        started = time.perf_counter()
        for index in range(rounds):
            if index and time.perf_counter() - started > BUDGET_SECONDS:
                break  # large shapes (an evaluation batch): fewer rounds
            for name, run in compiled.items():
                start = time.perf_counter()
                jax.block_until_ready(run(*args))
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def random_inputs(shapes: tuple, dtype, seed: int = 0) -> tuple:
    """Concrete arrays (standard normal) of the given shapes, for timing."""
    rng = np.random.default_rng(seed)
    with jax.ensure_compile_time_eval():
        return tuple(jax.device_put(rng.standard_normal(s).astype(dtype)) for s in shapes)


def choose(
    key: str, candidates: dict[str, Callable], make_args: Callable[[], tuple], work: int,
    fallback: str,
) -> str:  # fmt: skip
    """The form to use for ``key`` (a part at one shape): remembered, read from the cache
    file, ``fallback`` when ``work`` < ``MIN_WORK`` or only one candidate applies, or
    measured now (and saved)."""
    key = f"{device_kind()}|jax {jax.__version__}|{key}"
    if key in _records and _records[key].choice in candidates:
        return _records[key].choice
    if work < MIN_WORK or len(candidates) == 1:
        _records[key] = Record(key, fallback, {}, "not timed (small)")
        return fallback
    path = cache_path()
    stored = None if REMEASURE else load(path).get(key)
    if stored is not None and stored["form"] in candidates:
        _records[key] = Record(key, stored["form"], stored["seconds"], "disk")
        return stored["form"]
    start = time.perf_counter()
    seconds = time_candidates(candidates, make_args())
    choice = min(seconds, key=seconds.get)
    _records[key] = Record(key, choice, seconds, "measured")
    log.info("%s: %s (%s; tuning took %.1f s)", key, choice,
             ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in seconds.items()),
             time.perf_counter() - start)  # fmt: skip
    save(path, key, choice, seconds)
    return choice


RUN_FILE = "autotune.json"  # in a run folder: the forms the run's programs were built with


def write_run_file(out_dir: str) -> None:
    """Record this process's choices in ``out_dir`` (``jaxnn.run`` does, after compiling), so
    that ``--resume`` builds the same programs, on this machine or another of the same device
    kind and JAX version, and continues bitwise (``use_run_file``)."""
    from jaxnn import safe_write

    choices = {r.key: {"form": r.choice, "seconds": r.seconds, "source": r.source}
               for r in records()}  # fmt: skip
    if choices:
        safe_write.write_json(os.path.join(out_dir, RUN_FILE),
                              {"version": FILE_VERSION, "choices": choices})  # fmt: skip


def use_run_file(out_dir: str) -> int:
    """Take the forms a run folder recorded (``write_run_file``) instead of measuring or
    reading the cache; returns how many. An unreadable file is warned about and ignored
    (the forms are chosen again: the result is the same up to float rounding)."""
    entries = load(os.path.join(out_dir, RUN_FILE))
    for key, entry in entries.items():
        _records[key] = Record(key, entry["form"], dict(entry["seconds"]), "run folder")
    return len(entries)


def describe(shape) -> str:
    return "x".join(str(int(n)) for n in shape)


def conv_macs(dZ_shape, W_shape) -> int:
    return math.prod(dZ_shape) * math.prod(W_shape[:3])


MAX_COLS_BYTES = 512 * 2**20  # im2col/col2im candidates only when their columns fit this
# Larger batches (an evaluation over the whole test or training set) are timed, and keyed, at
# this batch: every form's time grows linearly in m, and timing batch 60 000 would take minutes.
MAX_TIMED_BATCH = 256


def _conv_key(part: str, A_shape, W_shape, stride: int, pads, dtype) -> str:
    return (f"conv {part} A {describe(A_shape)} W {describe(W_shape)} s{stride} "
            f"pads {pads} {np.dtype(dtype).name}")  # fmt: skip


def _conv_candidates(table: dict, W_shape, cols_bytes: int) -> dict:
    f = W_shape[0]
    big_cols = cols_bytes > MAX_COLS_BYTES
    names = [n for n in table if not (n == "offsets" and f * f > conv.MAX_OFFSETS)
             and not (n.startswith(("im2col", "col2im")) and big_cols)]  # fmt: skip
    return {n: table[n] for n in names}


def conv_forms(part: str, A_shape, W_shape, stride: int, padding, dtype) -> str:
    """The form of ``part`` ("forward", "dW" or "dP") for a conv layer with input shape
    ``A_shape`` and kernel ``W_shape``: measured once per device and shape."""
    f, _, n_C_prev, n_C = W_shape
    A_shape = (min(A_shape[0], MAX_TIMED_BATCH), *A_shape[1:])
    (top, bottom), (left, right) = pads = conv._pads_of(A_shape, f, stride, padding)
    P_shape = (A_shape[0], A_shape[1] + top + bottom, A_shape[2] + left + right, n_C_prev)
    n_H, n_W = (P_shape[1] - f) // stride + 1, (P_shape[2] - f) // stride + 1
    dZ_shape = (A_shape[0], n_H, n_W, n_C)
    cols_bytes = math.prod(dZ_shape[:3]) * f * f * n_C_prev * np.dtype(dtype).itemsize
    fallback = conv.heuristic_forms(A_shape, W_shape)[("forward", "dW", "dP").index(part)]
    if part == "forward":
        table, shapes = conv.FORWARD_FORMS, (P_shape, W_shape)
        candidates = {n: (lambda P, W, fn=fn: fn(P, W, stride)) for n, fn in
                      _conv_candidates(table, W_shape, cols_bytes).items()}  # fmt: skip
    elif part == "dW":
        table, shapes = conv.DW_FORMS, (P_shape, dZ_shape)
        candidates = {n: (lambda P, dZ, fn=fn: fn(P, dZ, W_shape, stride)) for n, fn in
                      _conv_candidates(table, W_shape, cols_bytes).items()}  # fmt: skip
    else:
        table, shapes = conv.DP_FORMS, (dZ_shape, W_shape)
        candidates = {n: (lambda dZ, W, fn=fn: fn(dZ, W, P_shape, stride)) for n, fn in
                      _conv_candidates(table, W_shape, cols_bytes).items()}  # fmt: skip
    return choose(_conv_key(part, A_shape, W_shape, stride, pads, dtype), candidates,
                  lambda: random_inputs(shapes, dtype), conv_macs(dZ_shape, W_shape),
                  fallback)  # fmt: skip


def pool_forms(part: str, op: str, A_shape, f: int, stride: int, dtype) -> str:
    """The form of a pool's ``part`` ("forward" or "backward"; op "max" or "avg") for input
    shape ``A_shape``: measured once per device and shape."""
    forward_names, backward_names = pool.candidate_forms(f, stride)
    A_shape = (min(A_shape[0], MAX_TIMED_BATCH), *A_shape[1:])
    key = f"{op} pool {part} A {describe(A_shape)} f{f} s{stride} {np.dtype(dtype).name}"
    if part == "forward":
        candidates = {n: (lambda A, n=n: pool.FORWARD_FORMS[n](A, f, stride, op))
                      for n in forward_names}  # fmt: skip
        return choose(key, candidates, lambda: random_inputs((A_shape,), dtype),
                      math.prod(A_shape) * MIN_WORK // MIN_POOL_WORK, "reduce_window")  # fmt: skip

    def make_args():
        (A_prev,) = random_inputs((A_shape,), dtype)
        with jax.ensure_compile_time_eval():
            A_prev = jax.numpy.maximum(A_prev, 0)  # a ReLU's output: ties in many windows
            A = pool.FORWARD_FORMS["reduce_window"](A_prev, f, stride, op)
        return A_prev, A, random_inputs((A.shape,), dtype, seed=1)[0]

    candidates = {n: (lambda A_prev, A, dA, n=n: pool.pool_backward_form(
                      dA, pool.PoolCache(A_prev, A, f, stride), op, n))
                  for n in backward_names}  # fmt: skip
    fallback = "tiled" if stride == f and op == "max" else "slices"
    return choose(key, candidates, make_args, math.prod(A_shape) * MIN_WORK // MIN_POOL_WORK,
                  fallback)  # fmt: skip
