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
# # 1. Logistic regression
#
# The notes' first chapter, run: the model, its hand-derived gradient (vectorized and as the
# notes' per-example loop), the gradient checked three ways, gradient descent on a binary
# image problem, and what the learned weights look at. The derivation and the notes' errata
# are in [logistic regression and MLPs](../docs/models.md) and
# [the notes' claims](../docs/notes.md).
#
# For one example $x$ (a column of $n_x$ features) and label $y \in \{0, 1\}$:
#
# $$z = w^\top x + b, \qquad a = \sigma(z) = \frac{1}{1 + e^{-z}},$$
#
# $$\mathcal{L}(a, y) = -\bigl(y \log a + (1 - y) \log (1 - a)\bigr),$$
#
# and over $m$ examples $J(w, b) = \frac1m \sum_i \mathcal{L}(a^{(i)}, y^{(i)})$. The chain
# rule the notes print step by step collapses to $\frac{\partial \mathcal{L}}{\partial z} = a - y$,
# and vectorized over the columns of $X$ $(n_x, m)$:
#
# $$dZ = A - Y, \qquad dw = \tfrac1m X\, dZ^\top, \qquad db = \tfrac1m \textstyle\sum dZ.$$

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import data, gradcheck, logistic

print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## The data: "3" against "8"
#
# scikit-learn's bundled 8×8 digits (no download), one example per column: `X` is
# $(64, m)$, `Y` is $(1, m)$ with 1 for a "3".

# %%
digits = data.load("digits")


def three_vs_eight(X, labels):
    keep = (labels == 3) | (labels == 8)
    return jnp.asarray(X[:, keep]), jnp.asarray((labels[keep] == 3)[None, :], jnp.float32)


X, Y = three_vs_eight(digits.X_train, digits.labels_train)
X_test, Y_test = three_vs_eight(digits.X_test, digits.labels_test)
print("X", X.shape, "Y", Y.shape, "test", X_test.shape)

# %% [markdown]
# ## The gradient, three ways
#
# `logistic.grads` is the vectorized formula above; `logistic.grads_loop` is the notes'
# per-example loop (`dw += x(i) dz(i)`, then divide by $m$). `gradcheck.check` compares the
# hand-derived gradient with `jax.grad` of the cost and with central finite differences,
# leaf by leaf, by the relative error
# $\lVert g_1 - g_2 \rVert / (\lVert g_1 \rVert + \lVert g_2 \rVert)$.
# In float64 at a random point (at $w = 0$ every example has $a = 1/2$, too easy a test):

# %%
with jax.enable_x64(True):
    X64, Y64 = X.astype(jnp.float64), Y.astype(jnp.float64)
    point = {
        "w": 0.1 * jax.random.normal(jax.random.PRNGKey(0), (64, 1), jnp.float64),
        "b": jnp.asarray(0.3, jnp.float64),
    }
    hand = logistic.grads(point, X64, Y64)
    loop = logistic.grads_loop(point, X64, Y64)
    print("vectorized vs the notes' loop:", gradcheck.relative_error(hand, loop))
    report = gradcheck.check(lambda p: logistic.cost(p, X64, Y64), point, hand)
print(report.format())
assert report.ok and gradcheck.relative_error(hand, loop) < 1e-12

# %% [markdown]
# The notes print a second copy of the loop with `dz(i) = a(i)(1 − a(i))` (that is $da/dz$,
# not $dL/dz$). The same check catches it:

# %%
with jax.enable_x64(True):
    A = logistic.forward(point, X64)
    dZ_wrong = A * (1 - A)
    wrong = {"w": X64 @ dZ_wrong.T / X64.shape[1], "b": jnp.mean(dZ_wrong)}
    wrong_report = gradcheck.check(lambda p: logistic.cost(p, X64, Y64), point, wrong)
print(wrong_report.format())
assert not wrong_report.ok

