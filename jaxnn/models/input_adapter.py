"""A dataset's images brought to a model's input size inside the compiled step.

``jaxnn train --model lenet5_1998 --dataset mnist --input-shape 32,32,1`` builds the model
for 32×32×1 and puts an ``input`` layer in front of it that pads MNIST's 28×28 by 2 zeros on
each side (the paper's Fig. 2: "a 32×32 pixel image … significantly larger than the largest
character", whose 20×20 digits sit centred in 28×28 MNIST); ``--resize`` resizes instead
(bilinear, ``jax.image.resize``: d2l's Fashion-MNIST at 224×224 for AlexNet and VGG-11).

The layer runs on the device, in the same jitted step as the network — the training set stays
at its own size in memory (Fashion-MNIST at 224×224×1 in float32 would be 12 GB; at 28×28
it is 188 MB). ``docs/convnets.md`` gives the measured cost against padding once at load.

**Native sizes.** A network named after a paper reads the images at the paper's size unless
told otherwise (``NATIVE``): ``jaxnn train --model lenet5_1998 --dataset mnist`` pads MNIST to
32×32 as the paper did, ``alexnet_2012`` and ``vgg11/13/19`` resize to their 227×227 and
224×224 inputs (the papers rescale their ImageNet images; d2l resizes Fashion-MNIST so).
``fit`` decides, and the run's one-line summary and ``config.json`` say what was done. The
modern ``lenet5``, ``alexnet`` and ``vgg16`` and the CIFAR ResNets (global average pooling
before their one dense layer) read the data at its own size, or, where their stages cannot
(VGG-16's five poolings on 8×8 digits), at the smallest square size they can, the data padded
to it (``smallest_input``; "smallest" in config.json's ``input_fit``). ``--input-shape`` (pad,
or ``--resize``) overrides; where a network cannot read the size given, the error names the
smallest square input that it can.

Backward: both maps are linear in X. Padding's transpose crops (``dX = dA[:, t:t+h, l:l+w]``);
resizing's is ``jax.linear_transpose`` of the resize (the first layer's input gradient is
never needed in training: the data are not parameters).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.errors import ConfigError
from jaxnn.layers import sequential
from jaxnn.models import Model

Array = jax.Array


# the papers' input sizes (H, W) and how the papers brought their images to them
NATIVE = {
    "lenet5_1998": ((32, 32), "pad"),  # LeCun et al. 1998 §III.A: 28×28 MNIST centred in 32×32
    "alexnet_2012": ((227, 227), "resize"),  # Krizhevsky et al. 2012 §2 (227: Fig. 2's arithmetic)
    "vgg11": ((224, 224), "resize"),  # Simonyan & Zisserman 2015 §2.1, §3.1
    "vgg13": ((224, 224), "resize"),
    "vgg19": ((224, 224), "resize"),
}


def fit(name: str, data_shape: tuple, input_shape: tuple | None = None,
        resize: bool = False) -> tuple[tuple, bool, str]:  # fmt: skip
    """``(model_shape, resize, source)``: the input model ``name`` is built for, whether the
    data's images are resized (else padded) to it, and where the size came from: "given"
    (``--input-shape``), "native" (the paper's, ``NATIVE``) or "data" (the data's own)."""
    data_shape = tuple(data_shape)
    if input_shape is not None:
        return tuple(input_shape), bool(resize), "given"
    if name in NATIVE:
        (H, W), how = NATIVE[name]
        larger = data_shape[0] > H or data_shape[1] > W
        return (H, W, data_shape[2]), bool(resize) or how == "resize" or larger, "native"
    if resize:
        raise ConfigError(f"--resize needs --input-shape H,W,C, the size to resize to; {name} "
                          f"reads the data's {data_shape[0]}×{data_shape[1]} images as they are "
                          "by default")  # fmt: skip
    return data_shape, False, "data"


def smallest_input(build, data_shape: tuple, limit: int = 512) -> int | None:
    """The smallest square size S ≥ the data's (S, S, C) at which ``build(shape)`` builds
    (its stages fit), or None below ``limit``: named by the error when a size does not fit."""
    from jaxnn.errors import ShapeError

    for size in range(max(data_shape[0], data_shape[1]), limit + 1):
        try:
            build((size, size, data_shape[2]))
        except ShapeError:
            continue
        except ConfigError:
            return None
        return size
    return None


def _pads(data_shape, input_shape) -> tuple[tuple[int, int], tuple[int, int]]:
    (h, w, _), (H, W, _) = data_shape, input_shape
    return ((H - h) // 2, H - h - (H - h) // 2), ((W - w) // 2, W - w - (W - w) // 2)


def input_layer(data_shape: tuple, input_shape: tuple, resize: bool):
    """A ``Layer`` from the data's images ``(h, w, c)`` to the model's ``(H, W, c)``."""
    from jaxnn.layers import Layer, _no_macs, _no_params

    data_shape, input_shape = tuple(data_shape), tuple(input_shape)
    if len(data_shape) != 3 or len(input_shape) != 3:
        raise ConfigError(f"--input-shape needs image data (n_H, n_W, n_C); the dataset's "
                          f"examples are {data_shape}")  # fmt: skip
    if data_shape[2] != input_shape[2]:
        raise ConfigError(
            f"--input-shape {','.join(map(str, input_shape))}: the dataset's images have "
            f"{data_shape[2]} channel(s); keep C = {data_shape[2]} (only H and W change)"
        )
    if not resize and (input_shape[0] < data_shape[0] or input_shape[1] < data_shape[1]):
        raise ConfigError(
            f"--input-shape {','.join(map(str, input_shape))} is smaller than the dataset's "
            f"{data_shape[0]}×{data_shape[1]} images: padding cannot shrink them; add --resize"
        )
    pads = _pads(data_shape, input_shape)
    (top, _), (left, _) = pads

    if resize:

        def apply(X):
            return jax.image.resize(X, (X.shape[0], *input_shape), "bilinear")

        def transpose(X_shape, dA):
            return jax.linear_transpose(apply, jax.ShapeDtypeStruct(X_shape, dA.dtype))(dA)[0]

        describe = f"resize {data_shape[0]}×{data_shape[1]} → {input_shape[0]}×{input_shape[1]}"
    else:

        def apply(X):
            return jnp.pad(X, ((0, 0), *pads, (0, 0)))

        def transpose(X_shape, dA):
            return dA[:, top : top + X_shape[1], left : left + X_shape[2]]

        describe = f"pad {data_shape[0]}×{data_shape[1]} → {input_shape[0]}×{input_shape[1]}"

    def forward(params, X):
        return apply(X), X.shape

    def backward(params, X_shape, dA, need_dA_prev):
        return (transpose(X_shape, dA) if need_dA_prev else None), {}

    return Layer("input", describe, lambda in_shape: input_shape, _no_params, forward, backward,
                 _no_macs)  # fmt: skip


def adapt(model: Model, data_shape: tuple, resize: bool = False) -> Model:
    """``model`` reading the dataset's images ``data_shape``: every function first pads (or
    resizes) X to ``model.input_shape``, inside whatever jit traces it."""
    layer = input_layer(data_shape, model.input_shape, resize)

    def fit(X):
        X = jnp.asarray(X)
        if X.ndim != 4 or tuple(X.shape[1:]) != tuple(data_shape):
            return X  # the model's own check names the expected shape
        return layer.forward({}, X)[0]

    def wrap(fn):
        if fn is None:
            return None
        return lambda params, X, *args, **kw: fn(params, fit(X), *args, **kw)

    def make_step(*args, **kw):  # a model with its own step (batch norm's state): X fitted too
        init_opt_state, step = model.make_step(*args, **kw)
        return init_opt_state, lambda v, opt_state, X, *rest, **kw: step(
            v, opt_state, fit(X), *rest, **kw
        )

    def summary():
        row = sequential.Row("input", layer.describe, tuple(model.input_shape), 0, 0)
        return [row, *model.summary()]

    return model._replace(
        describe=f"{model.describe} ({layer.describe})", input_shape=tuple(data_shape),
        forward=wrap(model.forward), cost=wrap(model.cost),
        cost_and_grads=wrap(model.cost_and_grads),
        autodiff_cost_and_grads=wrap(model.autodiff_cost_and_grads),
        metrics=wrap(model.metrics), checks=wrap(model.checks),
        curvature=wrap(model.curvature),
        make_step=make_step if model.make_step else None,
        summary=summary if model.summary else None,
        net=(("input", layer), *model.net) if model.net else None,
    )  # fmt: skip
