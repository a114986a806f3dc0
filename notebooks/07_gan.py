# ---
# jupyter:
#   jaxnn:
#     tier: 2
#     why: the GAN's two players' checks and run take about 9 s on 2 cores
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Generative adversarial networks
#
# The outline's "generative adversarial networks (generative models, adversarial techniques)"
# with hand-derived gradients for both players (Goodfellow et al. 2014). The derivation, the
# minimax and non-saturating losses measured side by side, and the MNIST runs are in
# [autoencoders, VAEs and GANs](../docs/generative.md). Here: both players' gradients checked
# three ways, a small GAN trained on the digits, and its samples epoch by epoch beside the two
# costs.
#
# $D(x) = \sigma(\ell)$ is the discriminator's probability that $x$ is real; $G(z)$ maps noise
# $z \sim \mathcal N(0, I)$ to an image. Over $m$ real and $m$ generated columns, written on
# the logits:
#
# $$J_D = \tfrac1m \textstyle\sum \bigl[\operatorname{softplus}(-\ell_{real})
#   + \operatorname{softplus}(\ell_{fake})\bigr],
#   \qquad J_G = -\tfrac1m \sum \log D(G(z)) = \tfrac1m \sum \operatorname{softplus}(-\ell_{fake})$$
#
# (the non-saturating generator loss). By hand:
# $\partial J_D/\partial \ell_{real} = (\sigma(\ell_{real}) - 1)/m$,
# $\partial J_D/\partial \ell_{fake} = \sigma(\ell_{fake})/m$, $\partial J_G/\partial \ell_{fake} =
# (\sigma(\ell_{fake}) - 1)/m$; then the discriminator's backward down to its input $\tilde x$,
# $\partial J/\partial Z_G = \partial J/\partial \tilde x \odot \sigma(Z_G)(1 - \sigma(Z_G))$, and
# the generator's backward. At the game's equilibrium $D = \frac12$ and
# $J_D = \log 4 \approx 1.386$.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import data, gradcheck, train
from jaxnn.models import gan

print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## Both players' gradients, checked three ways
#
# One block of rows per loss: $J_D$'s gradient and $J_G$'s, each over all the parameters
# (float64, fixed noise):

# %%
report = gradcheck.check_model("gan")
print(report.format())
assert report.ok

# %% [markdown]
# ## Training on the digits
#
# Generator 16-128-64 (sigmoid pixels), discriminator 64-128-1, ReLU; Adam at 0.001 with
# $\beta_1 = 0.5$, batch 64, 120 epochs. One step is one Adam step on $D$, then one on $G$
# through the updated $D$ (`gan`'s own `make_step`, which `train.model_step` returns); each
# epoch is one compiled `lax.scan` (`train.make_epoch`). After each epoch: $J_D$, $J_G$ and
# $D$'s mean outputs on the test digits and on fresh samples (`model.metrics`), and at a few
# epochs, 36 samples from the same fixed noise.

# %%
digits = data.load("digits")
X, X_test = jnp.asarray(digits.X_train), jnp.asarray(digits.X_test)
m, BATCH, EPOCHS, SNAPSHOTS = X.shape[1], 64, 120, (0, 5, 15, 40, 120)
model = jaxnn.models.build("gan", (64,), 0, noise=16, generator=(128,), discriminator=(128,))
init_opt_state, step = train.model_step(
    model, "hand", train.make_optimizer(1e-3, name="adam", beta1=0.5)
)
epoch = train.make_epoch(step, m, BATCH)
params = model.init(jax.random.PRNGKey(0))
opt_state = init_opt_state(params)
X_rows, Y_rows = train.device_rows(X, jnp.zeros((0, m)))
key, fixed_z = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
metrics = jax.jit(model.metrics)
no_targets = jnp.zeros((0, X_test.shape[1]))
history, snapshots = [], {0: gan.sample(model, params, fixed_z, 36)}
for index in range(EPOCHS):
    params, opt_state, _ = epoch(
        params,
        opt_state,
        train.epoch_order(key, index, m),
        X_rows,
        Y_rows,
        train.epoch_key(key, index),
    )
    values = metrics(params, X_test, no_targets, key=jax.random.fold_in(key, 10_000 + index))
    history.append({k: float(v) for k, v in values.items()})
    if index + 1 in SNAPSHOTS:
        snapshots[index + 1] = gan.sample(model, params, fixed_z, 36)
last = history[-1]
print(
    f"after {EPOCHS} epochs: J_D {last['cost']:.3f}, J_G {last['generator_loss']:.3f}, "
    f"D(real) {last['d_real']:.2f}, D(G(z)) {last['d_fake']:.2f}"
)

# %% [markdown]
# ## Samples at several epochs, beside D's and G's costs
#
# Top: the same 36 noise vectors through the generator at epochs 0 (the initial params), 5,
# 15, 40 and 120. Bottom: the two costs per epoch, and what $D$ says about the real test
# digits and about fresh samples; the dotted line is the equilibrium's $\log 4$ and $\frac12$.


# %%
def tile(columns):  # (64, 36) -> a 6×6 picture with 1-pixel gaps
    canvas = np.ones((55, 55))
    for i, image in enumerate(np.asarray(columns).T.reshape(36, 8, 8)):
        r, c = divmod(i, 6)
        canvas[1 + 9 * r : 9 * r + 9, 1 + 9 * c : 9 * c + 9] = image
    return canvas


fig = plt.figure(figsize=(14, 7))
grid = fig.add_gridspec(2, len(SNAPSHOTS), height_ratios=[1, 1.1])
for i, (at, samples) in enumerate(snapshots.items()):
    ax = fig.add_subplot(grid[0, i])
    ax.imshow(tile(samples), cmap="gray_r", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[], title=f"epoch {at}")
epochs = np.arange(1, EPOCHS + 1)
ax_cost = fig.add_subplot(grid[1, : len(SNAPSHOTS) // 2 + 1])
ax_cost.plot(epochs, [h["cost"] for h in history], label="J_D (discriminator)")
ax_cost.plot(epochs, [h["generator_loss"] for h in history], label="J_G (generator)")
ax_cost.axhline(np.log(4), color="gray", linestyle=":", label="log 4")
ax_cost.set(xlabel="epoch", ylabel="cost (test digits, fresh noise)", title="the two costs")
ax_cost.legend(fontsize=8)
ax_d = fig.add_subplot(grid[1, len(SNAPSHOTS) // 2 + 1 :])
ax_d.plot(epochs, [h["d_real"] for h in history], label="D(x), real test digits")
ax_d.plot(epochs, [h["d_fake"] for h in history], label="D(G(z)), samples")
ax_d.axhline(0.5, color="gray", linestyle=":")
ax_d.set(xlabel="epoch", ylabel="mean D", ylim=(0, 1), title="the discriminator's verdicts")
ax_d.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# A number for what the pictures show: the mean distance from each sample to its nearest
# training digit (pixels in $[0, 1]$), at each snapshot — from noise to digit-like images.


# %%
def nearest_distance(samples):
    d2 = jnp.sum((samples.T[:, None, :] - X.T[None]) ** 2, axis=-1)
    return float(jnp.mean(jnp.sqrt(jnp.min(d2, axis=1))))


distances = {at: nearest_distance(s) for at, s in snapshots.items()}
print({at: round(d, 2) for at, d in distances.items()})
real_to_train = nearest_distance(X_test[:, :36])
print(f"real test digits to their nearest training digit: {real_to_train:.2f}")
assert distances[EPOCHS] < 0.6 * distances[0] and 0.05 < last["d_fake"] and last["d_real"] < 0.95
