"""ResNets for CIFAR-10 (He et al. 2016, §4.2) and the same nets without shortcuts ("plain").

The paper's CIFAR architecture, 6n + 2 weighted layers: a 3×3 conv with 16 filters, then
three stages of n residual blocks on maps of 32×32, 16×16 and 8×8 with 16, 32 and 64
filters (each block two 3×3 convs, every conv followed by batch norm, a ReLU after the first
and after the addition), the map halved by the first conv of stages 2 and 3 (stride 2),
then global average pooling and a 10-way dense layer with softmax. n = 3, 5, 7, 9, 18 give
``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``, ``resnet110``; ``plain20`` … are
the same layers without the shortcuts (the paper's Fig. 6 comparison).

Shortcuts are identities except where a stage begins; there the paper's CIFAR nets use
option A (``shortcut="A"``: every second position, zero channels appended — no parameters),
so that ResNet-20 has 0.27 M parameters (269,722 here: the convs carry no bias, batch norm's
β plays its part). ``shortcut="B"`` uses projections (conv 1×1 with stride 2, then batch
norm) instead. Convs are He-initialised (``init="he"``, the paper's [13]). The paper trains
with weight decay 1e-4 and momentum 0.9 at lr 0.1 on batches of 128 (``--l2`` is the notes'
λ Σ‖W‖², so weight decay wd corresponds to λ = wd/2).

``width`` multiplies the 16/32/64 channels (at least 1): narrower nets for a CPU.
"""

from __future__ import annotations

from jaxnn import layers
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.layers import residual
from jaxnn.models import Model, convnet

DEPTHS = (20, 32, 44, 56, 110)
NAMES = tuple(f"{kind}{depth}" for kind in ("resnet", "plain") for depth in DEPTHS)
STAGES = (16, 32, 64)


def _conv_bn(n_C, stride, init, conv_backward, momentum, eps, f=3, padding="same"):
    return (layers.conv2d(n_C, f, stride, padding, init, conv_backward, bias=False),
            layers.batch_norm(momentum, eps))  # fmt: skip


def resnet(input_shape=(32, 32, 3), num_classes: int = 10, depth: int = 20,
           shortcuts: bool = True, hidden: str = "relu", output: str = "softmax",
           init: str = "he", width: float = 1.0, conv_backward: str = "fast",
           shortcut: str = "A", momentum: float = 0.1, eps: float = 1e-5) -> Model:  # fmt: skip
    """A CIFAR ResNet of ``depth`` = 6n + 2 layers (``shortcuts=False``: the plain net)."""
    if depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"a CIFAR ResNet has 6n + 2 layers (20, 32, 44, 56, 110); got {depth}")
    if shortcut not in ("A", "B"):
        raise ConfigError(f"shortcut {shortcut!r}: choose A (zero padding) or B (projection)")
    if len(input_shape) != 3:
        raise ShapeError(f"resnet takes images (n_H, n_W, n_C); got examples of {input_shape}")
    if not (width > 0):
        raise ConfigError(f"--width must be a finite number > 0; got {width}")
    n = (depth - 2) // 6
    name = f"{'resnet' if shortcuts else 'plain'}{depth}"
    conv_bn = dict(init=init, conv_backward=conv_backward, momentum=momentum, eps=eps)
    conv, bn = _conv_bn(max(1, round(16 * width)), 1, **conv_bn)
    net = [("conv1", conv), ("bn1", bn), ("relu1", layers.activation(hidden))]
    n_C_prev = max(1, round(16 * width))
    for stage, channels in enumerate(STAGES, start=1):
        n_C = max(1, round(channels * width))
        for block in range(1, n + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            conv_a, bn_a = _conv_bn(n_C, stride, **conv_bn)
            conv_b, bn_b = _conv_bn(n_C, 1, **conv_bn)
            main = (("conv1", conv_a), ("bn1", bn_a), ("relu1", layers.activation(hidden)),
                    ("conv2", conv_b), ("bn2", bn_b))  # fmt: skip
            label = f"s{stage}b{block}"
            if not shortcuts:
                net += [(f"{label}_{k}", layer) for k, layer in main]
                net.append((f"{label}_relu2", layers.activation(hidden)))
            else:
                short = ()
                if stride != 1 or n_C != n_C_prev:
                    if shortcut == "A":
                        short = (("pad", residual.pad_shortcut(n_C, stride)),)
                    else:
                        proj, proj_bn = _conv_bn(n_C, stride, f=1, padding="valid", **conv_bn)
                        short = (("proj", proj), ("proj_bn", proj_bn))
                kind = "identity" if not short else ("pad" if shortcut == "A" else "projection")
                describe = f"residual {n_C}{'/2' if stride == 2 else ''} ({kind})"
                net.append((label, residual.residual(main, short, hidden, describe)))
            n_C_prev = n_C
    net += [("gap", layers.global_avg_pool()),
            ("fc", layers.dense(1 if output == "sigmoid" else num_classes, init))]  # fmt: skip
    return convnet.from_layers(name, tuple(net), tuple(input_shape), output)


def _named(depth: int, shortcuts: bool):
    if shortcuts:

        def build(input_shape=(32, 32, 3), num_classes: int = 10, hidden: str = "relu",
                  output: str = "softmax", init: str = "he", width: float = 1.0,
                  conv_backward: str = "fast", shortcut: str = "A", momentum: float = 0.1,
                  eps: float = 1e-5) -> Model:  # fmt: skip
            return resnet(input_shape, num_classes, depth, True, hidden, output, init, width,
                          conv_backward, shortcut, momentum, eps)  # fmt: skip

    else:  # no shortcuts: no shortcut option (A or B would build the same net)

        def build(input_shape=(32, 32, 3), num_classes: int = 10, hidden: str = "relu",
                  output: str = "softmax", init: str = "he", width: float = 1.0,
                  conv_backward: str = "fast", momentum: float = 0.1,
                  eps: float = 1e-5) -> Model:  # fmt: skip
            return resnet(input_shape, num_classes, depth, False, hidden, output, init, width,
                          conv_backward, "A", momentum, eps)  # fmt: skip

    build.__doc__ = (f"{'ResNet' if shortcuts else 'The plain net'}-{depth} of He et al. 2016 "
                     "§4.2 (jaxnn.models.resnet)")  # fmt: skip
    return build


BUILDERS = {f"{'resnet' if s else 'plain'}{d}": _named(d, s) for s in (True, False) for d in DEPTHS}
