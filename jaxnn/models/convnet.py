"""Convolutional networks (notes §7): LeNet-5, AlexNet, VGG-16 as sequences of layers.

Each architecture is a tuple of named ``jaxnn.layers`` ending in a dense layer with the
classifier's units; ``from_layers`` turns any such sequence into a ``jaxnn.models.Model``
whose hand-derived backward is the layers' own, composed in reverse
(``jaxnn.layers.sequential``). Images are ``(m, n_H, n_W, n_C)``; the classifier's output
is ``(n_y, m)`` columns, as the MLP's.

The cost is the MLP's (``jaxnn.mlp.cost_from_logits``): softmax + cross-entropy (or sigmoid +
BCE), plus the notes' L2 ``λ Σ ‖W‖²`` over every weight (conv kernels and dense matrices),
never the biases. Its gradient at the output pre-activation is ``dZ[L] = (A[L] − Y) / m``;
the 1/m enters there once, and every layer below passes gradients of the summed cost.

Every architecture takes ``width`` (multiplies every conv's channels and every hidden dense
layer's units, at least 1) and works at any input size its pooling stages fit, so that a
scaled-down VGG-16 trains and is gradient-checked in seconds.

* ``lenet5`` — the common modern LeNet-5: conv 5×5 "same" 6 → ReLU → max-pool 2×2 → conv
  5×5 "valid" 16 → ReLU → max-pool 2×2 → 120 → 84 → C; 61,706 parameters at 28×28×1.
* ``alexnet`` — torchvision's single-tower AlexNet (61,100,840 parameters at 224×224×3,
  1000 classes), without its dropout and its adaptive average pool (the identity at
  224×224; at other sizes the first dense layer's fan-in follows the input).
* ``vgg16`` — VGG configuration D (138,357,544 parameters at 224×224×3, 1000 classes):
  thirteen 3×3/1 "same" convs in five blocks, each block closed by a 2×2/2 max-pool, then
  4096 → 4096 → 1000, without dropout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import activations, layers, losses, validate
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import sequential
from jaxnn.models import Model, stateful
from jaxnn.models.mlp import cost_from_logits

Array = jax.Array

DEFAULT_INPUT = {"lenet5": (28, 28, 1), "alexnet": (224, 224, 3), "vgg16": (224, 224, 3)}
DEFAULT_CLASSES = {"lenet5": 10, "alexnet": 1000, "vgg16": 1000}  # others (ResNets): 10


def _as_float(params: dict, X: Array) -> Array:
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(jax.tree.leaves(params)[0].dtype)
    return X


def _is_weight(path) -> bool:
    """A conv kernel or dense matrix: a leaf named W, at any depth (inside residual blocks)."""
    return getattr(path[-1], "key", None) == "W"


def _weights(params: dict) -> list[Array]:
    return [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
            if _is_weight(path)]  # fmt: skip


def from_layers(
    name: str, net: sequential.Layers, input_shape: tuple, output: str = "softmax"
) -> Model:
    """A ``Model`` from named layers whose last layer outputs the classifier's units."""
    if output not in ("softmax", "sigmoid"):
        raise ConfigError(
            f"--output {output!r}: a convolutional classifier ends in softmax (C classes) or "
            "sigmoid (2 classes, one unit)"
        )
    out_shapes = sequential.shapes(net, input_shape)  # ShapeError where a stage cannot fit
    if len(out_shapes[-1]) != 1:
        raise ShapeError(f"{name} must end in a dense layer; it ends in {out_shapes[-1]}")
    n_out = out_shapes[-1][0]
    g_output = activations.get(output).g

    def check(params, X, Y=None):
        if X.ndim != 4 or tuple(X.shape[1:]) != tuple(input_shape):
            raise ShapeError(
                f"{name} takes images X (m, {', '.join(map(str, input_shape))}); got "
                f"{tuple(X.shape)}. jaxnn.data.load(..., layout='images') gives this layout"
            )
        validate.finite(X)
        if Y is not None:
            if Y.shape != (n_out, X.shape[0]):
                raise ShapeError(
                    f"Y must be (n_y, m) = ({n_out}, {X.shape[0]}); got {tuple(Y.shape)}. "
                    "One-hot labels with jaxnn.data.one_hot(labels, C)"
                )
            validate.targets(Y, output)

    def init(key, dtype=jnp.float32):
        validate.dtype_available(dtype)
        return sequential.init(net, key, input_shape, jnp.dtype(dtype))

    def logits(params, X):
        X = _as_float(params, X)
        check(params, X)
        return sequential.forward(net, params, X)

    def forward(params, X):
        return g_output(logits(params, X)[0])

    def cost_and_caches(params, X, Y, l2):
        Z_L, caches = logits(params, X)
        check(params, X, Y)
        J = cost_from_logits(Z_L, Y, output)
        if not losses.l2_is_zero(l2):
            J = J + l2 * sum(jnp.sum(W**2) for W in _weights(params))
        return J, Z_L, caches

    def cost(params, X, Y, l2=0.0):
        return cost_and_caches(params, X, Y, l2)[0]

    def cost_and_grads(params, X, Y, l2=0.0):
        """dZ[L] = (A[L] − Y) / m, then every layer's backward in reverse; + 2λW."""
        J, Z_L, caches = cost_and_caches(params, X, Y, l2)
        dZ_L = (g_output(Z_L) - Y) / Y.shape[1]  # softmax+CE and sigmoid+BCE collapse to this
        grads = sequential.backward(net, params, caches, dZ_L)
        if not losses.l2_is_zero(l2):
            grads = jax.tree_util.tree_map_with_path(
                lambda path, g, W: g + 2 * l2 * W if _is_weight(path) else g, grads, params
            )
        return J, grads

    def autodiff_cost_and_grads(params, X, Y, l2=0.0):
        return jax.value_and_grad(cost)(params, X, Y, l2)

    describe = f"{name} {'×'.join(map(str, input_shape))} -> {n_out}"
    model = Model(name, describe, tuple(input_shape), 0, n_out, output, init, forward, cost,
                  cost_and_grads, autodiff_cost_and_grads,
                  lambda: sequential.summary(net, input_shape), net)  # fmt: skip
    if not sequential.has_state(net):
        return model

    def logits_state(params, state, X, train):
        X = _as_float(params, X)
        check(params, X)
        return sequential.forward_state(net, params, state, X, train)

    return stateful.with_state(model, net, logits_state, cost_from_logits, _weights)


