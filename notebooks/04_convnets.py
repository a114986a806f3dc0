# ---
# jupyter:
#   jaxnn:
#     tier: 2
#     why: LeNet-5's check and training take tens of seconds
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Convolutional networks: LeNet-5
#
# The notes name LeNet-5, AlexNet and VGG-16 but print no convolution formulas; jaxnn derives
# the forward and backward passes of convolution and pooling in the notes' style (caches,
# $dZ$, $dW$, $db$, $dA_{prev}$) — the derivation is in
# [convolutional networks](../docs/convnets.md). Here: those layers checked three ways, LeNet-5
# checked whole, trained on the digits in seconds, and what its first layer learned.
#
# For a convolution with filters $W$ $(f, f, n_C^{prev}, n_C)$, stride $s$ and the padded input
# $A_{prev}$ $(m, n_H^{prev}, n_W^{prev}, n_C^{prev})$:
#
# $$Z_{h,w,c} = \sum_{i,j,c'} W_{i,j,c',c}\, A_{prev,\; hs+i,\; ws+j,\; c'} + b_c, \qquad
#   dW_{i,j,c',c} = \sum_{h,w} dZ_{h,w,c}\, A_{prev,\; hs+i,\; ws+j,\; c'}, \qquad
#   db_c = \sum_{h,w} dZ_{h,w,c},$$
#
# summed over the examples too (divided by $m$ in the cost), and $dA_{prev}$ gathers
# $W_{i,j,c',c}\,dZ_{h,w,c}$ back onto every input position that fed $Z_{h,w,c}$. Max pooling
# sends each $dA$ to the position that won its window.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import data, gradcheck, train
from jaxnn.layers import sequential

print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## The layers, checked three ways
#
# `gradcheck.check_layer` checks one layer's hand-derived backward — $dA_{prev}$ and every
# parameter — against `jax.grad` and float64 finite differences, on random inputs (rows
# `input` and `params.*`):

# %%
for name, layer, shape in (
    (
        "conv 3×3, 4 filters, stride 2, same",
        jaxnn.layers.conv2d(4, 3, stride=2, padding="same"),
        (7, 7, 2),
    ),
    ("max pool 2×2", jaxnn.layers.max_pool(2), (6, 6, 3)),
):
    report = gradcheck.check_layer(layer, shape)
    print(f"{name}\n{report.format()}\n")
    assert report.ok

# %% [markdown]
# ## LeNet-5, checked whole
#
# jaxnn's modern LeNet-5 (ReLU, max pooling, softmax: conv 6@5×5 same → pool → conv 16@5×5
# → pool → 120 → 84 → 10). The hand-derived backward of the whole network against `jax.grad`
# (every entry) and finite differences (40 random entries per leaf), on 16×16 inputs to keep
# the check quick (the layers are the same at any size):

# %%
report = gradcheck.check_model("lenet5", input_shape=(16, 16, 1), m=2)
print(report.format())
assert report.ok

# %% [markdown]
# ## Training on the digits
#
# The bundled 8×8 digits, resized to 32×32 (bilinear), as images $(m, 32, 32, 1)$; SGD with
# momentum 0.9, learning rate 0.05, batch 64, 5 epochs, the hand-derived gradient, through
# `jaxnn.train.fit`, the in-memory loop of `train_and_evaluate`. Built at 32×32 — the size
# of LeCun et al.'s (1998) input plane — with `conv_backward="fast"` (the default `"auto"`
# first measures which formulation of each layer is fastest on this machine, which costs
# more than this whole run;
# [performance](../docs/performance.md#formulation-chosen-by-measurement)).

# %%
digits = data.load("digits")


def images(X):  # (64, m) columns -> (m, 32, 32, 1)
    small = jnp.asarray(X.T.reshape(-1, 8, 8, 1))
    return jax.image.resize(small, (small.shape[0], 32, 32, 1), "bilinear")


X, X_test = images(digits.X_train), images(digits.X_test)
Y, Y_test = (
    jnp.asarray(data.one_hot(labels, 10)) for labels in (digits.labels_train, digits.labels_test)
)
lenet = jaxnn.models.build("lenet5", (32, 32, 1), 10, conv_backward="fast")
initial = lenet.init(jax.random.PRNGKey(0))
params, history = train.fit(
    initial,
    X,
    Y,
    lenet.cost_and_grads,
    train.make_optimizer(0.05, name="momentum"),
    epochs=5,
    batch_size=64,
    key=jax.random.PRNGKey(1),
    example_axis=0,
)
test_accuracy = float(jaxnn.models.accuracy(lenet, params, X_test, Y_test))
print("epoch costs", [round(c, 3) for c in history], f"test accuracy {test_accuracy:.4f}")
assert test_accuracy > 0.9

# %% [markdown]
# ## What conv1 learned, and what it sees in one digit
#
# Top: the six 5×5 filters of conv1 before and after training (red positive, blue
# negative). Below: one test digit and conv1's six feature maps after ReLU — each shows
# where in the digit its filter responds (a map that is dark everywhere belongs to a filter
# that ReLU has switched off for this digit) — then pool1's 16×16 maps and conv2's sixteen
# 12×12 maps after ReLU, sparser and more abstract. `sequential.activations` returns every
# layer's output by name.


# %%
def filters(ax_row, W, label):
    limit = float(jnp.max(jnp.abs(W)))
    for c, ax in enumerate(ax_row):
        ax.imshow(np.asarray(W[:, :, 0, c]), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(xticks=[], yticks=[], title=f"{label} {c + 1}" if c == 0 else f"{c + 1}")


fig, axes = plt.subplots(2, 6, figsize=(9, 3.2))
filters(axes[0], initial["conv1"]["W"], "initial filter")
filters(axes[1], params["conv1"]["W"], "trained filter")
fig.tight_layout()
plt.show()

index = 0
digit = X_test[index : index + 1]
maps = dict(sequential.activations(lenet.net, params, digit))
fig = plt.figure(figsize=(13, 6.2))
grid = fig.add_gridspec(3, 16)
ax = fig.add_subplot(grid[0:2, 0:3])
ax.imshow(np.asarray(digit[0, :, :, 0]), cmap="gray_r")
predicted = int(jnp.argmax(maps["fc3"][:, 0]))
ax.set(title=f"label {digits.labels_test[index]}, predicted {predicted}", xticks=[], yticks=[])
for c in range(6):
    for row, name in enumerate(("conv1_relu", "pool1")):
        ax = fig.add_subplot(grid[row, 3 + 2 * c : 5 + 2 * c])
        ax.imshow(np.asarray(maps[name][0, :, :, c]), cmap="viridis")
        ax.set(xticks=[], yticks=[], title=f"{name} {c + 1}" if c == 0 else f"{c + 1}")
for c in range(16):
    ax = fig.add_subplot(grid[2, c])
    ax.imshow(np.asarray(maps["conv2_relu"][0, :, :, c]), cmap="viridis")
    ax.set(xticks=[], yticks=[], title="conv2_relu 1" if c == 0 else f"{c + 1}")
fig.tight_layout()
plt.show()
assert maps["conv1_relu"].shape == (1, 32, 32, 6) and maps["conv2_relu"].shape == (1, 12, 12, 16)
