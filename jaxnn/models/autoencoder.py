"""The autoencoder: an MLP encoder to a code, an MLP decoder back to the input (notes' outline:
"autoencoders (unsupervised learning)"; Hinton & Salakhutdinov 2006).

    h = f(x) = encoder(x)      code (n_code, m), a linear layer (as PCA's projection)
    x̂ = g(h) = σ(Z_dec)       sigmoid output + binary cross-entropy  (loss="bce")
    x̂ = Z_dec                 linear output + squared error          (loss="squared_error")

Both are dense stacks (``jaxnn.models.dense_stack``). The cost is the MLP's with the input
as its own target, summed over the n_x pixels and averaged over the m examples:

    bce:            J = (1/m) Σ_i Σ_j [softplus(z_ji) − x_ji z_ji]      (nats per image)
    squared_error:  J = (1/m) Σ_i ½ ‖x̂_i − x_i‖²

and for both the gradient at the decoder's output pre-activation is the MLP's
``dZ = (A − X) / m`` (notes §4: sigmoid+BCE and linear+½‖·‖² collapse to it). The backward
is the MLP's composed: the decoder's layers in reverse give ``dh``, the gradient at the
code, and the encoder's layers in reverse carry ``dh`` down to the first weights.

Targets: none (``Y`` is ``(0, m)``); X holds pixels in [0, 1] (BCE needs them there).
``metrics``: the cost, the per-pixel BCE ``J / n_x`` (sigmoid output) and the per-image
squared error ``(1/m) Σ_i ‖x̂_i − x_i‖²`` — the figure Hinton & Salakhutdinov compare with PCA.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxnn import initializers, losses, validate
from jaxnn.errors import ShapeError
from jaxnn.models import Model
from jaxnn.models import dense_stack as stack

Array = jax.Array

LOSSES = {"bce": "sigmoid output, pixels in [0, 1]", "squared_error": "linear output"}


@functools.lru_cache(maxsize=32)
def _nets(n_x: int, code: int, units: tuple, decoder: tuple, hidden: str, init: str):
    encoder_net = stack.stack((n_x, *units, code), hidden, init)
    decoder_net = stack.stack((code, *decoder), hidden, init)
    return encoder_net, decoder_net


def nets(model: Model):
    """The ``(encoder, decoder)`` layer stacks of an autoencoder ``model``."""
    o = model.options
    return _nets(model.input_shape[0], o["code"], tuple(o["units"]), tuple(o["decoder"]),
                 o["hidden"], o["init"])  # fmt: skip


def encode(model: Model, params: dict, X: Array) -> Array:
    """The code ``h (n_code, m)`` of each column of ``X``."""
    encoder_net, _ = nets(model)
    X = stack.columns(X, model.input_shape[0], "autoencoder")
    return stack.forward(encoder_net, params["encoder"], X)[0]


def decode(model: Model, params: dict, H: Array) -> Array:
    """The reconstructions ``x̂ (n_x, m)`` of codes ``H (n_code, m)``."""
    _, decoder_net = nets(model)
    Z = stack.forward(decoder_net, params["decoder"], H)[0]
    return jax.nn.sigmoid(Z) if model.output == "sigmoid" else Z


def autoencoder(
    input_shape: tuple[int, ...], num_classes: int = 0, code: int = 32, units=(256,),
    decoder=None, hidden: str = "relu", loss: str = "bce", init: str = "glorot",
) -> Model:  # fmt: skip
    """An autoencoder ``n_x-units…-code-decoder…``: ``units`` are the encoder's hidden
    sizes, ``decoder`` the decoder's sizes after the code (default: ``units`` reversed, then
    n_x; it must end at n_x), ``hidden`` their activation, ``loss`` bce (sigmoid output) or
    squared_error (linear output). ``num_classes`` is ignored (no labels are learnt)."""
    del num_classes
    n_x = stack.vector_size(input_shape, "autoencoder")
    code = stack.size(code, "code", "autoencoder")
    units = stack.sizes(units, "units", "autoencoder")
    decoder = stack.sizes(decoder, "decoder", "autoencoder") if decoder is not None else (
        *reversed(units), n_x)  # fmt: skip
    if not decoder or decoder[-1] != n_x:
        raise ShapeError(
            f"autoencoder decoder={list(decoder)} must end at the data size {n_x} (its "
            f"output reconstructs the input): e.g. decoder={[*decoder[:-1], n_x]}"
        )
    stack.check_hidden(hidden, "autoencoder")
    stack.check_choice(loss, LOSSES, "loss", "autoencoder")
    initializers.get(init)
    output = "sigmoid" if loss == "bce" else "linear"
    encoder_net, decoder_net = _nets(n_x, code, units, decoder, hidden, init)

    init_fn = stack.params_init({"encoder": (encoder_net, n_x), "decoder": (decoder_net, code)})

    def run(params, X):
        """``(X, Z_dec, caches)``: the forward pass keeping both stacks' caches."""
        X = stack.columns(X, n_x, "autoencoder", jax.tree.leaves(params)[0].dtype)
        if loss == "bce":
            validate.targets(X, "sigmoid")  # the input is its own target: pixels in [0, 1]
        H, enc_caches = stack.forward(encoder_net, params["encoder"], X)
        Z, dec_caches = stack.forward(decoder_net, params["decoder"], H)
        return X, Z, (enc_caches, dec_caches)

    def data_cost(Z, X):
        if loss == "bce":
            return losses.binary_cross_entropy_with_logits(Z, X)
        return losses.squared_error(Z, X)

    def forward(params, X):
        return decode_logits(run(params, X)[1])

    def decode_logits(Z):
        return jax.nn.sigmoid(Z) if output == "sigmoid" else Z

    def cost(params, X, Y=None, l2=0.0):
        X, Z, _ = run(params, X)
        return data_cost(Z, X) + stack.l2_penalty(params, l2)

    def cost_and_grads(params, X, Y=None, l2=0.0):
        """dZ_dec = (x̂ − x)/m; decoder backward → dh; encoder backward; + 2λW."""
        X, Z, (enc_caches, dec_caches) = run(params, X)
        J = data_cost(Z, X) + stack.l2_penalty(params, l2)
        dZ = (decode_logits(Z) - X) / X.shape[1]
        dH, dec_grads = stack.backward(decoder_net, params["decoder"], dec_caches, dZ)
        _, enc_grads = stack.backward(encoder_net, params["encoder"], enc_caches, dH, False)
        grads = {"encoder": enc_grads, "decoder": dec_grads}
        return J, stack.add_l2_grads(grads, params, l2)

    def autodiff_cost_and_grads(params, X, Y=None, l2=0.0):
        return jax.value_and_grad(cost)(params, X, Y, l2)

    def metrics(params, X, Y=None, l2=0.0):
        X, Z, _ = run(params, X)
        X_hat = decode_logits(Z)
        out = {"cost": data_cost(Z, X) + stack.l2_penalty(params, l2),
               "squared_error": jnp.sum((X_hat - X) ** 2) / X.shape[1]}  # fmt: skip
        if output == "sigmoid":
            out["bce"] = losses.binary_cross_entropy_with_logits(Z, X) / n_x
        return out

    example = stack.pixels_example(n_x)

    dims = (n_x, *units, code, *decoder)
    options = {"code": code, "units": list(units), "decoder": list(decoder), "hidden": hidden,
               "loss": loss, "init": init}  # fmt: skip
    return Model("autoencoder", f"autoencoder {stack.describe(dims)} ({loss})", (n_x,), 1, n_x,
                 output, init_fn, forward, cost, cost_and_grads, autodiff_cost_and_grads,
                 targets="none", metrics=metrics, example=example,
                 options=options)  # fmt: skip
