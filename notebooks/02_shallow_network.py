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
# # 2–4. Computation graphs and a shallow network on planar data
#
# The notes' §2 (computation graphs), §3 (neurons and activations) and the two-layer half of
# §4 (backpropagation), run: the worked examples of the computation graph, the two-layer
# backward pass checked three ways, and the question the planar "flower" data asks — how many
# hidden units does a network need to separate what logistic regression cannot? Derivations:
# [logistic regression and MLPs](../docs/models.md); the printed values checked:
# [the notes' claims](../docs/notes.md).

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import data, gradcheck, mlp

print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## The computation graphs of §2
#
# $J(a, b, c) = 3(a + bc)$ at $(5, 3, 2)$: the notes print $J = 33$ and
# $\partial J/\partial(a, b, c) = (3, 6, 6)$. And $f(x, y, z) = (x + y)z$ at $(-2, 5, -4)$:
# printed $(-4, -4, 3)$. `jax.grad` walks the same graph backwards — and disagrees once:
# $\partial J/\partial c = 3b = 9$, not the printed $3 \cdot 2 = 6$ (that is $3c$; one of
# the errata `jaxnn verify-notes` reports, [the notes' claims](../docs/notes.md)).

# %%
J = lambda a, b, c: 3 * (a + b * c)  # noqa: E731
f = lambda x, y, z: (x + y) * z  # noqa: E731
dJ = jax.grad(J, argnums=(0, 1, 2))(5.0, 3.0, 2.0)
df = jax.grad(f, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
print("J =", J(5.0, 3.0, 2.0), " dJ/d(a,b,c) =", dJ)
print("df/d(x,y,z) =", df)
assert J(5.0, 3.0, 2.0) == 33 and dJ == (3.0, 6.0, 9.0)  # the notes print 6 for the last
assert df == (-4.0, -4.0, 3.0)

# %% [markdown]
# ## The two-layer network and its backward pass
#
# Column convention, $X$ $(n_x, m)$: $Z^{[1]} = W^{[1]}X + b^{[1]}$, $A^{[1]} = \tanh Z^{[1]}$,
# $Z^{[2]} = W^{[2]}A^{[1]} + b^{[2]}$, $A^{[2]} = \sigma(Z^{[2]})$, cross-entropy cost. The
# notes' §4:
#
# $$\begin{aligned}
# dZ^{[2]} &= A^{[2]} - Y, & dW^{[2]} &= \tfrac1m dZ^{[2]} A^{[1]\top}, &
#   db^{[2]} &= \tfrac1m \textstyle\sum_{\text{cols}} dZ^{[2]},\\
# dZ^{[1]} &= W^{[2]\top} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]}), &
#   dW^{[1]} &= \tfrac1m dZ^{[1]} X^\top, &
#   db^{[1]} &= \tfrac1m \textstyle\sum_{\text{cols}} dZ^{[1]},
# \end{aligned}$$
#
# with $g' = 1 - A^2$ for tanh. `mlp.cost_and_grads` is exactly this (`jaxnn.mlp.backward`).

# %%
X_np, labels = data.synthetic.planar_flower(m=400, seed=0)
X, Y = jnp.asarray(X_np), jnp.asarray(labels[None, :], jnp.float32)
print("X", X.shape, "Y", Y.shape)

with jax.enable_x64(True):
    X64, Y64 = X.astype(jnp.float64), Y.astype(jnp.float64)
    point = mlp.init(jax.random.PRNGKey(1), [2, 4, 1], dtype=jnp.float64)
    point = {k: v + 0.1 if k.startswith("b") else v for k, v in point.items()}  # b off zero
    _, hand = mlp.cost_and_grads(point, X64, Y64, "tanh", "sigmoid")
    report = gradcheck.check(lambda p: mlp.cost(p, X64, Y64, "tanh", "sigmoid"), point, hand)
print(report.format())
assert report.ok

# %% [markdown]
# ## Decision boundary by hidden-layer size
#
# Full-batch gradient descent ($\alpha = 1.2$, 2000 steps, the hand-derived gradient) for
# logistic regression (no hidden layer: one straight line) and 1 to 50 tanh units. The
# background is the network's $a \ge 0.5$ region.
#
# All the hidden sizes train as one compiled program: each network is padded to 50 units
# whose weights in and out are zero. Such a unit is dead for good — its activation is
# $\tanh 0 = 0$, so $dW^{[2]}$ has a zero column for it, and its zero row of $W^{[2]\top}$
# gives it $dZ^{[1]} = 0$ — which is the notes' warning about initializing weights to zero,
# put to use. The run asserts the padding is still exactly zero at the end.

# %%
SIZES, WIDTH, ALPHA, STEPS = (1, 2, 3, 5, 20, 50), 50, 1.2, 2000
grid_x, grid_y = np.meshgrid(np.linspace(-4.5, 4.5, 120), np.linspace(-4.5, 4.5, 120))
grid = jnp.asarray(np.stack([grid_x.ravel(), grid_y.ravel()]), jnp.float32)


def descend(params):
    def one(params, _):
        J, grads = mlp.cost_and_grads(params, X, Y, "tanh", "sigmoid")
        return jax.tree.map(lambda p, g: p - ALPHA * g, params, grads), J

    return jax.lax.scan(one, params, None, length=STEPS)


def padded(size):
    """mlp.init's 2-size-1 network, zero-padded to 2-WIDTH-1."""
    p = mlp.init(jax.random.PRNGKey(0), [2, size, 1])
    extra = WIDTH - size
    return {
        "W1": jnp.pad(p["W1"], ((0, extra), (0, 0))),
        "b1": jnp.pad(p["b1"], ((0, extra), (0, 0))),
        "W2": jnp.pad(p["W2"], ((0, 0), (0, extra))),
        "b2": p["b2"],
    }


def outcome(params):
    accuracy = mlp.accuracy(params, X, Y, "tanh", "sigmoid")
    return accuracy, mlp.predict(params, grid, "tanh", "sigmoid").reshape(grid_x.shape)


stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[padded(s) for s in SIZES])
trained, costs = jax.jit(jax.vmap(descend))(stacked)
accuracies, surfaces = jax.jit(jax.vmap(outcome))(trained)
for index, size in enumerate(SIZES):  # the padding stayed dead: these are 2-size-1 networks
    assert not jnp.any(trained["W1"][index, size:]) and not jnp.any(trained["W2"][index, :, size:])
