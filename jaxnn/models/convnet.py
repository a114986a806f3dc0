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
  Options for training it: ``shift`` (random shifts of up to that many pixels before conv1,
  ``jaxnn.layers.shift``) and ``dropout`` (after FC1's and FC2's ReLU); both off by default.
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

from jaxnn import activations, compilation_cache, layers, losses, validate
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import dropout as dropout_layers
from jaxnn.layers import grouped_conv, lenet1998, lrn, sequential, shift
from jaxnn.models import Model, stateful
from jaxnn.models.mlp import cost_from_logits

Array = jax.Array

DEFAULT_INPUT = {
    "lenet5": (28, 28, 1),
    "alexnet": (224, 224, 3),
    "vgg16": (224, 224, 3),
    "lenet5_1998": (32, 32, 1),
    "alexnet_2012": (227, 227, 3),
    "vgg11": (224, 224, 3),
    "vgg13": (224, 224, 3),
    "vgg19": (224, 224, 3),
}  # others (the CIFAR ResNets): 32×32×3
DEFAULT_CLASSES = {"lenet5": 10, "alexnet": 1000, "vgg16": 1000, "lenet5_1998": 10,
                   "alexnet_2012": 1000, "vgg11": 1000, "vgg13": 1000,
                   "vgg19": 1000}  # others (the CIFAR ResNets): 10  # fmt: skip