class _Builder:
    """Names layers as they are added: conv1, pool1, fc1, and conv1_relu for activations."""

    def __init__(self, hidden: str, init: str, conv_backward: str, width: float):
        if not (width > 0) or not np.isfinite(width):
            raise ConfigError(f"--width must be a finite number > 0; got {width}")
        self.hidden, self.init, self.conv_backward, self.width = hidden, init, conv_backward, width
        self.net: list = []
        self.counts: dict[str, int] = {}

    def _add(self, prefix: str, layer) -> str:
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        name = f"{prefix}{self.counts[prefix]}"
        self.net.append((name, layer))
        return name

    def scaled(self, n: int) -> int:
        return max(1, int(round(n * self.width)))

    def conv(self, n_C: int, f: int, stride: int = 1, padding="same"):
        name = self._add("conv", layers.conv2d(self.scaled(n_C), f, stride, padding, self.init,
                                               self.conv_backward))  # fmt: skip
        self.net.append((f"{name}_{self.hidden}", layers.activation(self.hidden)))

    def pool(self, f: int = 2, stride: int | None = None):
        self._add("pool", layers.max_pool(f, stride, self.conv_backward))

    def dense(self, n: int, last: bool = False):
        if "flatten" not in dict(self.net):
            self.net.append(("flatten", layers.flatten()))
        name = self._add("fc", layers.dense(n if last else self.scaled(n), self.init))
        if not last:
            self.net.append((f"{name}_{self.hidden}", layers.activation(self.hidden)))

    def model(self, name: str, input_shape, num_classes: int, output: str) -> Model:
        self.dense(1 if output == "sigmoid" else num_classes, last=True)
        return from_layers(name, tuple(self.net), input_shape, output)


def _builder(name, input_shape, hidden, init, conv_backward, width):
    if len(input_shape) != 3:
        raise ShapeError(
            f"{name} takes images (n_H, n_W, n_C); got examples of shape {input_shape}. "
            f"Use an image dataset (mnist, fashion_mnist, digits) or --input-shape H,W,C"
        )
    return _Builder(hidden, init, conv_backward, width)


def lenet5(input_shape=DEFAULT_INPUT["lenet5"], num_classes: int = 10, hidden: str = "relu",
           output: str = "softmax", init: str = "glorot", width: float = 1.0,
           conv_backward: str = "auto") -> Model:  # fmt: skip
    """The modern LeNet-5 (see the module docstring); 61,706 parameters at 28×28×1, C = 10."""
    b = _builder("lenet5", input_shape, hidden, init, conv_backward, width)
    b.conv(6, 5, padding="same")
    b.pool(2)
    b.conv(16, 5, padding="valid")
    b.pool(2)
    b.dense(120)
    b.dense(84)
    return b.model("lenet5", input_shape, num_classes, output)


def alexnet(input_shape=DEFAULT_INPUT["alexnet"], num_classes: int = 1000, hidden: str = "relu",
            output: str = "softmax", init: str = "glorot", width: float = 1.0,
            conv_backward: str = "auto") -> Model:  # fmt: skip
    """torchvision's AlexNet without dropout; 61,100,840 parameters at 224×224×3, C = 1000."""
    b = _builder("alexnet", input_shape, hidden, init, conv_backward, width)
    b.conv(64, 11, stride=4, padding=2)
    b.pool(3, 2)
    b.conv(192, 5, padding=2)
    b.pool(3, 2)
    b.conv(384, 3, padding=1)
    b.conv(256, 3, padding=1)
    b.conv(256, 3, padding=1)
    b.pool(3, 2)
    b.dense(4096)
    b.dense(4096)
    return b.model("alexnet", input_shape, num_classes, output)


VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def vgg16(input_shape=DEFAULT_INPUT["vgg16"], num_classes: int = 1000, hidden: str = "relu",
          output: str = "softmax", init: str = "glorot", width: float = 1.0,
          conv_backward: str = "auto") -> Model:  # fmt: skip
    """VGG-16 (configuration D) without dropout; 138,357,544 parameters at 224×224×3."""
    b = _builder("vgg16", input_shape, hidden, init, conv_backward, width)
    for block in VGG16_BLOCKS:
        for channels in block:
            b.conv(channels, 3, padding="same")
        b.pool(2, 2)
    b.dense(4096)
    b.dense(4096)
    return b.model("vgg16", input_shape, num_classes, output)
