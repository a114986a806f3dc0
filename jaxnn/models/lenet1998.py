"""LeNet-5 as published: LeCun, Bottou, Bengio & Haffner (1998), §II.B, Fig. 2, Table I.

    input 32×32 (pixels in [0, 1]) → normalise to background −0.1, foreground 1.175
    C1  conv 6@5×5 → 28×28×6, squash                               156 parameters
    S2  trainable subsampling 2×2 → 14×14×6, squash                 12
    C3  conv 16@5×5 over Table I's 60 map pairs → 10×10×16, squash  1,516
    S4  trainable subsampling 2×2 → 5×5×16, squash                  32
    C5  conv 120@5×5 → 1×1×120, squash                              48,120
    F6  dense 84, squash                                            10,164
    output: 10 Euclidean RBF units, fixed ±1 codes                  0 (not trained)
                                                            total   60,000

"units in layers up to F6 … compute a dot product between their input vector and their
weight vector, to which a bias is added. This weighted sum … is then passed through a
sigmoid squashing function" (§II.B): every layer up to F6 is squashed, f(a) = 1.7159
tanh(2a/3) (Appendix A). The cost is Eq. 9, the mean penalty of the correct class; ``loss =
"eq10"`` adds Eq. 10's discriminative term ``log(e^(−j) + Σ_i e^(−y_i))``. Weights start
U[−2.4/F, 2.4/F], F the fan-in (Appendix A); biases 0. A class is predicted by the smallest
penalty. The layers are in ``jaxnn.layers.lenet1998``.
"""

from __future__ import annotations

from jaxnn import layers
from jaxnn.errors import ConfigError
from jaxnn.layers import distort as distort_layer
from jaxnn.layers import lenet1998
from jaxnn.models import Model
from jaxnn.models.convnet import DEFAULT_INPUT, _builder, from_layers

LOSSES = ("eq9", "eq10")


def lenet5_1998(input_shape=DEFAULT_INPUT["lenet5_1998"], num_classes: int = 10,
                hidden: str = "squash", output: str = "rbf", init: str = "lecun98",
                width: float = 1.0, loss: str = "eq9", j: float = 1.0, distort: float = 0.0
                ) -> Model:  # fmt: skip
    """LeNet-5 of 1998 (module docstring); 60,000 trainable parameters at 32×32×1.

    ``hidden``: the squashing function (the paper's ``squash``; others for comparison).
    ``output`` must be "rbf" and ``width`` 1: Table I and the 84-unit codes fix the sizes.
    ``loss``: "eq9" (the paper's Eq. 9) or "eq10" (with the constant ``j`` > 0; the paper
    gives no value). ``distort``: the paper's distorted training digits (§III.C), drawn anew
    for every training image at every step: scaling, squeezing and horizontal shear up to
    that fraction, translations up to 2 pixels (``jaxnn.layers.distort``); 0, the default,
    trains on the digits as they are."""
    if output != "rbf":
        raise ConfigError(
            f"lenet5_1998 ends in the paper's RBF units (output 'rbf'); got --output "
            f"{output}; the modern LeNet-5 (softmax): --model lenet5"
        )
    if width != 1.0:
        raise ConfigError("lenet5_1998 has the paper's fixed sizes (Table I, 84 RBF inputs): "
                          "--width does not apply; --model lenet5 takes it")  # fmt: skip
    if loss not in LOSSES:
        raise ConfigError(f"lenet5_1998 loss {loss!r}: choose eq9 or eq10 (--option loss=eq10)")
    if not j > 0:
        raise ConfigError(f"Eq. 10's constant j must be > 0; got {j}")
    b = _builder("lenet5_1998", input_shape, hidden, init, "fast", 1.0)
    if input_shape[2] != 1:
        raise ConfigError(f"lenet5_1998 reads grey images (32×32×1); got {input_shape}")
    if distort_layer.check_strength(distort):
        b.net.append(("distort", distort_layer.random_affine(distort)))
    b.net.append(("normalise", lenet1998.normalise_input()))
    b.net.append(("C1", layers.conv2d(6, 5, 1, "valid", init)))
    b.net.append(("C1_squash", layers.activation(hidden)))
    b.net.append(("S2", lenet1998.subsample(2, init)))
    b.net.append(("S2_squash", layers.activation(hidden)))
    b.net.append(("C3", lenet1998.partial_conv(5, lenet1998.TABLE_I, init)))
    b.net.append(("C3_squash", layers.activation(hidden)))
    b.net.append(("S4", lenet1998.subsample(2, init)))
    b.net.append(("S4_squash", layers.activation(hidden)))
    b.net.append(("C5", layers.conv2d(120, 5, 1, "valid", init)))
    b.net.append(("C5_squash", layers.activation(hidden)))
    b.net.append(("flatten", layers.flatten()))
    b.net.append(("F6", layers.dense(84, init)))
    b.net.append(("F6_squash", layers.activation(hidden)))
    b.net.append(("output", lenet1998.rbf(num_classes)))
    return from_layers("lenet5_1998", tuple(b.net), input_shape, "rbf",
                       rbf_j=j if loss == "eq10" else None,
                       options={"loss": loss, "j": j, "hidden": hidden,
                                "distort": distort})  # fmt: skip
