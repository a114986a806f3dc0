"""jaxnn: the networks of a classic deep-learning course and of the papers it cites, as
pure JAX functions with hand-derived backward passes.

MLPs, LeNet-5, AlexNet and VGG (modern and as published), CIFAR ResNets and plain nets with
batch norm, the tanh RNN, LSTM, GRU and Transformer, the autoencoder, VAE and GAN: every
model is a ``jaxnn.models.Model`` (pure functions over a params pytree, built from the
layers of ``jaxnn.layers``, each a forward/backward pair), every hand-derived gradient is
checked against ``jax.grad`` and float64 finite differences (``jaxnn.gradcheck``), and every
model trains through one path (``jaxnn.train_and_evaluate``). Dense layers hold one example
per column (``X (n_x, m)``), images are ``(m, n_H, n_W, n_C)``, sequences ``(T, n_x, m)``.

    import jax, jaxnn
    model = jaxnn.models.build("lenet5", (28, 28, 1), 10)
    params = model.init(jax.random.PRNGKey(0))
    report = jaxnn.gradcheck.check_model("lenet5", x64=True)   # hand ~ jax.grad ~ numeric
    jaxnn.gradcheck.check_layer(jaxnn.layers.conv2d(4, 3))      # one layer of your own
    jaxnn.train_and_evaluate(jaxnn.TrainConfig(model="lenet5", dataset="digits"), "runs/x")

The command line is ``jaxnn`` (``jaxnn --help``); the documentation site is ``docs/``.
``models``, ``layers``, ``train_and_evaluate`` and ``TrainConfig`` are imported on first
use, so ``import jaxnn`` stays as quick as before (the training path brings orbax, grain
and TFDS with it).
"""

# First: refuses a jax older than the declared floor with a one-line ImportError.
from jaxnn import compat

# isort: split
from jaxnn import activations, errors, gradcheck, initializers, logistic, losses, mlp

_LAZY = {
    "models": ("jaxnn.models", None),
    "layers": ("jaxnn.layers", None),
    "train_and_evaluate": ("jaxnn.run", "train_and_evaluate"),
    "TrainConfig": ("jaxnn.run", "TrainConfig"),
}


def __getattr__(name: str):
    """``jaxnn.models``, ``jaxnn.layers``, ``jaxnn.train_and_evaluate``, ``jaxnn.TrainConfig``
    on first use (PEP 562)."""
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'jaxnn' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = importlib.import_module(module)
    return value if attribute is None else getattr(value, attribute)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "TrainConfig",
    "activations",
    "compat",
    "errors",
    "gradcheck",
    "initializers",
    "layers",
    "logistic",
    "losses",
    "mlp",
    "models",
    "train_and_evaluate",
]
__version__ = "0.1.0"