# published parameter totals at DEFAULT_INPUT: (total, classes, source); jaxnn summary
# prints them beside its own count
PUBLISHED = {
    "lenet5_1998": (60_000, 10, "LeCun et al. 1998, §II.B: 60,000 trainable parameters"),
    "alexnet_2012": (
        60_965_224,
        1000,
        'Krizhevsky et al. 2012: "60 million"; per layer from §3.5 and Fig. 2',
    ),
    "alexnet": (61_100_840, 1000, "torchvision.models.alexnet"),
    "vgg11": (132_863_336, 1000, "Simonyan & Zisserman 2015, Table 2: 133 M (A)"),
    "vgg13": (133_047_848, 1000, "Simonyan & Zisserman 2015, Table 2: 133 M (B)"),
    "vgg16": (138_357_544, 1000, "Simonyan & Zisserman 2015, Table 2: 138 M (D)"),
    "vgg19": (143_667_240, 1000, "Simonyan & Zisserman 2015, Table 2: 144 M (E)"),
}


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
    name: str, net: sequential.Layers, input_shape: tuple, output: str = "softmax",
    rbf_j: float | None = None, options: dict | None = None,
) -> Model:  # fmt: skip
    """A ``Model`` from named layers whose last layer outputs the classifier's units.

    ``output``: "softmax" or "sigmoid" (cross-entropy on the last layer's Z), or "rbf" (the
    last layer outputs LeNet-5's RBF penalties; the cost is the paper's Eq. 9, or Eq. 10
    with ``rbf_j``; ``jaxnn.layers.lenet1998``). A net with dropout is ``stochastic``: the
    cost functions take the step's ``key=`` (None: no dropout), while ``forward``, predict
    and ``metrics`` always evaluate without it."""
    if output not in ("softmax", "sigmoid", "rbf"):
        raise ConfigError(
            f"--output {output!r}: a convolutional classifier ends in softmax (C classes) or "
            "sigmoid (2 classes, one unit)"
        )
    out_shapes = sequential.shapes(net, input_shape)  # ShapeError where a stage cannot fit
    if len(out_shapes[-1]) != 1:
        raise ShapeError(f"{name} must end in a dense layer; it ends in {out_shapes[-1]}")
    n_out = out_shapes[-1][0]
    g_output = activations.get("linear" if output == "rbf" else output).g
    stochastic = sequential.stochastic(net)

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
            validate.targets(Y, "softmax" if output == "rbf" else output)

    def init(key, dtype=jnp.float32):
        validate.dtype_available(dtype)
        return sequential.init(net, key, input_shape, jnp.dtype(dtype))

    def logits(params, X, key=None):
        X = _as_float(params, X)
        check(params, X)
        return sequential.forward(net, params, X, key)

    def forward(params, X):
        return g_output(logits(params, X)[0])

    def cost_and_caches(params, X, Y, l2, key):
        Z_L, caches = logits(params, X, key)
        check(params, X, Y)
        if output == "rbf":
            J = lenet1998.rbf_cost(Z_L, Y, rbf_j)
        else:
            J = cost_from_logits(Z_L, Y, output)
        if not losses.l2_is_zero(l2):
            J = J + l2 * sum(jnp.sum(W**2) for W in _weights(params))
        return J, Z_L, caches

    def cost(params, X, Y, l2=0.0, key=None):
        return cost_and_caches(params, X, Y, l2, key)[0]

    def cost_and_grads(params, X, Y, l2=0.0, key=None):
        """dZ[L] = (A[L] − Y) / m, then every layer's backward in reverse; + 2λW."""
        J, Z_L, caches = cost_and_caches(params, X, Y, l2, key)
        if output == "rbf":
            dZ_L = lenet1998.rbf_cost_grad(Z_L, Y, rbf_j)
        else:  # softmax+CE and sigmoid+BCE collapse to this
            dZ_L = (g_output(Z_L) - Y) / Y.shape[1]
        grads = sequential.backward(net, params, caches, dZ_L)
        if not losses.l2_is_zero(l2):
            grads = jax.tree_util.tree_map_with_path(
                lambda path, g, W: g + 2 * l2 * W if _is_weight(path) else g, grads, params
            )
        return J, grads

    def autodiff_cost_and_grads(params, X, Y, l2=0.0, key=None):
        return jax.value_and_grad(cost)(params, X, Y, l2, key)

    def curvature(params, X, Y, l2=0.0):
        """The diagonal second derivatives of J (Gauss–Newton, LeCun et al. 1998, Appendix
        C): at the output the loss's own diagonal — Eq. 9/10 on the RBF penalties
        (``lenet1998.rbf_cost_grad2``), ``p (1 − p) / m`` for softmax+CE (the diagonal of
        ``(diag p − p pᵀ) / m``) and sigmoid+BCE — then every layer's ``backward2`` in
        reverse; L2 adds ``2λ`` to each weight's (no dropout: the deterministic net)."""
        J, Z_L, caches = cost_and_caches(params, X, Y, l2, None)
        if output == "rbf":
            d2Z_L = lenet1998.rbf_cost_grad2(Z_L, Y, rbf_j)
            dZ_L = lenet1998.rbf_cost_grad(Z_L, Y, rbf_j)
        else:
            A_L = g_output(Z_L)
            d2Z_L, dZ_L = A_L * (1 - A_L) / Y.shape[1], None
        d2 = sequential.backward2(net, params, caches, d2Z_L, dZ_L)
        if not losses.l2_is_zero(l2):
            d2 = jax.tree_util.tree_map_with_path(
                lambda path, h: h + 2 * l2 if _is_weight(path) else h, d2
            )
        return d2

    def metrics(params, X, Y, l2=0.0, key=None):
        """Evaluation: no dropout, whatever key the caller holds."""
        del key
        predictions = forward(params, X)
        labels = jnp.argmax(Y, axis=0)
        if output == "rbf":
            correct = jnp.argmin(predictions, axis=0) == labels
        elif output == "softmax":
            correct = jnp.argmax(predictions, axis=0) == labels
        else:
            correct = (predictions >= 0.5) == Y
        return {"cost": cost(params, X, Y, l2), "accuracy": jnp.mean(correct)}

    def checks(params, X, Y, l2=0.0, key=None):
        key = jax.random.PRNGKey(0) if key is None else key
        # the key an argument: one program for every seed (compilation_cache.call)
        _, hand = compilation_cache.call(jax.jit(cost_and_grads), params, X, Y, l2, key=key)
        return [("cost, dropout mask fixed by one key",
                 lambda p: cost(p, X, Y, l2, key), hand)]  # fmt: skip

    describe = f"{name} {'×'.join(map(str, input_shape))} -> {n_out}"
    model = Model(name, describe, tuple(input_shape), 0, n_out, output, init, forward, cost,
                  cost_and_grads, autodiff_cost_and_grads,
                  lambda: sequential.summary(net, input_shape), net, stochastic=stochastic,
                  metrics=metrics if (stochastic or output == "rbf") else None,
                  checks=checks if stochastic else None, options=options,
                  curvature=curvature if sequential.has_backward2(net) else None)  # fmt: skip
    if not sequential.has_state(net):
        return model
    if stochastic or output == "rbf":
        raise ConfigError(f"{name}: a network with batch norm takes no dropout or RBF output "
                          "(the state-carrying step does not pass dropout keys)")  # fmt: skip

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

    def scaled(self, n: int, multiple: int = 1) -> int:
        """``n × width``, at least ``multiple`` and rounded to a multiple of it (groups)."""
        return multiple * max(1, int(round(n * self.width / multiple)))

    def conv(self, n_C: int, f: int, stride: int = 1, padding="same", groups: int = 1,
             multiple: int = 1):  # fmt: skip
        n_C = self.scaled(n_C, max(groups, multiple))
        if groups == 1:
            layer = layers.conv2d(n_C, f, stride, padding, self.init, self.conv_backward)
        else:
            layer = grouped_conv.grouped_conv2d(n_C, f, groups, stride, padding, self.init)
        name = self._add("conv", layer)
        self.net.append((f"{name}_{self.hidden}", layers.activation(self.hidden)))

    def augment(self, k: int):
        """Random shifts of up to ``k`` pixels in front of the network (none for k = 0)."""
        if shift.check_shift(k):
            self.net.append(("shift", shift.random_shift(k)))

    def lrn(self):
        self._add("lrn", lrn.lrn(**lrn.PAPER))

    def pool(self, f: int = 2, stride: int | None = None):
        self._add("pool", layers.max_pool(f, stride, self.conv_backward))

    def dense(self, n: int, last: bool = False, dropout: float = 0.0):
        if "flatten" not in dict(self.net):
            self.net.append(("flatten", layers.flatten()))
        name = self._add("fc", layers.dense(n if last else self.scaled(n), self.init))
        if not last:
            self.net.append((f"{name}_{self.hidden}", layers.activation(self.hidden)))
        if dropout:
            self.net.append((f"{name}_dropout", dropout_layers.dropout(dropout)))

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
           conv_backward: str = "auto", shift: int = 0, dropout: float = 0.0) -> Model:  # fmt: skip
    """The modern LeNet-5 (see the module docstring); 61,706 parameters at 28×28×1, C = 10.
    ``shift``: each training image moved by up to that many pixels (``jaxnn.layers.shift``;
    0: none); ``dropout``: after FC1's and FC2's ReLU (0: none). Neither has parameters,
    and both are the identity in evaluation."""
    dropout_layers.check_rate(dropout)
    b = _builder("lenet5", input_shape, hidden, init, conv_backward, width)
    b.augment(shift)
    b.conv(6, 5, padding="same")
    b.pool(2)
    b.conv(16, 5, padding="valid")
    b.pool(2)
    b.dense(120, dropout=dropout)
    b.dense(84, dropout=dropout)
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


