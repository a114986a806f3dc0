"""jaxnn: feed-forward networks of the lecture notes as pure JAX functions.

One example per column (``X (n_x, m)``), hand-derived backprop checked against ``jax.grad``
and finite differences.
"""

# First: refuses a jax older than the declared floor with a one-line ImportError.
from jaxnn import compat

# isort: split
from jaxnn import activations, errors, gradcheck, initializers, logistic, losses, mlp

__all__ = [
    "activations",
    "compat",
    "errors",
    "gradcheck",
    "initializers",
    "logistic",
    "losses",
    "mlp",
]
__version__ = "0.1.0"
