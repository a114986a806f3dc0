"""Weight initializers (notes §5). A weight W has shape (fan_out, fan_in) = (n_l, n_{l-1}).

All take an explicit ``jax.random`` key: a fixed seed reproduces the same weights.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnn.errors import ConfigError

Array = jax.Array


def _fans(shape, fans) -> tuple[int, int]:
    """``(fan_out, fan_in)``: from a dense weight's shape ``(n_l, n_{l-1})``, or given (a conv
    kernel ``(f, f, n_C_prev, n_C)`` has ``fan_in = f·f·n_C_prev``, ``fan_out = f·f·n_C``)."""
    return fans if fans is not None else shape


def glorot_uniform(key: Array, shape: tuple[int, ...], dtype=jnp.float32, fans=None) -> Array:
    """W ~ U[−U, U], U = √6 / √(fan_in + fan_out) (notes §5). Var W = 2 / (fan_in + fan_out)."""
    fan_out, fan_in = _fans(shape, fans)
    limit = math.sqrt(6.0) / math.sqrt(fan_in + fan_out)
    return jax.random.uniform(key, shape, dtype, minval=-limit, maxval=limit)


def he_normal(key: Array, shape: tuple[int, ...], dtype=jnp.float32, fans=None) -> Array:
    """W ~ N(0, 2 / fan_in) (He et al., suited to ReLU layers)."""
    fan_out, fan_in = _fans(shape, fans)
    return jax.random.normal(key, shape, dtype) * math.sqrt(2.0 / fan_in)


def small_normal(key: Array, shape: tuple[int, ...], dtype=jnp.float32, fans=None) -> Array:
    """W = 0.01 · N(0, 1): the course's "small random" initialization."""
    del fans
    return 0.01 * jax.random.normal(key, shape, dtype)


def lecun98_uniform(key: Array, shape: tuple[int, ...], dtype=jnp.float32, fans=None) -> Array:
    """W ~ U[−2.4/F, 2.4/F], F = fan_in (LeCun et al. 1998, Appendix A: keeps the weighted
    sums of LeNet-5's squashed units in the squashing function's range of largest gain)."""
    fan_out, fan_in = _fans(shape, fans)
    return jax.random.uniform(key, shape, dtype, minval=-2.4 / fan_in, maxval=2.4 / fan_in)


def zeros(key: Array, shape: tuple[int, ...], dtype=jnp.float32, fans=None) -> Array:
    """All zeros: the bias initializer. For weights it keeps hidden units symmetric."""
    del key, fans
    return jnp.zeros(shape, dtype)


SCHEMES = {
    "glorot": glorot_uniform,
    "he": he_normal,
    "small": small_normal,
    "lecun98": lecun98_uniform,
    "zeros": zeros,
}


def get(name: str):
    """Return the weight initializer called ``name``; unknown names list the choices."""
    try:
        return SCHEMES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown initialization scheme {name!r}; choose one of: {', '.join(SCHEMES)}"
        ) from None
