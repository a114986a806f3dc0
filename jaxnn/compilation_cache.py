"""XLA's persistent compilation cache, on by default for the ``jaxnn`` command.

JAX can keep every compiled program on disk and load it instead of compiling again when the
same program (same shapes, flags, JAX version and device) is built in a later process. For
the homework run this turns ~1.0 s of compiling into ~0.12 s from the second run on (measured
in ``make bench``); a first run compiles as before and fills the cache.

Where: ``$JAXNN_COMPILATION_CACHE`` if set (``off`` turns it off), else JAX's own
``JAX_COMPILATION_CACHE_DIR`` if the user set it, else ``$XDG_CACHE_HOME/jaxnn/xla``
(``~/.cache/jaxnn/xla``). Library users opt in with ``jaxnn.compilation_cache.enable()``.
A cache that cannot be written only costs the speed-up: JAX warns and compiles. JAX writes
entries in place and never replaces one: an entry cut short by a killed process makes JAX
warn ("Error reading persistent compilation cache entry") and compile on every later run
until the folder is deleted. jaxnn itself never leaves a compile running in a background
thread past the point where it is used (``run.train_and_evaluate`` joins it), so one
process never reads an entry it is still writing.
"""

from __future__ import annotations

import os
import threading

ENV = "JAXNN_COMPILATION_CACHE"


def default_dir() -> str | None:
    """The folder ``enable()`` uses, or None when the cache is turned off."""
    chosen = os.environ.get(ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "0", "off", "no", "false") else chosen
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxnn", "xla")


def enable(path: str | None = None) -> str | None:
    """Cache every compiled program (even quick ones) in ``path`` (default ``default_dir()``).
    Returns the folder, or None when turned off."""
    import jax

    path = path or default_dir()
    if path is None:
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    # JAX's defaults skip programs that compile in < 1 s; ours all do, and add up
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


# -- in this process: a program compiled once is reused --------------------------------------
# Each run builds its jitted functions afresh (they close over the run's model, optimizer and
# sizes), so JAX's own in-memory cache, keyed by the Python function, misses on a second run in
# the same process (a notebook, a script calling ``train_and_evaluate`` twice, a resume, the
# tests) and XLA compiles the same program again: for a small ResNet two seconds a program.
# ``compile`` keys the compiled program by what XLA compiles, the lowered module's text, with
# the devices its arguments are placed on (the text names the mesh's shape, not which devices).
MEMORY_ENTRIES = 32
_memory: dict = {}
_memory_lock = threading.Lock()  # run.py compiles in a thread while the data loads


def _placement(args) -> tuple:
    """The devices each argument is laid out on, in order (a mesh's order matters)."""
    import jax

    where = []
    for leaf in jax.tree.leaves(args):
        sharding = getattr(leaf, "sharding", None)
        if sharding is None:
            where.append(None)
        elif hasattr(sharding, "mesh"):
            where.append((tuple(d.id for d in sharding.mesh.devices.flat), str(sharding.spec)))
        else:
            where.append(tuple(sorted(d.id for d in sharding.device_set)))
    return tuple(where)


def compile(lowered, args=()):  # noqa: A001 (jax.stages.Lowered.compile's name)
    """``lowered.compile()``, or the program compiled earlier in this process from the same
    module text with ``args`` (those it was lowered with) on the same devices. The
    ``MEMORY_ENTRIES`` most recently used programs are kept."""
    import hashlib

    text = lowered.as_text()
    key = (hashlib.sha256(text.encode()).hexdigest(), str(lowered.in_tree), _placement(args))
    with _memory_lock:
        compiled = _memory.pop(key, None)
    if compiled is None:
        compiled = lowered.compile()
    with _memory_lock:
        _memory[key] = compiled  # most recent last
        while len(_memory) > MEMORY_ENTRIES:
            del _memory[next(iter(_memory))]
    return compiled


class Reusing:
    """``Reusing(jax.jit(f))(*args)``: the jitted function called as usual, with each new
    signature of its arguments (structure, shapes, dtypes, placement) compiled through
    ``compile``, so that another instance's program for the same function is reused."""

    def __init__(self, jitted):
        self._jitted, self._programs = jitted, {}

    @property
    def jitted(self):
        """The jitted function (to lower it on shapes alone)."""
        return self._jitted

    def __call__(self, *args):
        import jax

        leaves, structure = jax.tree.flatten(args)
        signature = (structure, tuple(_signature(leaf) for leaf in leaves))
        program = self._programs.get(signature)
        if program is None:
            program = self._programs[signature] = compile(self._jitted.lower(*args), args)
        return program(*args)


def _signature(leaf) -> tuple:
    """What a jitted function's compiled program depends on in one argument."""
    return (getattr(leaf, "shape", ()), getattr(leaf, "dtype", type(leaf)),
            getattr(leaf, "weak_type", False), getattr(leaf, "sharding", None))  # fmt: skip


def call(jitted, *args, **kwargs):
    """``jitted(*args)`` with its program from ``compile``: a function rebuilt for another
    seed or another run (a new closure, so a miss in JAX's own cache) that lowers to the same
    program runs the one compiled before. Costs a trace per call: for checks, not steps."""
    import jax

    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((args, kwargs))):
        return jitted(*args, **kwargs)  # inside another transformation: part of its program
    return compile(jitted.lower(*args, **kwargs), (args, kwargs))(*args, **kwargs)
