# ---
# jupyter:
#   jaxnn:
#     tier: 2
#     why: the 60,000-parameter network's checks and a short SDLM run take tens of seconds
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # LeNet-5 as published (LeCun et al. 1998), trained the paper's way
#
# `lenet5_1998` is the paper's network: 32×32 input, C1 6@5×5, trainable subsampling S2,
# C3 16@5×5 through the paper's partial connection table, S4, C5 120, F6 84 with the scaled
# tanh $f(a) = 1.7159\tanh(2a/3)$, and 10 Euclidean RBF output units with fixed ±1 codes;
# its cost is the paper's Eq. 9. The paper trains it with **stochastic diagonal
# Levenberg–Marquardt** (SDLM): each parameter $w_k$ takes the step
#
# $$\varepsilon_k = \frac{\eta}{\mu + h_{kk}},$$
#
# $h_{kk}$ an estimate of $\partial^2 E/\partial w_k^2$ re-estimated on a few hundred
# examples before each pass, $\mu = 0.02$. The second derivatives are backpropagated by hand,
# layer by layer, in the Gauss–Newton form that drops the cross terms and the second
# derivative of the squashing function:
#
# $$\frac{\partial^2 E}{\partial a_i^2} = f'(a_i)^2 \sum_k w_{ki}^2
#   \frac{\partial^2 E}{\partial a_k^2}, \qquad
#   \frac{\partial^2 E}{\partial w_{ij}^2} = x_j^2 \frac{\partial^2 E}{\partial a_i^2},$$
#
# a shared weight's the sum over the connections that share it. The derivation of each
# layer, the constants and every difference from the paper are on
# [LeNet-5 trained as published](../docs/lenet1998_sdlm.md). Here: the first-order backward
# checked three ways, the second-order one against JAX's exact Gauss–Newton diagonal, and a
# short SDLM run on the digits.

# %%
import tempfile
import warnings

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from tqdm import TqdmWarning

import jaxnn
from jaxnn import data, gradcheck, models
from jaxnn.optim import sdlm
from jaxnn.run import TrainConfig, train_and_evaluate

# train_and_evaluate(progress=False) draws no bar, but tqdm.auto warns in a notebook without
# ipywidgets when it is imported
warnings.simplefilter("ignore", TqdmWarning)
print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## The first-order backward, checked three ways
#
# The whole network, as `jaxnn gradcheck --model lenet5_1998` checks it (the paper's 32×32
# input, every layer as published): the hand-derived gradient of Eq. 9 against `jax.grad`
# (every entry) and float64 finite differences (random entries per leaf).

# %%
report = gradcheck.check_model("lenet5_1998", m=2)
print(report.format())
assert report.ok

# %% [markdown]
# ## The second-order backward against JAX's exact Gauss–Newton diagonal
#
# `model.curvature` is the paper's diagonal, backpropagated by hand through every layer
# (`*_backward2` beside each layer's first-order backward). `sdlm.exact_diagonals` computes,
# by JAX, the exact Gauss–Newton diagonal $\sum_e J_e^\top H_L J_e$ split at F6's output,
# which keeps the cross terms the paper drops. On eight digits (padded to 32×32) at the
# paper's initialisation, per layer: the mean of each, and how many of the paper's $h_{kk}$
# are below $\mu$ (those parameters' steps are set by $\mu$, whichever estimate is used).

# %%
jax.config.update("jax_enable_x64", True)
digits = data.load("digits")
m = 8
X = data.in_layout(digits.X_train[:, :m], digits.image_shape, 0).astype(np.float64)
X = jax.image.resize(jnp.asarray(X), (m, 28, 28, 1), "bilinear")
X = jnp.pad(X, ((0, 0), (2, 2), (2, 2), (0, 0)))  # 28×28 centred in 32×32, as MNIST in the paper
Y = jnp.asarray(data.one_hot(digits.labels_train[:m], 10), jnp.float64)
lenet = models.build("lenet5_1998", (32, 32, 1), 10)
params = lenet.init(jax.random.PRNGKey(0), jnp.float64)
paper = lenet.curvature(params, X, Y)
_, exact = sdlm.exact_diagonals(lenet, params, X, Y, hessian=False)

