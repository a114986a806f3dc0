"""A dataset's images brought to a model's input size inside the compiled step.

``jaxnn train --model lenet5_1998 --dataset mnist --input-shape 32,32,1`` builds the model
for 32×32×1 and puts an ``input`` layer in front of it that pads MNIST's 28×28 by 2 zeros on
each side (the paper's Fig. 2: "a 32×32 pixel image … significantly larger than the largest
character", whose 20×20 digits sit centred in 28×28 MNIST); ``--resize`` resizes instead
(bilinear, ``jax.image.resize``: d2l's Fashion-MNIST at 224×224 for AlexNet and VGG-11).

The layer runs on the device, in the same jitted step as the network — the training set stays
at its own size in memory (Fashion-MNIST at 224×224×1 in float32 would be 12 GB; at 28×28
it is 188 MB). ``docs/convnets.md`` gives the measured cost against padding once at load.

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

    def summary():
        row = sequential.Row("input", layer.describe, tuple(model.input_shape), 0, 0)
        return [row, *model.summary()]

    return model._replace(
        describe=f"{model.describe} ({layer.describe})", input_shape=tuple(data_shape),
        forward=wrap(model.forward), cost=wrap(model.cost),
        cost_and_grads=wrap(model.cost_and_grads),
        autodiff_cost_and_grads=wrap(model.autodiff_cost_and_grads),
        metrics=wrap(model.metrics), checks=wrap(model.checks),
        summary=summary if model.summary else None,
        net=(("input", layer), *model.net) if model.net else None,
    )  # fmt: skip
