# ---
# jupyter:
#   jaxnn:
#     tier: 2
#     why: the VAE's check and its digits run take about 12 s on 2 cores
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Variational autoencoders
#
# The notes' outline ends with autoencoders and variational autoencoders ("generative models,
# variational techniques"), named without formulas. jaxnn's VAE (Kingma & Welling 2013) has a
# hand-derived backward pass through the reparameterisation; the derivation, the autoencoder
# beside PCA and the measured likelihoods on MNIST are in
# [autoencoders, VAEs and GANs](../docs/generative.md). Here: the VAE checked three ways, trained
# with a 2-D latent space on the digits in seconds, and that latent space drawn.
#
# The encoder gives $\mu$ and $\log\sigma^2$ of
# $q(z \mid x) = \mathcal N(\mu, \operatorname{diag}\sigma^2)$;
# $z = \mu + \sigma \odot \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$; the decoder gives
# the logits $\ell$ of a Bernoulli $p(x \mid z)$. With the prior $p(z) = \mathcal N(0, I)$, per
# example,
#
# $$-\text{ELBO} = \sum_j \bigl[\operatorname{softplus}(\ell_j) - x_j \ell_j\bigr]
#   - \tfrac12 \sum_k \bigl(1 + \log\sigma_k^2 - \mu_k^2 - \sigma_k^2\bigr),$$
#
# and for a fixed $\varepsilon$ the gradient is a plain backward pass (with the $1/m$ of the
# mean): $\partial J/\partial \ell = (\sigma(\ell) - x)/m$, back through the decoder to
# $\partial J/\partial z$, then
#
# $$\frac{\partial J}{\partial \mu} = \frac{\partial J}{\partial z} + \frac{\mu}{m}, \qquad
#   \frac{\partial J}{\partial \log\sigma^2} = \frac{\partial J}{\partial z} \odot \varepsilon
#   \odot \tfrac12 \sigma + \tfrac12\,\frac{\sigma^2 - 1}{m},$$
#
# and back through the encoder.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import data, gradcheck, train
from jaxnn.models import vae

print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## The backward pass, checked three ways
#
# Hand-derived against `jax.grad` and finite differences, float64, at the same $\varepsilon$
# (one fixed key), for the VAE and the plain autoencoder at their small check sizes:

# %%
for name in ("vae", "autoencoder"):
    report = gradcheck.check_model(name)
    print(f"{name}\n{report.format()}\n")
    assert report.ok

# %% [markdown]
# ## A VAE with a 2-D latent space on the digits
#
# 64-128-(2 + 2) | 2-128-64, ReLU, pixels binarised afresh at every step
# ($x \sim \text{Bernoulli}(\text{intensity})$), Adam at 0.003, batch 100, 80 epochs, the
# hand-derived gradient. A 2-D latent space is too small for good samples, but it can be
# drawn.

# %%
digits = data.load("digits")
X, X_test = jnp.asarray(digits.X_train), jnp.asarray(digits.X_test)
print("pixels in", float(X.min()), "to", float(X.max()), "; X", X.shape)
model = jaxnn.models.build("vae", (64,), 0, latent=2, units=(128,))
empty = jnp.zeros((0, X.shape[1]))  # the VAE learns from X alone: Y is (0, m)
params, history = train.fit(
    model.init(jax.random.PRNGKey(0)),
    X,
    empty,
    model.cost_and_grads,
    train.make_optimizer(3e-3, name="adam"),
    80,
    batch_size=100,
    key=jax.random.PRNGKey(1),
    stochastic=True,
)
test = model.metrics(params, X_test, jnp.zeros((0, X_test.shape[1])), key=jax.random.PRNGKey(2))
print(
    f"training −ELBO {history[0]:.1f} -> {history[-1]:.1f} nats per image; test: "
    + ", ".join(f"{k} {float(v):.1f}" for k, v in test.items())
)

# %% [markdown]
# ## The latent space
#
# Left: the posterior means $\mu(x)$ of the test digits, coloured by their label (which the
# VAE never saw): the classes gather in regions of the plane. Middle: the decoder's means
# $\sigma(\ell)$ over a grid of $z$ from $-2.5$ to $2.5$ — the plane the left panel colours,
# as images. Right: samples $z \sim \mathcal N(0, I)$ from the prior, decoded.

# %%
mu, logvar = vae.encode(model, params, X_test)
steps = np.linspace(-2.5, 2.5, 12)
grid_z = jnp.asarray([[a, b] for b in steps[::-1] for a in steps], jnp.float32).T  # (2, 144)
grid_images = np.asarray(vae.decode(model, params, grid_z)).T.reshape(12, 12, 8, 8)
samples = np.asarray(vae.sample(model, params, jax.random.PRNGKey(3), 64)).T.reshape(8, 8, 8, 8)


def tile(images):  # (rows, cols, 8, 8) -> one picture with 1-pixel gaps
    rows, cols = images.shape[:2]
    canvas = np.ones((rows * 9 + 1, cols * 9 + 1))
    for r in range(rows):
        for c in range(cols):
            canvas[1 + 9 * r : 9 * r + 9, 1 + 9 * c : 9 * c + 9] = images[r, c]
    return canvas


fig, (ax_mu, ax_grid, ax_samples) = plt.subplots(
    1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1.25, 1, 0.8]}
)
points = ax_mu.scatter(
    np.asarray(mu[0]), np.asarray(mu[1]), c=digits.labels_test, cmap="tab10", s=8
)
fig.colorbar(points, ax=ax_mu, ticks=range(10), label="label")
ax_mu.set(
    xlabel="μ₁",
    ylabel="μ₂",
    title="test digits' posterior means",
    xlim=(-3.5, 3.5),
    ylim=(-3.5, 3.5),
)
ax_grid.imshow(tile(grid_images), cmap="gray_r", extent=(-2.75, 2.75, -2.75, 2.75))
ax_grid.set(xlabel="z₁", ylabel="z₂", title="decoder means over a grid of z")
ax_samples.imshow(tile(samples), cmap="gray_r")
ax_samples.set(xticks=[], yticks=[], title="samples, z ~ N(0, I)")
fig.tight_layout()
plt.show()

# %% [markdown]
# How well do the classes separate in the plane? The accuracy of the nearest class mean of
# $\mu$ (means from the training digits) — a number for what the scatter shows:

# %%
mu_train, _ = vae.encode(model, params, X)
centres = jnp.stack([mu_train[:, digits.labels_train == c].mean(axis=1) for c in range(10)])
nearest = jnp.argmin(jnp.sum((mu.T[:, None, :] - centres[None]) ** 2, axis=-1), axis=1)
separation = float(jnp.mean(nearest == digits.labels_test))
print(f"nearest class mean in the latent plane: {separation:.3f} (chance 0.1)")
assert history[-1] < 0.8 * history[0] and separation > 0.4