def alexnet_2012(input_shape=DEFAULT_INPUT["alexnet_2012"], num_classes: int = 1000,
                 hidden: str = "relu", output: str = "softmax", init: str = "glorot",
                 width: float = 1.0, conv_backward: str = "auto",
                 dropout: float = 0.5) -> Model:  # fmt: skip
    """AlexNet as in Krizhevsky, Sutskever & Hinton (2012), §3 and Fig. 2: 60,965,224
    parameters at 227×227×3, C = 1000. The two GPUs' towers are two groups of conv2, conv4
    and conv5 (conv3 reads both); LRN after conv1's and conv2's ReLU, each followed by an
    overlapping 3×3/2 max-pool; dropout ``dropout`` after FC6's and FC7's ReLU. With
    ``width`` < 1 every conv's channels stay even (two groups)."""
    dropout_layers.check_rate(dropout)
    b = _builder("alexnet_2012", input_shape, hidden, init, conv_backward, width)
    b.conv(96, 11, stride=4, padding="valid", multiple=2)
    b.lrn()
    b.pool(3, 2)
    b.conv(256, 5, padding=2, groups=2)
    b.lrn()
    b.pool(3, 2)
    b.conv(384, 3, padding=1, multiple=2)  # across both groups (the GPUs communicate)
    b.conv(384, 3, padding=1, groups=2)
    b.conv(256, 3, padding=1, groups=2)
    b.pool(3, 2)
    b.dense(4096, dropout=dropout)
    b.dense(4096, dropout=dropout)
    return b.model("alexnet_2012", input_shape, num_classes, output)


