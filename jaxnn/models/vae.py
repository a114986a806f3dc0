"""The variational autoencoder (Kingma & Welling 2013) with a Bernoulli decoder, hand-derived.

Encoder (a dense stack, ``jaxnn.models.dense_stack``) to ``2J`` outputs, split into the mean
and the log-variance of the Gaussian ``q(z|x) = N(μ, diag σ²)``; the reparameterisation
draws ``ε ~ N(0, I)`` and sets ``z = μ + exp(½ log σ²) ⊙ ε``; the decoder (a dense stack)
gives the logits ``ℓ`` of ``p(x|z) = Π_j Bernoulli(x_j; σ(ℓ_j))``. With the prior
``p(z) = N(0, I)``, the negative ELBO of one example, for one ε, is

    −ELBO = −log p(x|z) + KL(q(z|x) ‖ p(z))
          = Σ_j [softplus(ℓ_j) − x_j ℓ_j]  −  ½ Σ_k (1 + log σ²_k − μ²_k − σ²_k)

and the cost is its mean over the m examples (nats per image).

Its gradient for a fixed ε (the reparameterisation makes z a differentiable function of
μ and log σ², so the estimate is a plain backward pass); with the 1/m of the mean:

    ∂J/∂ℓ       = (σ(ℓ) − x) / m                           Bernoulli + logits, as the MLP's
    ∂J/∂z       = W_dec-backward of ∂J/∂ℓ                  the decoder's layers in reverse
    ∂J/∂μ       = ∂J/∂z + μ / m                            ∂z/∂μ = 1,  ∂KL/∂μ = μ
    ∂J/∂log σ²  = ∂J/∂z ⊙ ε ⊙ ½ exp(½ log σ²)              ∂z/∂log σ² = ½ σ ε
                  + ½ (σ² − 1) / m                         ∂KL/∂log σ² = ½ (σ² − 1)

then the encoder's layers in reverse from ``[∂J/∂μ; ∂J/∂log σ²]``. ``jax.grad`` of the cost
with the same ε (the same key) must agree; finite differences too.

Binarisation (``binarize``): the decoder is Bernoulli, so the pixels it scores are 0/1.
``sample`` (default) draws ``x ~ Bernoulli(intensity)`` afresh at every step from the step's
key ("dynamic" binarisation; evaluation uses the run's fixed evaluation key, so the test
set is one fixed draw); ``threshold`` fixes ``x = [intensity > ½]`` once and for all;
``none`` scores the intensities themselves (not a likelihood: the bound is then no log p(x)).

``log_likelihood`` estimates ``−log p(x)`` by importance sampling with ``k`` samples from
q (Burda et al.'s bound ``log (1/k) Σ_k p(x, z_k) / q(z_k|x)``, which tightens as k grows).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from jaxnn import initializers, losses, validate
from jaxnn.errors import ConfigError
from jaxnn.models import Model
from jaxnn.models import dense_stack as stack

Array = jax.Array

BINARIZATIONS = {
    "sample": "x ~ Bernoulli(pixel), resampled each step",
    "threshold": "pixel > 0.5, fixed",
    "none": "the intensities themselves",
}
LOG_2PI = math.log(2 * math.pi)


@functools.lru_cache(maxsize=32)
def _nets(n_x: int, latent: int, units: tuple, hidden: str, init: str):
    encoder_net = stack.stack((n_x, *units, 2 * latent), hidden, init)
    decoder_net = stack.stack((latent, *reversed(units), n_x), hidden, init)
    return encoder_net, decoder_net


def nets(model: Model):
    """The ``(encoder, decoder)`` layer stacks of a VAE ``model``."""
    o = model.options
    return _nets(model.input_shape[0], o["latent"], tuple(o["units"]), o["hidden"], o["init"])


def binarized(X: Array, key: Array, binarize: str) -> Array:
    """The 0/1 pixels the decoder scores (see the module docstring)."""
    if binarize == "sample":
        # drawn in float32 whatever X's dtype: float32 and float64 runs see the same pixels
        return jax.random.bernoulli(key, jnp.clip(X, 0, 1).astype(jnp.float32)).astype(X.dtype)
    if binarize == "threshold":
        return (X > 0.5).astype(X.dtype)
    return X


def encode(model: Model, params: dict, X: Array) -> tuple[Array, Array]:
    """``(μ, log σ²)``, each ``(J, m)``: the posterior's parameters for each column of X."""
    encoder_net, _ = nets(model)
    X = stack.columns(X, model.input_shape[0], "vae")
    out = stack.forward(encoder_net, params["encoder"], X)[0]
    J = model.options["latent"]
    return out[:J], out[J:]