# %% [markdown]
# ## Gradient descent
#
# $w := w - \alpha\, dw$, $b := b - \alpha\, db$, full batch, from $w = 0$ (logistic regression
# has no symmetry to break), $\alpha = 0.5$, 300 iterations: the notes' loop over iterations is
# the only loop left, here a `lax.scan`.

# %%
ALPHA, ITERATIONS = 0.5, 300


@jax.jit
def descend(params):
    def one(params, _):
        d = logistic.grads(params, X, Y)
        return {k: params[k] - ALPHA * d[k] for k in params}, logistic.cost(params, X, Y)

    return jax.lax.scan(one, params, None, length=ITERATIONS)


params, costs = descend(logistic.init(64))
train_accuracy = float(jnp.mean(logistic.predict(params, X) == Y))
test_accuracy = float(jnp.mean(logistic.predict(params, X_test) == Y_test))
print(
    f"cost {float(costs[0]):.3f} -> {float(costs[-1]):.4f}; "
    f"accuracy train {train_accuracy:.3f}, test {test_accuracy:.3f}"
)
assert costs[-1] < 0.1 * costs[0] and test_accuracy > 0.9

# %% [markdown]
# ## What the classifier looks at
#
# The cost falls steadily (the cross-entropy cost is convex in $w, b$); the learned $w$,
# shown as an 8×8 image, is the template the score $w^\top x$ matches: red pixels vote for
# "3", blue for "8"; beside it, the mean "3" and the mean "8" of the training set.

# %%
fig, (ax_cost, ax_w, ax_3, ax_8) = plt.subplots(1, 4, figsize=(13, 3))
ax_cost.plot(np.asarray(costs))
ax_cost.set(xlabel="iteration", ylabel="cost J", yscale="log", title="gradient descent")
limit = float(jnp.max(jnp.abs(params["w"])))
image = ax_w.imshow(np.asarray(params["w"]).reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
ax_w.set_title("learned w (red: '3')")
fig.colorbar(image, ax=ax_w)
for ax, digit in ((ax_3, 3), (ax_8, 8)):
    mean = digits.X_train[:, digits.labels_train == digit].mean(axis=1)
    ax.imshow(mean.reshape(8, 8), cmap="gray_r")
    ax.set_title(f"mean '{digit}'")
for ax in (ax_w, ax_3, ax_8):
    ax.set(xticks=[], yticks=[])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Why not the squared error?
#
# The notes say the squared error $\frac12(\sigma(z) - y)^2$ makes the cost non-convex in
# $w, b$. Along one direction in $w$ through the trained point (float64, the cross-entropy
# from the logits as `logistic.cost` computes it), the cross-entropy cost is convex — its
# second differences are $\ge 0$ up to round-off — and the squared error is not: it flattens
# into a plateau where $\sigma$ saturates, where gradient descent crawls.

# %%
with jax.enable_x64(True):
    w64, b64 = params["w"].astype(jnp.float64), params["b"].astype(jnp.float64)
    direction = w64 / jnp.linalg.norm(w64)
    ts = jnp.linspace(-40.0, 40.0, 401)

    def at(t):
        return {"w": w64 + t * direction, "b": b64}

    curves = {
        "cross-entropy": jax.vmap(lambda t: logistic.cost(at(t), X64, Y64))(ts),
        "squared error": jax.vmap(
            lambda t: jnp.mean(0.5 * (logistic.forward(at(t), X64) - Y64) ** 2)
        )(ts),
    }
second = {name: np.diff(np.asarray(J), 2) for name, J in curves.items()}
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for ax, (name, J) in zip(axes, curves.items(), strict=True):
    ax.plot(np.asarray(ts), np.asarray(J))
    title = f"{name}: smallest 2nd difference {second[name].min():.1e}"
    ax.set(xlabel="t (w + t·direction)", ylabel="J", title=title)
fig.tight_layout()
plt.show()
assert second["cross-entropy"].min() > -1e-12 and second["squared error"].min() < -1e-6
