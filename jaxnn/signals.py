"""Preemption: SIGTERM (how SLURM, Kubernetes and most schedulers stop a job, a grace period
before they kill it) stops a training run as Ctrl-C does — the finished epochs are
checkpointed — and ends it with one line saying how to ``--resume`` and exit 143
(128 + SIGTERM, the shell's convention for a process that SIGTERM ended).

* One process: the signal raises ``Preempted`` (a ``KeyboardInterrupt``) like Ctrl-C, as
  soon as Python has control: the epoch runs in chunks of about half a second
  (``chunked_epoch``; streamed: ``stream.StreamedEpoch`` waits for its steps as often),
  with or without ``--quiet``, so that is within a chunk. The epoch in progress is dropped
  and the training loop saves the finished epochs on its way out.
* Several processes (``--distributed``): SIGTERM and Ctrl-C only take note; after each
  chunk of steps (every process runs the same chunks) and after each epoch ``check`` asks
  every process (``distributed.agree_any``) and, if any was signalled, all of them raise
  ``Preempted`` at the same point, so the checkpoint they stop on is the last epoch they
  all finished. A second signal to a process, ``SAME_SIGNAL_SECONDS`` or more after the
  first, stops it at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from jaxnn.errors import Preempted

EXIT_CODE = Preempted.exit_code  # 143
SAME_SIGNAL_SECONDS = 2.0  # a second signal later than this stops a process at once


_state = {"out_dir": None, "requested": None, "distributed": False, "at": 0.0}


def _message(name: str) -> str:
    """``stopped by SIGTERM: … --resume`` for the run in ``handled``'s ``out_dir``."""
    from jaxnn import checkpoint

    out_dir = _state["out_dir"]
    if out_dir is None:
        return f"stopped by {name}"
    epoch = checkpoint.latest_epoch(os.path.join(out_dir, "checkpoints"))
    kept = f"epochs 1-{epoch} are checkpointed" if epoch else "no epoch had finished"
    return (f"stopped by {name}: {kept} in {out_dir}; run the same command with --resume "
            "to continue")  # fmt: skip


class _Deferred:
    """Preempted's message is read when it is printed, after the last checkpoint is saved."""

    def __init__(self, name: str):
        self.name = name

    def __str__(self) -> str:
        return _message(self.name)


def _handler(signum, frame) -> None:
    name = signal.Signals(signum).name
    if _state["distributed"]:
        if _state["requested"] is None:
            _state["requested"] = name  # acted on after the epoch, by every process (check)
            _state["at"] = time.monotonic()
            return
        if time.monotonic() - _state["at"] < SAME_SIGNAL_SECONDS:
            return  # the same stop, delivered twice (to the process and by its supervisor)
    raise Preempted(_Deferred(name))


@contextlib.contextmanager
def handled(out_dir: str | None, distributed: bool = False):
    """Handle SIGTERM (and, ``distributed``, Ctrl-C) for a training run writing
    ``out_dir`` during the ``with`` block; the previous handlers after it. Call from the
    main thread."""
    _state.update(out_dir=out_dir, requested=None, distributed=distributed)
    names = (signal.SIGTERM, signal.SIGINT) if distributed else (signal.SIGTERM,)
    previous = {signum: signal.signal(signum, _handler) for signum in names}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check() -> None:
    """After a chunk of steps or an epoch: raise ``Preempted`` on every process if any of
    them was signalled (a collective when there are several processes, so every process
    calls it at the same points; free when there is one)."""
    if not _state["distributed"]:
        return
    from jaxnn import distributed

    if distributed.agree_any(_state["requested"] is not None):
        distributed.stopping()
        raise Preempted(_Deferred(_state["requested"] or "a signal to another process"))
