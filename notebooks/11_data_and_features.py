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
# # 6. Data and features
#
# The notes' §6: an example is a feature vector $x$ with a label $y$; categorical features
# become numbers through a **vocabulary** with an "other" bucket for values never seen, then
# **one-hot** (one category) or **multi-hot** (several) vectors; and **feature scaling**
# helps gradient descent. Here each claim is checked on `jaxnn.data.features`, and the last
# one measured: logistic regression by gradient descent on raw and on standardized features.
# (The notes' third advice, a loss that makes the cost convex in $w, b$, is chapter 1's
# notebook.)

# %%
import itertools

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import gradcheck, logistic
from jaxnn.data import features

print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## A vocabulary with an "other" bucket
#
# The notes' example: city names map to 1, 2, 3 and every city not in the vocabulary to the
# "other" value 4 (here 0-based: 0, 1, 2 and 3).

# %%
cities = features.Vocabulary(["Beijing", "Shanghai", "Shenzhen"])
codes = cities.encode(["Shanghai", "Paris", "Beijing", "Lagos"])
print("codes", codes.tolist(), "of", len(cities), "values (3 cities + other)")
assert codes.tolist() == [1, 3, 0, 3]

# %% [markdown]
# ## One-hot and multi-hot
#
# One-hot columns put every pair of categories at the same distance, $\sqrt 2$: no category
# is "closer" to another, as the integer codes 1, 2, 3 would suggest. A person with several
# occupations gets a multi-hot vector (the notes' `0101`).

# %%
Y = features.one_hot(np.arange(len(cities)), len(cities))  # (4, 4): one column per value
distances = {
    (i, j): float(np.linalg.norm(Y[:, i] - Y[:, j]))
    for i, j in itertools.combinations(range(len(cities)), 2)
}
print("one-hot distances:", {k: round(v, 4) for k, v in distances.items()})
assert np.allclose(list(distances.values()), np.sqrt(2))
occupations = features.multi_hot([[1, 3]], 4)[:, 0]
print("multi-hot of occupations {1, 3}:", "".join(str(int(v)) for v in occupations))
assert "".join(str(int(v)) for v in occupations) == "0101"

# %% [markdown]
# ## Feature scaling helps gradient descent
#
# Two features on very different scales — a size in square metres (tens to hundreds) and a
# fraction in $[0, 1]$ — and a label that depends on both. The cost of logistic regression is
# a long narrow valley in $(w_1, w_2)$ on the raw features: a learning rate small enough not
# to diverge along the steep direction crawls along the flat one. Standardized features,
# $(x - \mu_{train}) / \sigma_{train}$ (`features.Standardizer`, fitted on the training rows
# only), make the valley round. First the gradient, checked three ways on the scaled data:

# %%
rng = np.random.default_rng(0)
m = 400
size = rng.uniform(20, 200, m)
fraction = rng.uniform(0, 1, m)
labels = (0.02 * (size - 110) + 3.0 * (fraction - 0.5) + rng.normal(0, 0.5, m) > 0).astype(int)
raw = np.stack([size, fraction], axis=1)  # rows (m, 2)
scaler = features.Standardizer.fit(raw)
X_raw = jnp.asarray(features.to_columns(raw), jnp.float32)  # columns (2, m)
X_std = jnp.asarray(features.to_columns(scaler.transform(raw)), jnp.float32)
Y_lab = jnp.asarray(labels[None, :], jnp.float32)

with jax.enable_x64(True):
    X64, Y64 = X_std.astype(jnp.float64), Y_lab.astype(jnp.float64)
    point = {"w": jnp.asarray([[0.3], [-0.2]], jnp.float64), "b": jnp.asarray(0.1, jnp.float64)}
    report = gradcheck.check(
        lambda p: logistic.cost(p, X64, Y64), point, logistic.grads(point, X64, Y64)
    )
print(report.format())
assert report.ok

# %% [markdown]
# Then gradient descent from $w = 0$, 200 iterations, on each version of the features, each at
# the learning rate of the grid $10^{-6}, 10^{-5}, \dots, 10$ that ends at the lowest cost:


# %%
def descend(X, alpha, iterations=200):
    def one(params, _):
        d = logistic.grads(params, X, Y_lab)
        return {k: params[k] - alpha * d[k] for k in params}, logistic.cost(params, X, Y_lab)

    return jax.lax.scan(one, logistic.init(2), None, length=iterations)


rates = [10.0**k for k in range(-6, 2)]
results = {}
for name, X in (("raw", X_raw), ("standardized", X_std)):
    runs = {alpha: descend(X, alpha) for alpha in rates}
    finite = {a: r for a, r in runs.items() if bool(jnp.all(jnp.isfinite(r[1])))}
    best = min(finite, key=lambda a: float(finite[a][1][-1]))
    params, costs = finite[best]
    accuracy = float(jnp.mean(logistic.predict(params, X) == Y_lab))
    results[name] = (best, costs, accuracy)
    print(f"{name:>13}: best alpha {best:g}, cost {float(costs[-1]):.4f}, accuracy {accuracy:.3f}")
assert float(results["standardized"][1][-1]) < float(results["raw"][1][-1]) - 0.05
assert results["standardized"][2] > results["raw"][2]

# %% [markdown]
# Left: the cost per iteration, each at its best rate. Right: the cost's contours over the
# same window of $(w_1, w_2)$ at $b = 0$: on the raw features the cost changes far faster along
# $w_1$ (the size, in the hundreds) than along $w_2$ — a narrow valley whose floor hugs
# $w_1 \approx 0$, where one learning rate cannot suit both directions; standardized, both
# directions have comparable curvature.

# %%
fig, (ax, ax_raw, ax_std) = plt.subplots(1, 3, figsize=(13, 3.8))
for name, (alpha, costs, _) in results.items():
    ax.plot(np.asarray(costs), label=f"{name} (α = {alpha:g})")
ax.set(xlabel="iteration", ylabel="cost J", title="gradient descent, best rate each", yscale="log")
ax.legend()
grid = np.linspace(-3, 3, 121)
panels = {"raw": (ax_raw, X_raw), "standardized": (ax_std, X_std)}
for name, (panel, X) in panels.items():
    W1, W2 = np.meshgrid(grid, grid)
    w = jnp.asarray(np.stack([W1.ravel(), W2.ravel()]), jnp.float32)
    J = jax.vmap(lambda w_col, X=X: logistic.cost({"w": w_col[:, None], "b": 0.0}, X, Y_lab))(w.T)
    panel.contour(W1, W2, np.log(np.asarray(J).reshape(W1.shape)), levels=20)
    panel.set(xlabel="w1", ylabel="w2", title=f"log J over (w1, w2), {name} features")
fig.tight_layout()
plt.show()