rows = []
for layer in paper:
    for name in paper[layer]:
        a, b = (np.asarray(tree[layer][name]).ravel() for tree in (paper, exact))
        rows.append((f"{layer}.{name}", a.mean(), b.mean(), np.mean(a < sdlm.MU)))
        assert np.all(a >= 0) and np.all(np.isfinite(a))
        if layer in ("C5", "F6"):  # no cross term to drop (below): the exact diagonal
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-30)
print(f"{'parameters':<12} {'paper mean':>11} {'exact mean':>11} {'exact/paper':>12} {'h < mu':>7}")
for name, a, b, below in rows:
    print(f"{name:<12} {a:11.3g} {b:11.3g} {b / a:12.2f} {100 * below:6.0f}%")
jax.config.update("jax_enable_x64", False)

# %% [markdown]
# C5 and F6 are exact: the cost's Hessian at F6's output is diagonal (Eq. 9 is a squared
# distance to the class's code, $H_L = (2/m) I$), so the cross terms the paper drops vanish
# for the two layers that feed F6's units. Below C5 they no longer vanish and are positive on
# average: here the paper's estimate is 3–15× below the exact diagonal (S4's bias ≈ 1). At this
# initialisation nearly every $h_{kk}$ is far below $\mu$ — all but C5's and F6's biases — so
# nearly every parameter starts with the step $\eta/\mu$ whichever estimate is used; the
# figure shows the distribution per parameter group.

# %%
fig, ax = plt.subplots(figsize=(8, 3.6))
names = [name for name, *_ in rows]
ax.boxplot(
    [np.log10(np.asarray(paper[n.split(".")[0]][n.split(".")[1]]).ravel() + 1e-30) for n in names],
    showfliers=False,
)
ax.axhline(np.log10(sdlm.MU), color="crimson", ls="--", label="μ = 0.02")
ax.set(
    xticks=range(1, len(names) + 1),
    ylabel="log10 h_kk (paper's diagonal)",
    title="The paper's second derivatives per parameter group, 8 digits, initial weights",
)
ax.set_xticklabels(names, rotation=60, fontsize=7)
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## A short SDLM run on the digits
#
# `jaxnn train --model lenet5_1998 --dataset digits --optimizer sdlm`: the training path
# pads the 8×8 digits to the network's 32×32 input, re-estimates $h_{kk}$ on 500 training
# examples before each pass (the loop's `before_pass`), and steps every parameter by
# $\eta/(\mu + h_{kk})$ with the paper's schedule of $\eta$ over the passes. One example per
# update, as in the paper; $\eta_1 = 10^{-4}$, three passes. (The paper's
# $\eta_1 = 5 \cdot 10^{-4}$ did not learn here: test accuracy 0.11 after three passes at
# minibatches of 10; on MNIST it diverged, as the page reports.)

# %%
config = TrainConfig(
    model="lenet5_1998", dataset="digits", optimizer="sdlm", lr=0.0001, batch_size=1, epochs=3,
    eval_every=1, seed=0,
)  # fmt: skip
metrics = train_and_evaluate(config, tempfile.mkdtemp(prefix="lenet5-1998-sdlm-"), progress=False)
print({k: round(v, 4) for k, v in metrics.items() if k.endswith(("accuracy", "cost"))})
assert metrics["test_accuracy"] > 0.5  # chance is 0.1

# %% [markdown]
# On MNIST, the paper's full run (20 passes) and how it compares with the paper's 0.95 % and
# with Adam are on [LeNet-5 trained as published](../docs/lenet1998_sdlm.md).