logistic_params, logistic_costs = jax.jit(descend)(mlp.init(jax.random.PRNGKey(0), [2, 1]))

results = {0: (*outcome(logistic_params), logistic_costs)}
results.update({size: (accuracies[i], surfaces[i], costs[i]) for i, size in enumerate(SIZES)})
for size, (accuracy, _, cost) in results.items():
    print(
        f"{size:3d} hidden units: accuracy {float(accuracy):.3f}, final cost {float(cost[-1]):.3f}"
    )

fig, axes = plt.subplots(2, 4, figsize=(14, 6.6))
for ax, (size, (accuracy, surface, _)) in zip(axes.ravel(), results.items(), strict=False):
    ax.contourf(grid_x, grid_y, np.asarray(surface), cmap="RdBu", alpha=0.35)
    ax.scatter(X_np[0], X_np[1], c=labels, cmap="RdBu", s=5)
    title = "logistic regression" if size == 0 else f"{size} hidden units"
    ax.set(title=f"{title}: {float(accuracy):.1%}", xticks=[], yticks=[])
ax = axes.ravel()[-1]
for size, (_, _, costs) in results.items():
    ax.plot(np.asarray(costs), label=str(size))
ax.set(xlabel="step", ylabel="cost J", yscale="log", title="cost by hidden units")
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# A straight line gets about half the petals right; one hidden unit is still one line bent
# by tanh; from 3–5 units the boundary follows the petals, and 20–50 units fit the training
# points more closely still (with no test set here, only the smoother boundaries of 5 units
# say which one to trust).

# %%
assert results[0][0] < 0.7 and results[5][0] > 0.85
