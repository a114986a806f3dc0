"""Typed exceptions for bad input.

Every error names the problem and the fix. The CLI turns each class into one line on stderr
and an exit code (see ``EXIT_CODES``), never a traceback.
"""

from __future__ import annotations


class JaxnnError(Exception):
    """Base class of every error jaxnn raises on purpose."""

    exit_code = 2


class ShapeError(JaxnnError, ValueError):
    """An array has the wrong rank or shape (e.g. features != the first layer's fan-in)."""


class LabelError(JaxnnError, ValueError):
    """Targets are invalid: labels out of range, one-hot columns not summing to 1, ..."""


class ConfigError(JaxnnError, ValueError):
    """A setting is invalid: unknown name, learning rate <= 0, batch size too large, ..."""


class DataError(JaxnnError, ValueError):
    """Input data is unusable: NaN/Inf values, empty batch, missing dataset files."""

    exit_code = 3


class DatasetUnavailableError(DataError):
    """A dataset cannot be built here (offline and no local copy)."""

    exit_code = 4


class CheckpointError(JaxnnError):
    """A checkpoint is missing, corrupt or from another architecture."""

    exit_code = 5


class WriteError(JaxnnError):
    """A result of a run (checkpoint, history, metrics, plots) could not be written: disk
    full, quota, a vanished mount. The message names the last complete checkpoint."""

    exit_code = 5


class DivergenceError(JaxnnError, FloatingPointError):
    """Training produced a non-finite cost or gradient."""

    exit_code = 6


class DistributedError(JaxnnError):
    """The processes of a distributed run cannot connect, or one of them stopped."""

    exit_code = 7


class GradcheckError(JaxnnError):
    """Hand-derived, autodiff and numeric gradients disagree."""

    exit_code = 1


class Preempted(KeyboardInterrupt):
    """The run was stopped by SIGTERM (or, distributed, by Ctrl-C on one of the processes):
    its message says what was kept and how to continue (``jaxnn.signals``). A
    ``KeyboardInterrupt``, so that the training loop saves the finished epochs on its way
    out as it does for Ctrl-C; exit code 143 = 128 + SIGTERM, the shell's convention."""

    exit_code = 143


EXIT_CODES = {
    "ok": 0,
    "gradient check failed": GradcheckError.exit_code,
    "bad input or settings": JaxnnError.exit_code,
    "bad data": DataError.exit_code,
    "dataset unavailable": DatasetUnavailableError.exit_code,
    "checkpoint problem": CheckpointError.exit_code,
    "results could not be written": WriteError.exit_code,
    "training diverged": DivergenceError.exit_code,
    "distributed run failed": DistributedError.exit_code,
}