# Simonyan & Zisserman (2015), Table 1: the conv channels of each block (every conv 3×3/1
# "same", each block closed by a 2×2/2 max-pool), then FC 4096, 4096, C.
VGG_CONFIGS = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),  # A
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),  # B
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),  # D
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),  # E
}
VGG16_BLOCKS = VGG_CONFIGS["vgg16"]


def _vgg(name, input_shape, num_classes, hidden, output, init, width, conv_backward, dropout):
    dropout_layers.check_rate(dropout)
    b = _builder(name, input_shape, hidden, init, conv_backward, width)
    for block in VGG_CONFIGS[name]:
        for channels in block:
            b.conv(channels, 3, padding="same")
        b.pool(2, 2)
    b.dense(4096, dropout=dropout)
    b.dense(4096, dropout=dropout)
    return b.model(name, input_shape, num_classes, output)


def vgg11(input_shape=DEFAULT_INPUT["vgg11"], num_classes: int = 1000, hidden: str = "relu",
          output: str = "softmax", init: str = "glorot", width: float = 1.0,
          conv_backward: str = "auto", dropout: float = 0.5) -> Model:  # fmt: skip
    """VGG-11 (configuration A): 8 convs, 3 FC; 132,863,336 parameters at 224×224×3.
    ``dropout``: after FC1's and FC2's ReLU, as in the paper (0: none)."""
    return _vgg("vgg11", input_shape, num_classes, hidden, output, init, width, conv_backward,
                dropout)  # fmt: skip


def vgg13(input_shape=DEFAULT_INPUT["vgg13"], num_classes: int = 1000, hidden: str = "relu",
          output: str = "softmax", init: str = "glorot", width: float = 1.0,
          conv_backward: str = "auto", dropout: float = 0.5) -> Model:  # fmt: skip
    """VGG-13 (configuration B): 10 convs, 3 FC; 133,047,848 parameters at 224×224×3."""
    return _vgg("vgg13", input_shape, num_classes, hidden, output, init, width, conv_backward,
                dropout)  # fmt: skip


def vgg16(input_shape=DEFAULT_INPUT["vgg16"], num_classes: int = 1000, hidden: str = "relu",
          output: str = "softmax", init: str = "glorot", width: float = 1.0,
          conv_backward: str = "auto", dropout: float = 0.5) -> Model:  # fmt: skip
    """VGG-16 (configuration D): 13 convs, 3 FC; 138,357,544 parameters at 224×224×3.
    ``dropout=0`` is the network without dropout jaxnn had before."""
    return _vgg("vgg16", input_shape, num_classes, hidden, output, init, width, conv_backward,
                dropout)  # fmt: skip


def vgg19(input_shape=DEFAULT_INPUT["vgg19"], num_classes: int = 1000, hidden: str = "relu",
          output: str = "softmax", init: str = "glorot", width: float = 1.0,
          conv_backward: str = "auto", dropout: float = 0.5) -> Model:  # fmt: skip
    """VGG-19 (configuration E): 16 convs, 3 FC; 143,667,240 parameters at 224×224×3."""
    return _vgg("vgg19", input_shape, num_classes, hidden, output, init, width, conv_backward,
                dropout)  # fmt: skip
