"""The generative adversarial network (Goodfellow et al. 2014): two MLPs, hand-derived.

Generator ``G``: noise ``z ~ N(0, I)`` ``(n_z, m)`` → dense stack → ``x̃ = σ(Z_G)`` ``(n_x, m)``
(pixels in (0, 1), as the data). Discriminator ``D``: ``x`` → dense stack → one logit ``ℓ``,
``D(x) = σ(ℓ)``, the probability that x is real. Both are ``jaxnn.models.dense_stack``s.

Losses, means over the m real and the m generated examples, written on the logits so that
no log(0) is ever formed (``log σ(ℓ) = −softplus(−ℓ)``, ``log(1 − σ(ℓ)) = −softplus(ℓ)``):

    J_D      = (1/m) Σ [softplus(−ℓ_real) + softplus(ℓ_fake)]   = −V(D, G), BCE real=1 fake=0
    J_G (minimax)        = (1/m) Σ log(1 − D(G(z)))  = −(1/m) Σ softplus(ℓ_fake)
    J_G (non-saturating) = −(1/m) Σ log D(G(z))      =  (1/m) Σ softplus(−ℓ_fake)

Their gradients on the discriminator's logits (softplus′ = σ), derived by hand:

    ∂J_D/∂ℓ_real = (σ(ℓ_real) − 1) / m        ∂J_D/∂ℓ_fake = σ(ℓ_fake) / m
    minimax:        ∂J_G/∂ℓ_fake = −σ(ℓ_fake) / m
    non-saturating: ∂J_G/∂ℓ_fake = (σ(ℓ_fake) − 1) / m

From ``∂J/∂ℓ`` the discriminator's own backward gives its parameters' gradients and
``∂J/∂x̃`` at its input; ``∂J/∂Z_G = ∂J/∂x̃ ⊙ σ(Z_G)(1 − σ(Z_G))`` and the generator's
backward carry it to G's parameters (the same hand-derived MLP backward both ways).

Why non-saturating: early in training D rejects the samples easily, ``D(G(z)) = σ(ℓ_fake)
→ 0``, and the minimax gradient ``−σ(ℓ_fake)/m`` vanishes with it, while the
non-saturating one tends to ``−1/m``: the same fixed point, a strong gradient when G is
bad (Goodfellow et al. §3). ``generator_grad_norms`` measures both at the same point.

Training (``make_step``): one compiled step draws two noise batches from the step's key,
takes one optimizer step on D (its params, J_D, its own optax state), then one on G
(``J_G`` through the *updated* D, G's optax state). ``cost`` is J_D (log 4 ≈ 1.386 at the
game's equilibrium D = ½); ``cost_and_grads`` returns each player's gradient of its own
loss (D: J_D, G: J_G) at the same noise, and ``checks`` the full gradients of both losses
for ``jaxnn.gradcheck``. L2 (``λ Σ‖W‖²``) is each player's, on its own weights.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from jaxnn import activations, initializers, validate
from jaxnn.errors import ConfigError
from jaxnn.models import Model
from jaxnn.models import dense_stack as stack

Array = jax.Array

GENERATOR_LOSSES = {
    "non_saturating": "−log D(G(z)), the paper's practical choice",
    "minimax": "log(1 − D(G(z)))",
}
PLAYERS = ("discriminator", "generator")


@functools.lru_cache(maxsize=32)
def _nets(n_x: int, noise: int, generator: tuple, discriminator: tuple, hidden: str, init: str):
    generator_net = stack.stack((noise, *generator, n_x), hidden, init)
    discriminator_net = stack.stack((n_x, *discriminator, 1), hidden, init)
    return generator_net, discriminator_net


def nets(model: Model):
    """The ``(generator, discriminator)`` layer stacks of a GAN ``model``."""
    o = model.options
    return _nets(model.input_shape[0], o["noise"], tuple(o["generator"]),
                 tuple(o["discriminator"]), o["hidden"], o["init"])  # fmt: skip


def _norm(tree) -> Array:
    """‖θ‖ over every leaf of a pytree (the global norm)."""
    return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree)))


def _noise(key: Array, n_z: int, m: int, params: dict) -> Array:
    """z ~ N(0, I), drawn in float32 whatever the params' dtype (so that a float64 gradient
    check sees the noise of the float32 run it checks)."""
    return jax.random.normal(key, (n_z, m), jnp.float32).astype(jax.tree.leaves(params)[0].dtype)


def _generate(generator_net, params: dict, Z_noise: Array):
    """``(x̃, Z_G, caches)``: samples σ(Z_G) and what the backward needs."""
    Z_G, caches = stack.forward(generator_net, params["generator"], Z_noise)
    return jax.nn.sigmoid(Z_G), Z_G, caches


def _player_l2(params: dict, player: str, l2) -> Array:
    return stack.l2_penalty(params[player], l2)


def _discriminator_forward(generator_net, discriminator_net, params, X, Z_noise, l2=0.0):
    """J_D and the caches: D sees the m real and m generated columns in one pass."""
    m = X.shape[1]
    X_fake, Z_G, g_caches = _generate(generator_net, params, Z_noise)
    logits, d_caches = stack.forward(discriminator_net, params["discriminator"],
                                     jnp.concatenate([X, X_fake], axis=1))  # fmt: skip
    l_real, l_fake = logits[:, :m], logits[:, m:]
    J = (jnp.sum(jax.nn.softplus(-l_real)) + jnp.sum(jax.nn.softplus(l_fake))) / m
    return J + _player_l2(params, "discriminator", l2), (l_real, l_fake, Z_G, g_caches, d_caches)


def discriminator_loss(generator_net, discriminator_net, params, X, Z_noise, l2=0.0):
    """J_D (module docstring) for real columns X and noise Z_noise, both (·, m)."""
    return _discriminator_forward(generator_net, discriminator_net, params, X, Z_noise, l2)[0]


def discriminator_loss_and_grads(generator_net, discriminator_net, params, X, Z_noise, l2=0.0):
    """``(J_D, grads)``: the hand-derived gradient of J_D w.r.t. every parameter (G's too:
    J_D depends on G through x̃; a training step uses D's part and XLA drops the rest)."""
    m = X.shape[1]
    J, (l_real, l_fake, Z_G, g_caches, d_caches) = _discriminator_forward(
        generator_net, discriminator_net, params, X, Z_noise, l2)  # fmt: skip
    d_logits = jnp.concatenate([(jax.nn.sigmoid(l_real) - 1) / m, jax.nn.sigmoid(l_fake) / m],
                               axis=1)  # fmt: skip
    dX_all, d_grads = stack.backward(discriminator_net, params["discriminator"], d_caches,
                                     d_logits)  # fmt: skip
    dZ_G = dX_all[:, m:] * activations.sigmoid_prime(Z_G)  # x̃ = σ(Z_G)
    g_grads = stack.backward(generator_net, params["generator"], g_caches, dZ_G, False)[1]
    grads = {"discriminator": stack.add_l2_grads(d_grads, params["discriminator"], l2),
             "generator": g_grads}  # fmt: skip
    return J, {player: grads[player] for player in params}


def _generator_forward(generator_net, discriminator_net, params, Z_noise, loss, l2=0.0):
    m = Z_noise.shape[1]
    X_fake, Z_G, g_caches = _generate(generator_net, params, Z_noise)
    l_fake, d_caches = stack.forward(discriminator_net, params["discriminator"], X_fake)
    if loss == "minimax":
        J = -jnp.sum(jax.nn.softplus(l_fake)) / m
    else:
        J = jnp.sum(jax.nn.softplus(-l_fake)) / m
    return J + _player_l2(params, "generator", l2), (l_fake, Z_G, g_caches, d_caches)


def generator_loss(generator_net, discriminator_net, params, Z_noise, loss, l2=0.0):
    """J_G (``loss``: minimax or non_saturating) for noise Z_noise (n_z, m)."""
    return _generator_forward(generator_net, discriminator_net, params, Z_noise, loss, l2)[0]


def generator_loss_and_grads(generator_net, discriminator_net, params, Z_noise, loss, l2=0.0):
    """``(J_G, grads)``: the hand-derived gradient of J_G w.r.t. every parameter (D's too;
    a training step uses G's part)."""
    m = Z_noise.shape[1]
    J, (l_fake, Z_G, g_caches, d_caches) = _generator_forward(
        generator_net, discriminator_net, params, Z_noise, loss, l2)  # fmt: skip
    if loss == "minimax":
        d_logits = -jax.nn.sigmoid(l_fake) / m
    else:
        d_logits = (jax.nn.sigmoid(l_fake) - 1) / m
    dX_fake, d_grads = stack.backward(discriminator_net, params["discriminator"], d_caches,
                                      d_logits)  # fmt: skip
    dZ_G = dX_fake * activations.sigmoid_prime(Z_G)
    g_grads = stack.backward(generator_net, params["generator"], g_caches, dZ_G, False)[1]
    grads = {"discriminator": d_grads,
             "generator": stack.add_l2_grads(g_grads, params["generator"], l2)}  # fmt: skip
    return J, {player: grads[player] for player in params}


def sample(model: Model, params: dict, key: Array, n: int) -> Array:
    """``n`` generated images ``x̃ (n_x, n)``."""
    generator_net, _ = nets(model)
    return _generate(generator_net, params, _noise(key, model.options["noise"], n, params))[0]


def generator_grad_norms(model: Model, params: dict, key: Array, m: int) -> dict:
    """``‖∂J_G/∂θ_G‖`` for both generator losses at the same noise batch of ``m``, with the
    mean ``D(G(z))``: the saturation of the minimax loss, measured."""
    generator_net, discriminator_net = nets(model)
    Z_noise = _noise(key, model.options["noise"], m, params)
    out = {}
    for loss in GENERATOR_LOSSES:
        _, grads = generator_loss_and_grads(generator_net, discriminator_net, params, Z_noise,
                                            loss)  # fmt: skip
        out[f"{loss}_grad_norm"] = _norm(grads["generator"])
    X_fake = _generate(generator_net, params, Z_noise)[0]
    logits = stack.forward(discriminator_net, params["discriminator"], X_fake)[0]
    out["d_fake"] = jnp.mean(jax.nn.sigmoid(logits))
    return out


def gan(
    input_shape: tuple[int, ...], num_classes: int = 0, noise: int = 64,
    generator=(256, 512), discriminator=(512, 256), hidden: str = "relu",
    loss: str = "non_saturating", init: str = "glorot",
) -> Model:  # fmt: skip
    """A GAN: generator ``noise-generator…-n_x`` (sigmoid output), discriminator
    ``n_x-discriminator…-1`` (a logit); ``hidden`` is both networks' hidden activation,
    ``loss`` the generator's: non_saturating (default) or minimax. ``num_classes`` is
    ignored."""
    del num_classes
    n_x = stack.vector_size(input_shape, "GAN")
    if noise is None:
        raise ConfigError("gan needs a noise size: e.g. noise=64 (the generator's input)")
    noise = stack.size(noise, "noise", "gan")
    g_units = stack.sizes(generator, "generator", "gan")
    d_units = stack.sizes(discriminator, "discriminator", "gan")
    stack.check_hidden(hidden, "gan")
    stack.check_choice(loss, GENERATOR_LOSSES, "loss", "gan")
    initializers.get(init)
    generator_net, discriminator_net = _nets(n_x, noise, g_units, d_units, hidden, init)

    init_fn = stack.params_init({"discriminator": (discriminator_net, n_x),
                                 "generator": (generator_net, noise)})  # fmt: skip

    def real(params, X):
        X = stack.columns(X, n_x, "gan", jax.tree.leaves(params)[0].dtype)
        validate.targets(X, "sigmoid")  # the generator's σ output can only match [0, 1]
        return X

    def keyed(key):
        if key is None:
            raise ConfigError("the GAN's cost draws noise z: pass key=")
        return key

    def d_hand(params, X, Z_noise, l2=0.0):
        return discriminator_loss_and_grads(generator_net, discriminator_net, params, X,
                                            Z_noise, l2)  # fmt: skip

    def g_hand(params, Z_noise, l2=0.0):
        return generator_loss_and_grads(generator_net, discriminator_net, params, Z_noise,
                                        loss, l2)  # fmt: skip

    def d_cost(params, X, Z_noise, l2=0.0):
        return discriminator_loss(generator_net, discriminator_net, params, X, Z_noise, l2)

    def g_cost(params, Z_noise, l2=0.0):
        return generator_loss(generator_net, discriminator_net, params, Z_noise, loss, l2)

    def cost(params, X, Y=None, l2=0.0, key=None):
        X = real(params, X)
        return d_cost(params, X, _noise(keyed(key), noise, X.shape[1], params), l2)

    def both(d_fn, g_fn):
        def cost_and_grads(params, X, Y=None, l2=0.0, key=None):
            X = real(params, X)
            Z_noise = _noise(keyed(key), noise, X.shape[1], params)
            J_D, d_grads = d_fn(params, X, Z_noise, l2)
            _, g_grads = g_fn(params, Z_noise, l2)
            return J_D, {"discriminator": d_grads["discriminator"],
                         "generator": g_grads["generator"]}  # fmt: skip

        return cost_and_grads

    d_auto, g_auto = jax.value_and_grad(d_cost), jax.value_and_grad(g_cost)

    def make_step(grads, optimizer, l2=0.0):
        if grads not in ("hand", "autodiff"):
            raise ConfigError(f"unknown gradient method {grads!r}; choose one of: hand, autodiff")
        d_fn, g_fn = (d_hand, g_hand) if grads == "hand" else (d_auto, g_auto)

        def init_opt_state(params):
            return {player: optimizer.init(params[player]) for player in PLAYERS}

        def update(params, opt_state, player, player_grads):
            updates, state = optimizer.update(player_grads, opt_state[player], params[player])
            return ({**params, player: optax.apply_updates(params[player], updates)},
                    {**opt_state, player: state})  # fmt: skip

        def step(params, opt_state, X, Y, key):
            X = real(params, X)
            key_d, key_g = jax.random.split(keyed(key))
            J_D, d_grads = d_fn(params, X, _noise(key_d, noise, X.shape[1], params), l2)
            params, opt_state = update(params, opt_state, "discriminator",
                                       d_grads["discriminator"])  # fmt: skip
            _, g_grads = g_fn(params, _noise(key_g, noise, X.shape[1], params), l2)
            params, opt_state = update(params, opt_state, "generator", g_grads["generator"])
            return params, opt_state, J_D

        return init_opt_state, step

    def metrics(params, X, Y=None, l2=0.0, key=None):
        X = real(params, X)
        Z_noise = _noise(keyed(key), noise, X.shape[1], params)
        J_D = d_cost(params, X, Z_noise, l2)
        J_G, g_grads = g_hand(params, Z_noise, l2)
        X_fake = _generate(generator_net, params, Z_noise)[0]
        D = forward(params, jnp.concatenate([X, X_fake], axis=1))
        m = X.shape[1]
        return {"cost": J_D, "generator_loss": J_G, "d_real": jnp.mean(D[:, :m]),
                "d_fake": jnp.mean(D[:, m:]),
                "generator_grad_norm": _norm(g_grads["generator"])}  # fmt: skip

    def checks(params, X, Y, l2=0.0, key=None):
        X = real(params, X)
        Z_noise = _noise(keyed(key), noise, X.shape[1], params)
        _, d_grads = jax.jit(d_hand)(params, X, Z_noise, l2)
        _, g_grads = jax.jit(g_hand)(params, Z_noise, l2)
        return [("discriminator loss", lambda p: d_cost(p, X, Z_noise, l2), d_grads),
                (f"generator loss ({loss})", lambda p: g_cost(p, Z_noise, l2),
                 g_grads)]  # fmt: skip

    def forward(params, X):
        """D(x) = σ(ℓ) (1, m): the discriminator's probability that each column is real."""
        X = stack.columns(X, n_x, "gan", jax.tree.leaves(params)[0].dtype)
        return jax.nn.sigmoid(stack.forward(discriminator_net, params["discriminator"], X)[0])

    example = stack.pixels_example(n_x)

    options = {"noise": noise, "generator": list(g_units), "discriminator": list(d_units),
               "hidden": hidden, "loss": loss, "init": init}  # fmt: skip
    describe = (f"gan G {stack.describe((noise, *g_units, n_x))} D "
                f"{stack.describe((n_x, *d_units, 1))} ({loss})")  # fmt: skip
    return Model("gan", describe, (n_x,), 1, 1, "sigmoid", init_fn, forward, cost,
                 both(d_hand, g_hand), both(d_auto, g_auto), targets="none", stochastic=True,
                 metrics=metrics, make_step=make_step, example=example, checks=checks,
                 options=options)  # fmt: skip
