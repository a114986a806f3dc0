# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4–5. The L-layer softmax network and its training
#
# The notes' §4 (backpropagation through $L$ layers with a softmax output) and §5 (training:
# minibatch SGD, the learning rate, initialization), run on the bundled 8×8 digits through
# jaxnn's one training path (`jaxnn.train_and_evaluate`). The derivation and its checks:
# [logistic regression and MLPs](../docs/models.md); the homework's measured results:
# [experiments and results](../docs/results.md).
#
# Forward, for $k = 1 \dots L$: $a^{(k)} = W^{(k)} h^{(k-1)} + b^{(k)}$,
# $h^{(k)} = g(a^{(k)})$, $h^{(0)} = x$, $f(x) = \operatorname{softmax}(a^{(L)})$, loss
# $\ell = -\log f_y(x)$. Backward (the notes' §4, cs231n style):
#
# $$\nabla_{a^{(L)}} \ell = -(e(y) - f(x)), \qquad
#   \nabla_{W^{(k)}} \ell = \nabla_{a^{(k)}} \ell \; h^{(k-1)\top}, \qquad
#   \nabla_{h^{(k-1)}} \ell = W^{(k)\top} \nabla_{a^{(k)}} \ell, \qquad
#   \nabla_{a^{(k-1)}} \ell = \nabla_{h^{(k-1)}} \ell \odot g'(a^{(k-1)}).$$
#
# (The notes write the weight gradient with the index shifted by one, $\nabla_{a^{(k+1)}}\ell \,
# h^{(k)\top}$ for $W^{(k)}$, and the last factor as $g'(h)$: both errata in
# [the notes' claims](../docs/notes.md).) Over $m$ columns each gradient is the mean.

# %%
import json
import os
import tempfile
import warnings

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from tqdm import TqdmWarning

import jaxnn
from jaxnn import data, gradcheck, mlp

# train_and_evaluate(progress=False) draws no bar, but tqdm.auto warns in a notebook without
# ipywidgets when it is imported
warnings.simplefilter("ignore", TqdmWarning)
print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## The backward pass, checked three ways
#
# A 64-32-16-10 ReLU network on 20 real digits, float64: the hand-derived gradient
# (`mlp.cost_and_grads`) against `jax.grad` and finite differences, every leaf; then the same
# with the L2 term of §5 ($\lambda \sum_k \lVert W^{(k)} \rVert_F^2$, gradient $2\lambda W$,
# biases exempt).

# %%
digits = data.load("digits")
with jax.enable_x64(True):
    X20 = jnp.asarray(digits.X_train[:, :20], jnp.float64)
    Y20 = jnp.asarray(data.one_hot(digits.labels_train[:20], 10), jnp.float64)
    point = mlp.init(jax.random.PRNGKey(0), [64, 32, 16, 10], dtype=jnp.float64)
    point = {k: v + 0.05 if k.startswith("b") else v for k, v in point.items()}  # b off zero
    for l2 in (0.0, 0.01):
        _, hand = mlp.cost_and_grads(point, X20, Y20, "relu", "softmax", l2)
        report = gradcheck.check(
            lambda p, l2=l2: mlp.cost(p, X20, Y20, "relu", "softmax", l2), point, hand
        )
        print(f"λ = {l2}\n{report.format()}\n")
        assert report.ok

# %% [markdown]
# ## Training through `train_and_evaluate`
#
# The notes' homework settings (SGD, learning rate 0.1, batch 200, ReLU, Glorot-uniform
# weights $U[-\sqrt6/\sqrt{n_{in} + n_{out}}, \cdot]$, zero biases), scaled to the digits:
# a 64-64-10 network, batch 32, 30 epochs. Once with the hand-derived gradient and once with
# `jax.grad` (`grads="autodiff"`), same seed: the two runs should be the same run.

# %%
runs = {}
for grads in ("hand", "autodiff"):
    out = tempfile.mkdtemp(prefix=f"digits-{grads}-")
    config = jaxnn.TrainConfig(
        dataset="digits",
        layers=(64, 64, 10),
        hidden="relu",
        batch_size=32,
        lr=0.1,
        epochs=30,
        grads=grads,
        checkpoint_secs=1e9,
    )
    metrics = jaxnn.train_and_evaluate(config, out, progress=False)
    with open(os.path.join(out, "history.jsonl")) as file:
        runs[grads] = ([json.loads(line) for line in file if line.strip()], metrics)
    print(
        f"{grads:8s}: test accuracy {metrics['test_accuracy']:.4f}, "
        f"{metrics['train_seconds']:.2f} s of training"
    )

# %%
fig, (ax_cost, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.2))
for grads, (rows, _) in runs.items():
    style = {"linestyle": "--"} if grads == "autodiff" else {}
    epochs = [r["epoch"] for r in rows]
    ax_cost.plot(epochs, [r["cost"] for r in rows], label=f"train ({grads})", **style)
    ax_cost.plot(epochs, [r["test_cost"] for r in rows], label=f"test ({grads})", **style)
    ax_acc.plot(epochs, [r["test_accuracy"] for r in rows], label=f"test ({grads})", **style)
ax_cost.set(xlabel="epoch", ylabel="cost J", yscale="log", title="64-64-10 ReLU on digits")
ax_acc.set(xlabel="epoch", ylabel="accuracy", title="test accuracy")
ax_cost.legend(fontsize=8)
ax_acc.legend(fontsize=8)
fig.tight_layout()
plt.show()
hand_acc, auto_acc = (runs[g][1]["test_accuracy"] for g in ("hand", "autodiff"))
assert hand_acc > 0.9 and abs(hand_acc - auto_acc) < 0.01

# %% [markdown]
# ## The learning rate (§5: "too small is slow, too large overshoots")
#
# Full-batch gradient descent on the same network, from the same start, for five learning
# rates at once (one compiled program, `jax.vmap` over $\alpha$):

# %%
X = jnp.asarray(digits.X_train)
Y = jnp.asarray(data.one_hot(digits.labels_train, 10))
start = mlp.init(jax.random.PRNGKey(0), [64, 64, 10])
ALPHAS = (0.01, 0.1, 0.5, 2.0, 8.0)


def descend(alpha):
    def one(params, _):
        J, grads = mlp.cost_and_grads(params, X, Y, "relu", "softmax")
        return jax.tree.map(lambda p, g: p - alpha * g, params, grads), J

    return jax.lax.scan(one, start, None, length=200)[1]


costs = np.asarray(jax.jit(jax.vmap(descend))(jnp.asarray(ALPHAS)))
fig, ax = plt.subplots(figsize=(6, 3.4))
for alpha, curve in zip(ALPHAS, costs, strict=True):
    ax.plot(curve, label=f"α = {alpha:g}")
ax.set(xlabel="step", ylabel="cost J", yscale="log", title="full-batch gradient descent")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
final = dict(zip(ALPHAS, costs[:, -1].tolist(), strict=True))
print({a: round(c, 4) for a, c in final.items()})
assert final[0.5] < final[0.01] and not final[8.0] < final[0.5]  # slow; and overshoot
