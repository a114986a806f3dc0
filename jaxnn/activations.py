"""Activations g and their hand-written derivatives g' (notes §3).

Each activation is an ``Activation(g, g_prime)`` pair, like optax's ``(init, update)``.
``Z`` and ``A = g(Z)`` have shape ``(n_l, m)``: one example per column.

Convention at kinks: ReLU and leaky ReLU are not differentiable at 0. jaxnn uses
``relu'(0) = 0`` and ``leaky_relu'(0) = 0.01`` — the right-continuous choice would be 1, but
``0`` is what ``jax.grad`` of these very functions returns, so the hand-derived backprop and
autodiff agree *everywhere*, kinks included. (The notes print ``𝟙(a ≥ 0)``, i.e. 1 at 0; any
value in ``[0, 1]`` is a valid subgradient there.)

softmax is not elementwise: its ``g_prime`` returns the per-example Jacobians
``J[:, :, i] = diag(a_i) − a_i a_iᵀ`` of shape ``(C, C, m)``; backprop through softmax with
cross-entropy never forms it (``dZ = A − Y``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.errors import ConfigError

Array = jax.Array

LEAKY_SLOPE = 0.01


class Activation(NamedTuple):
    g: Callable[[Array], Array]  # A = g(Z)
    g_prime: Callable[[Array], Array]  # dA/dZ, elementwise (softmax: per-example Jacobians)


def linear(Z: Array) -> Array:
    """g(z) = z."""
    return Z


def linear_prime(Z: Array) -> Array:
    """g'(z) = 1."""
    return jnp.ones_like(Z)


def sigmoid(Z: Array) -> Array:
    """g(z) = 1 / (1 + e^(−z)), range (0, 1). Computed stably for large |z|."""
    return jax.nn.sigmoid(Z)


def sigmoid_prime(Z: Array) -> Array:
    """g'(z) = g(z) (1 − g(z))."""
    A = sigmoid(Z)
    return A * (1 - A)


def tanh(Z: Array) -> Array:
    """g(z) = (e^z − e^(−z)) / (e^z + e^(−z)), range (−1, 1)."""
    return jnp.tanh(Z)


def tanh_prime(Z: Array) -> Array:
    """g'(z) = 1 − g(z)²."""
    A = jnp.tanh(Z)
    return 1 - A * A


SQUASH_A, SQUASH_S = 1.7159, 2.0 / 3.0  # LeCun et al. 1998, Appendix A


def squash(Z: Array) -> Array:
    """LeNet-5's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3 (LeCun et al.
    1998, Appendix A): f(±1) ≈ ±1, and the gain is largest there; range (−A, A)."""
    return SQUASH_A * jnp.tanh(SQUASH_S * Z)


def squash_prime(Z: Array) -> Array:
    """f'(a) = A S (1 − tanh²(S a))."""
    T = jnp.tanh(SQUASH_S * Z)
    return SQUASH_A * SQUASH_S * (1 - T * T)


def relu(Z: Array) -> Array:
    """g(z) = max(0, z)."""
    return jnp.where(Z > 0, Z, jnp.zeros_like(Z))


def relu_prime(Z: Array) -> Array:
    """g'(z) = 𝟙(z > 0); 0 at the kink z = 0 (see module docstring)."""
    return (Z > 0).astype(Z.dtype)


def leaky_relu(Z: Array) -> Array:
    """g(z) = max(0.01 z, z)."""
    return jnp.where(Z > 0, Z, LEAKY_SLOPE * Z)


def leaky_relu_prime(Z: Array) -> Array:
    """g'(z) = 1 if z > 0 else 0.01; 0.01 at the kink z = 0."""
    return jnp.where(Z > 0, jnp.ones_like(Z), jnp.full_like(Z, LEAKY_SLOPE))


def softmax(Z: Array) -> Array:
    """g(z)_c = exp(z_c) / Σ_i exp(z_i) over the class axis 0; each column sums to 1.

    Shapes: Z (C, m) -> A (C, m). The column max is subtracted first (same value, no overflow).
    """
    Z_shift = Z - jax.lax.stop_gradient(jnp.max(Z, axis=0, keepdims=True))
    E = jnp.exp(Z_shift)
    return E / jnp.sum(E, axis=0, keepdims=True)


def softmax_prime(Z: Array) -> Array:
    """Per-example Jacobians of softmax: J[:, :, i] = diag(a_i) − a_i a_iᵀ, shape (C, C, m)."""
    A = softmax(Z)
    C = A.shape[0]
    eye = jnp.eye(C, dtype=A.dtype)[:, :, None]
    return eye * A[None, :, :] - A[:, None, :] * A[None, :, :]


_REGISTRY: dict[str, Activation] = {
    "linear": Activation(linear, linear_prime),
    "sigmoid": Activation(sigmoid, sigmoid_prime),
    "tanh": Activation(tanh, tanh_prime),
    "relu": Activation(relu, relu_prime),
    "leaky_relu": Activation(leaky_relu, leaky_relu_prime),
    "softmax": Activation(softmax, softmax_prime),
    "squash": Activation(squash, squash_prime),
}

NAMES = tuple(_REGISTRY)
ELEMENTWISE = tuple(name for name in NAMES if name != "softmax")


def get(name: str) -> Activation:
    """Return the ``(g, g_prime)`` pair for ``name``; unknown names list the choices."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown activation {name!r}; choose one of: {', '.join(NAMES)}"
        ) from None