def decode(model: Model, params: dict, Z: Array) -> Array:
    """The Bernoulli means ``σ(ℓ) (n_x, m)`` for latent columns ``Z (J, m)``."""
    _, decoder_net = nets(model)
    return jax.nn.sigmoid(stack.forward(decoder_net, params["decoder"], Z)[0])


def sample(model: Model, params: dict, key: Array, n: int) -> Array:
    """``n`` images from the model: ``z ~ N(0, I)``, then the decoder's means ``σ(ℓ)``."""
    dtype = jax.tree.leaves(params)[0].dtype
    return decode(model, params, jax.random.normal(key, (model.options["latent"], n), dtype))


def log_likelihood(model: Model, params: dict, X: Array, key: Array, k: int = 100) -> dict:
    """Importance-weighted estimates on the columns of X (binarised as in training, with
    ``key``): ``{"nll": mean −log p̂(x) with k samples, "elbo_k1": the mean negative ELBO
    of one sample}``, in nats per image. Samples are drawn one at a time (``lax.map``), so
    memory stays at one decoder pass over X."""
    if k < 1:
        raise ConfigError(f"importance sampling needs k ≥ 1 samples; got {k}")
    encoder_net, decoder_net = nets(model)
    J = model.options["latent"]
    key_binarize, key_eps = jax.random.split(key)
    X = stack.columns(X, model.input_shape[0], "vae", jax.tree.leaves(params)[0].dtype)
    X = binarized(X, key_binarize, model.options["binarize"])
    out = stack.forward(encoder_net, params["encoder"], X)[0]
    mu, logvar = out[:J], out[J:]

    def log_weight(key):  # log p(x|z) + log p(z) − log q(z|x), (m,)
        eps = jax.random.normal(key, mu.shape, jnp.float32).astype(mu.dtype)
        Z = mu + jnp.exp(0.5 * logvar) * eps
        logits = stack.forward(decoder_net, params["decoder"], Z)[0]
        log_px_z = -jnp.sum(jax.nn.softplus(logits) - X * logits, axis=0)
        log_pz = -0.5 * jnp.sum(Z**2 + LOG_2PI, axis=0)
        log_qz = -0.5 * jnp.sum(eps**2 + logvar + LOG_2PI, axis=0)
        return log_px_z + log_pz - log_qz

    log_w = jax.lax.map(log_weight, jax.random.split(key_eps, k))  # (k, m)
    log_p = jax.scipy.special.logsumexp(log_w, axis=0) - math.log(k)
    return {"nll": -jnp.mean(log_p), "elbo": -jnp.mean(log_w)}


