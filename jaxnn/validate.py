"""Value checks on concrete inputs: NaN/Inf, label ranges, one-hot columns, BCE targets,
float64 without x64. Shape checks live with the functions (they work under ``jit``); these
need the values, so they run only on concrete arrays and are skipped inside a trace."""

from __future__ import annotations

import jax
import numpy as np

from jaxnn.errors import ConfigError, DataError, LabelError


def is_concrete(array) -> bool:
    return not isinstance(array, jax.core.Tracer)


def finite(X, name: str = "X") -> None:
    """NaN/Inf in ``X`` -> DataError with the count and the first (row, column)."""
    if not is_concrete(X):
        return
    values = np.asarray(X)
    if not np.issubdtype(values.dtype, np.floating):
        return
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{name} holds {int(bad.sum())} NaN/Inf value(s), the first at index {first} "
            f"(feature, example); clean or impute the data before training"
        )


def targets(Y, output: str) -> None:
    """Targets that fit the output: one-hot columns (softmax), values in [0, 1] (sigmoid)."""
    if not is_concrete(Y):
        return
    values = np.asarray(Y)
    finite(values, "Y")
    if output == "softmax":
        sums = values.sum(axis=0)
        bad = np.flatnonzero(np.abs(sums - 1) > 1e-3)
        if bad.size or (values < 0).any():
            where = int(bad[0]) if bad.size else int(np.argwhere(values < 0)[0][1])
            raise LabelError(
                f"softmax targets Y must be one-hot columns (C, m) summing to 1; column "
                f"{where} sums to {sums[where]:.4g}. Build Y with jaxnn.data.one_hot(labels, C)"
            )
    elif output == "sigmoid":
        bad = (values < 0) | (values > 1)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise LabelError(
                f"binary cross-entropy targets must lie in [0, 1]; Y{list(where)} = "
                f"{values[where]:.4g} ({int(bad.sum())} out of range)"
            )


def dtype_available(dtype) -> None:
    """float64 asked for while JAX runs in float32 -> ConfigError (JAX would truncate)."""
    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        raise ConfigError(
            "float64 requested but JAX's 64-bit mode is off (it would silently use float32): "
            "run `jax.config.update('jax_enable_x64', True)` first, or wrap the code in "
            "`with jaxnn.compat.enable_x64(True):` (CLI: --x64)"
        )
