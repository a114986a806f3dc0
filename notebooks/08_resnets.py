# ---
# jupyter:
#   jaxnn:
#     tier: 2
#     why: compiling the deeper nets' programs takes tens of seconds
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Batch normalization and residual networks
#
# A chapter jaxnn adds to the notes: batch normalization and the CIFAR ResNets of He et al.
# (2016), every layer with a hand-derived backward. Derivations (batch norm's compact
# backward, the residual block's fork) and the measured runs on Fashion-MNIST are in
# [ResNets and normalization](../docs/resnets.md). Here: the layers checked three ways, then the
# question He et al. asked — does a deeper plain network train *worse*, and does adding the
# shortcut fix it? — answered on the digits.
#
# A residual block computes $a^{[l+2]} = g\bigl(z^{[l+2]} + a^{[l]}\bigr)$: the shortcut adds
# its input to the output of two conv–batch-norm layers. Backward, the gradient forks at the
# input and is summed:
#
# $$\frac{\partial J}{\partial a^{[l]}} = \underbrace{\frac{\partial J}{\partial a^{[l]}}
#   \Big|_\text{through the two layers}}_\text{may vanish} + \; dz^{[l+2]},$$
#
# so however small the layers' path, the shortcut carries $dz^{[l+2]}$ down unchanged.
# Batch norm's backward over the $N$ values of a unit:
# $dx = \frac{\gamma}{N\sigma}\bigl(N\,dy - \sum dy - \hat x \sum (dy \odot \hat x)\bigr)$.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import optax

import jaxnn
from jaxnn import data, gradcheck, models, train
from jaxnn.layers.residual import residual
from jaxnn.models import resnet

print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## The layers, checked three ways
#
# Batch norm on images (per channel over the batch and the positions) and one residual block
# (two 3×3 conv + batch norm, identity shortcut, ReLU after the sum). The convolutions
# before batch norm have no bias, as in ResNet: batch norm subtracts each channel's mean, so
# a bias there has a zero gradient (the check would compare round-off with round-off) and
# $\beta$ does its job. (The whole ResNet-20 … 110 and their plain twins are checked the same
# way in the slower tier of the tests: `gradcheck.check_model("resnet20")`, minutes on a CPU.)

# %%
layers = jaxnn.layers
block = residual(
    [
        ("conv_a", layers.conv2d(3, 3, padding="same", bias=False)),
        ("bn_a", layers.batch_norm()),
        ("relu", layers.activation("relu")),
        ("conv_b", layers.conv2d(3, 3, padding="same", bias=False)),
        ("bn_b", layers.batch_norm()),
    ]
)
for name, layer, shape in (
    ("batch norm", layers.batch_norm(), (4, 4, 3)),
    ("residual block", block, (5, 5, 3)),
):
    report = gradcheck.check_layer(layer, shape, m=3)
    print(f"{name}\n{report.format()}\n")
    assert report.ok

# %% [markdown]
# ## Training error against depth, plain and residual
#
# He et al.'s CIFAR nets ($6n + 2$ layers: three stages of $n$ blocks at 16, 32 and 64
# channels) at depths 8, 14 and 20, with a quarter of the channels, on the 8×8 digits; each
# with its plain twin (the same layers, no shortcuts). SGD with momentum 0.9 at 0.05, batch
# 64, 5 epochs, He initialisation, the hand-derived backward. The training error is measured
# in evaluation mode (batch norm's running statistics) on the whole training set.

# %%
digits = data.load("digits")
X = jnp.asarray(digits.X_train.T.reshape(-1, 8, 8, 1))
Y = jnp.asarray(data.one_hot(digits.labels_train, 10))
m, DEPTHS, EPOCHS = X.shape[0], (8, 14, 20), 5
X_rows, Y_rows = train.device_rows(X, Y, 0)
errors = {}
for depth in DEPTHS:
    for shortcuts in (False, True):
        model = resnet.resnet((8, 8, 1), 10, depth, shortcuts, width=0.25)
        variables = model.init(jax.random.PRNGKey(0))
        init_opt_state, step = model.make_step("hand", optax.sgd(0.05, 0.9))
        epoch = train.make_epoch(step, m, 64, example_axis=0)
        evaluate = jax.jit(lambda v, X, Y, model=model: models.metrics(model, v, X, Y))
        opt_state, key, curve = init_opt_state(variables), jax.random.PRNGKey(0), []
        for e in range(EPOCHS):
            variables, opt_state, _ = epoch(
                variables, opt_state, train.epoch_order(key, e, m), X_rows, Y_rows
            )
            curve.append(1 - float(evaluate(variables, X, Y)["accuracy"]))
        errors["resnet" if shortcuts else "plain", depth] = curve
        print(
            f"{'resnet' if shortcuts else 'plain'}{depth}: training error per epoch",
            [round(e, 3) for e in curve],
        )

# %%
fig, (ax_depth, ax_curves) = plt.subplots(1, 2, figsize=(12, 3.8))
for kind, marker in (("plain", "s--"), ("resnet", "o-")):
    ax_depth.plot(DEPTHS, [errors[kind, d][-1] for d in DEPTHS], marker, label=kind)
ax_depth.set(
    xlabel="depth (layers)",
    ylabel=f"training error after {EPOCHS} epochs",
    xticks=DEPTHS,
    title="deeper: plain trains worse, residual does not",
)
ax_depth.legend()
for i, depth in enumerate(DEPTHS):
    for kind, style in (("plain", "--"), ("resnet", "-")):
        ax_curves.plot(
            range(1, EPOCHS + 1), errors[kind, depth], style, color=f"C{i}", label=f"{kind}{depth}"
        )
ax_curves.set(xlabel="epoch", ylabel="training error", yscale="log", title="per epoch")
ax_curves.legend(fontsize=7, ncol=3)
fig.tight_layout()
plt.show()

# %% [markdown]
# The plain nets' training error grows with depth — the degradation problem, which is not
# over-fitting (this is the *training* set) — while the residual nets' stays low at every
# depth. The measured runs at 20 and 56 layers, and the gradient norms per layer behind them,
# are in [ResNets and normalization](../docs/resnets.md#the-degradation-problem).

# %%
assert errors["plain", 20][-1] > errors["plain", 8][-1] + 0.1
assert errors["resnet", 20][-1] < errors["plain", 20][-1] - 0.1