def vae(
    input_shape: tuple[int, ...], num_classes: int = 0, latent: int = 20, units=(400,),
    hidden: str = "relu", binarize: str = "sample", init: str = "glorot",
) -> Model:  # fmt: skip
    """A VAE ``n_x-units…-(μ, log σ²: latent each) | latent-units reversed…-n_x`` with a
    Bernoulli decoder. ``hidden``: the activation of every hidden layer; ``binarize``:
    sample (resampled each step), threshold (fixed, > ½) or none. ``num_classes`` is
    ignored (no labels are learnt)."""
    del num_classes
    n_x = stack.vector_size(input_shape, "VAE")
    latent = stack.size(latent, "latent", "vae")
    units = stack.sizes(units, "units", "vae")
    stack.check_hidden(hidden, "vae")
    stack.check_choice(binarize, BINARIZATIONS, "binarize", "vae")
    initializers.get(init)
    encoder_net, decoder_net = _nets(n_x, latent, units, hidden, init)

    init_fn = stack.params_init({"encoder": (encoder_net, n_x), "decoder": (decoder_net, latent)})

    def run(params, X, key):
        """The forward pass for one ε: ``(X_bin, mu, logvar, eps, logits, caches)``."""
        if key is None:
            raise ConfigError("the VAE's cost draws noise (ε, the binarisation): pass key=")
        X = stack.columns(X, n_x, "vae", jax.tree.leaves(params)[0].dtype)
        validate.targets(X, "sigmoid")  # pixel intensities in [0, 1]
        key_binarize, key_eps = jax.random.split(key)
        X = binarized(X, key_binarize, binarize)
        out, enc_caches = stack.forward(encoder_net, params["encoder"], X)
        mu, logvar = out[:latent], out[latent:]
        eps = jax.random.normal(key_eps, mu.shape, jnp.float32).astype(mu.dtype)
        Z = mu + jnp.exp(0.5 * logvar) * eps
        logits, dec_caches = stack.forward(decoder_net, params["decoder"], Z)
        return X, mu, logvar, eps, logits, (enc_caches, dec_caches)

    def terms(X, mu, logvar, logits):
        """The mean reconstruction term −log p(x|z) and the mean KL, per image."""
        reconstruction = losses.binary_cross_entropy_with_logits(logits, X)
        kl = 0.5 * jnp.sum(mu**2 + jnp.exp(logvar) - 1 - logvar) / X.shape[1]
        return reconstruction, kl

    def cost(params, X, Y=None, l2=0.0, key=None):
        X, mu, logvar, _, logits, _ = run(params, X, key)
        reconstruction, kl = terms(X, mu, logvar, logits)
        return reconstruction + kl + stack.l2_penalty(params, l2)

    def cost_and_grads(params, X, Y=None, l2=0.0, key=None):
        """The module docstring's gradient, then 2λW on every weight."""
        X, mu, logvar, eps, logits, (enc_caches, dec_caches) = run(params, X, key)
        reconstruction, kl = terms(X, mu, logvar, logits)
        J = reconstruction + kl + stack.l2_penalty(params, l2)
        m = X.shape[1]
        d_logits = (jax.nn.sigmoid(logits) - X) / m
        dZ, dec_grads = stack.backward(decoder_net, params["decoder"], dec_caches, d_logits)
        sigma = jnp.exp(0.5 * logvar)
        d_mu = dZ + mu / m
        d_logvar = dZ * eps * 0.5 * sigma + 0.5 * (sigma**2 - 1) / m
        d_out = jnp.concatenate([d_mu, d_logvar], axis=0)
        _, enc_grads = stack.backward(encoder_net, params["encoder"], enc_caches, d_out, False)
        grads = {"encoder": enc_grads, "decoder": dec_grads}
        return J, stack.add_l2_grads(grads, params, l2)

    def autodiff_cost_and_grads(params, X, Y=None, l2=0.0, key=None):
        return jax.value_and_grad(cost)(params, X, Y, l2, key)

    def metrics(params, X, Y=None, l2=0.0, key=None):
        X, mu, logvar, _, logits, _ = run(params, X, key)
        reconstruction, kl = terms(X, mu, logvar, logits)
        return {"cost": reconstruction + kl + stack.l2_penalty(params, l2), "kl": kl,
                "reconstruction": reconstruction}  # fmt: skip

    def forward(params, X):
        """The reconstruction's means σ(ℓ) at z = μ (the posterior mean, no noise)."""
        X = stack.columns(X, n_x, "vae", jax.tree.leaves(params)[0].dtype)
        mu = stack.forward(encoder_net, params["encoder"], X)[0][:latent]
        return jax.nn.sigmoid(stack.forward(decoder_net, params["decoder"], mu)[0])

    example = stack.pixels_example(n_x)

    options = {"latent": latent, "units": list(units), "hidden": hidden, "binarize": binarize,
               "init": init}  # fmt: skip
    describe = (f"vae {stack.describe((n_x, *units))}-({latent}+{latent}) | "
                f"{stack.describe((latent, *reversed(units), n_x))}")  # fmt: skip
    return Model("vae", describe, (n_x,), 1, n_x, "sigmoid", init_fn, forward, cost,
                 cost_and_grads, autodiff_cost_and_grads, targets="none", stochastic=True,
                 metrics=metrics, example=example, options=options)  # fmt: skip
