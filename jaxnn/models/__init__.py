"""Model families behind one interface, and the registry ``jaxnn train --model`` reads.

A ``Model`` is a bundle of pure functions over a params pytree, with its sizes bound:

    init(key, dtype=float32) -> params
    forward(params, X) -> A_L                       the output layer's activations (n_y, m)
    cost(params, X, Y, l2=0.0) -> J
    cost_and_grads(params, X, Y, l2=0.0) -> (J, grads)            hand-derived backward
    autodiff_cost_and_grads(params, X, Y, l2=0.0) -> (J, grads)   jax.value_and_grad(cost)

``X`` is in the model's layout: ``example_axis = 1`` for column models (``X (n_x, m)``, the
MLP; ``X (T, m)`` token ids), ``0`` for image models (``X (m, n_H, n_W, n_C)``) and ``2`` for
sequences of vectors (``X (T, n_x, m)``: step t is the columns ``X[t]``). ``Y`` holds the
examples on its last axis: ``(n_y, m)`` one-hot columns for classifiers, ``(T, m)`` next
tokens, ``(0, m)`` for models that learn from X alone. ``jaxnn.data`` delivers data in these
layouts; the training loop (``jaxnn.train``), ``jaxnn.run``, ``jaxnn.sweep`` and
``jaxnn.gradcheck`` take any Model.

Beyond classifiers, a model says what it needs through the optional fields (their defaults
are a classifier's):

    targets: "labels" (one-hot or 0/1 from the dataset's classes), "given" (the dataset's own
        targets: regression values, next tokens) or "none" (autoencoders, GANs: Y is (0, m))
    stochastic: True when the cost draws noise (a VAE's ε, a GAN's z): cost, cost_and_grads,
        autodiff_cost_and_grads and metrics then take ``key=`` (one key per step, drawn by
        the training loop from the run's seed)
    metrics(params, X, Y, l2=0.0[, key]) -> {name: scalar}: what evaluation reports
        (default ``{"cost", "accuracy"}``)
    make_step(grads, optimizer, l2) -> (init_opt_state, step): a model whose update is not
        one optimizer step on one cost (a GAN's alternating steps) builds its own;
        ``step(params, opt_state, X, Y, key) -> (params, opt_state, J)``
    example(key, m, dtype) -> (X, Y): random data of this model's form (gradient checks)
    checks(params, X, Y, l2, key) -> [(label, cost_fn, hand_grads)]: what gradcheck compares
        (default: the cost against ``cost_and_grads``)
    curvature(params, X, Y, l2=0.0) -> d2: the diagonal second derivatives of the cost,
        backpropagated by hand in the Gauss–Newton form of LeCun et al. (1998, Appendix C),
        a pytree like params (layer-built models whose every layer has a ``backward2``;
        ``jaxnn.optim.sdlm`` uses it, and estimates it by autodiff for the others)

``build(name, input_shape, num_classes, **options)`` makes one; ``MODELS`` lists the names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn import compilation_cache
from jaxnn.errors import ConfigError

Array = jax.Array


class Model(NamedTuple):
    name: str
    describe: str  # e.g. "784-500-10" or "lenet5 (28, 28, 1) -> 10"
    input_shape: tuple[int, ...]  # one example's shape: (n_x,) or (n_H, n_W, n_C)
    example_axis: int  # where the m examples sit in X: 1 (columns) or 0 (images)
    num_outputs: int
    output: str  # softmax or sigmoid (or linear for the MLP)
    init: Callable
    forward: Callable
    cost: Callable
    cost_and_grads: Callable
    autodiff_cost_and_grads: Callable
    summary: Callable | None = None  # () -> [jaxnn.layers.sequential.Row]
    net: tuple | None = None  # layer-built models: the named layers (jaxnn.layers.sequential)
    input_dtype: str = "float32"  # int32 for token ids
    targets: str = "labels"  # labels | given | none (see the module docstring)
    stochastic: bool = False  # cost functions take key=
    metrics: Callable | None = None
    make_step: Callable | None = None
    example: Callable | None = None
    checks: Callable | None = None
    options: dict | None = None  # the builder's options, as config.json records them
    curvature: Callable | None = None  # hand-derived diagonal second derivatives (see above)

    def batch_shape(self, m: int) -> tuple[int, ...]:
        """The shape of X holding m examples in this model's layout."""
        shape = list(self.input_shape)
        shape.insert(self.example_axis, m)
        return tuple(shape)


def metrics(model: Model, params, X: Array, Y: Array, l2: float = 0.0, key=None) -> dict:
    """What evaluation reports for ``model``: its own ``metrics`` or, for a classifier,
    ``{"cost": J, "accuracy": fraction correct}``."""
    kw = {"key": key} if model.stochastic else {}
    if model.metrics is not None:
        return dict(model.metrics(params, X, Y, l2, **kw))
    return {"cost": model.cost(params, X, Y, l2, **kw), "accuracy": accuracy(model, params, X, Y)}


def example(model: Model, key, m: int, dtype=jnp.float32) -> tuple[Array, Array]:
    """Random ``(X, Y)`` of ``model``'s form for gradient checks: its own ``example``, or
    X ~ N(0, 1) in its layout with one-hot (softmax) or 0/1 (sigmoid) targets."""
    if model.example is not None:
        return model.example(key, m, dtype)
    key_x, key_y = jax.random.split(key)
    X = jax.random.normal(key_x, model.batch_shape(m), dtype)
    if model.output == "sigmoid":
        return X, jax.random.bernoulli(key_y, 0.5, (model.num_outputs, m)).astype(dtype)
    labels = jax.random.randint(key_y, (m,), 0, model.num_outputs)
    return X, jax.nn.one_hot(labels, model.num_outputs, dtype=dtype).T


def checks(model: Model, params, X: Array, Y: Array, l2: float = 0.0, key=None) -> list:
    """``[(label, cost_fn(params) -> J, hand_grads)]``: the gradients ``jaxnn.gradcheck``
    compares with ``jax.grad`` and finite differences (one cost for most models; a GAN has
    one per player)."""
    if model.checks is not None:
        return list(model.checks(params, X, Y, l2, key))
    kw = {"key": key} if model.stochastic else {}
    # the key an argument, not a constant: one program for every seed (compilation_cache)
    _, hand = compilation_cache.call(jax.jit(model.cost_and_grads), params, X, Y, l2, **kw)
    return [("cost", lambda p: model.cost(p, X, Y, l2, **kw), hand)]


def predict(model: Model, params, X: Array) -> Array:
    """Class indices (m,) for softmax, 0/1 (1, m) for sigmoid (a ≥ 0.5), A_L for linear;
    for LeNet-5 (1998)'s RBF output the class of the smallest penalty."""
    A_L = model.forward(params, X)
    if model.output == "rbf":
        return jnp.argmin(A_L, axis=0)
    if model.output == "softmax":
        return jnp.argmax(A_L, axis=0)
    if model.output == "sigmoid":
        return (A_L >= 0.5).astype(jnp.int32)
    return A_L


def accuracy(model: Model, params, X: Array, Y: Array) -> Array:
    """Fraction of correct predictions (softmax: argmax vs one-hot Y; sigmoid: a ≥ 0.5)."""
    predictions = predict(model, params, X)
    if model.output in ("softmax", "rbf"):
        return jnp.mean(predictions == jnp.argmax(Y, axis=0))
    if model.output == "sigmoid":
        return jnp.mean(predictions == Y)
    raise ConfigError("accuracy needs a classifier output (sigmoid or softmax), not linear")


def _builders() -> dict[str, Callable[..., Model]]:
    from jaxnn.models import (
        autoencoder,
        convnet,
        gan,
        lenet1998,
        mlp,
        recurrent,
        resnet,
        transformer,
        vae,
    )

    return {"mlp": mlp.model, "lenet5": convnet.lenet5, "alexnet": convnet.alexnet,
            "vgg16": convnet.vgg16, "rnn": recurrent.rnn, "lstm": recurrent.lstm,
            "gru": recurrent.gru, "transformer": transformer.transformer,
            "autoencoder": autoencoder.autoencoder, "vae": vae.vae, "gan": gan.gan,
            **{name: getattr(convnet, name) for name in PAPER_MODELS if name != "lenet5_1998"},
            "lenet5_1998": lenet1998.lenet5_1998, **resnet.BUILDERS}  # fmt: skip


# the papers' networks beside the modern ones (docs/convnets.md)
PAPER_MODELS = ("lenet5_1998", "alexnet_2012", "vgg11", "vgg13", "vgg19")
# the CIFAR ResNets of He et al. 2016 §4.2 and their plain twins (jaxnn.models.resnet)
RESNETS = tuple(f"{kind}{depth}" for kind in ("resnet", "plain") for depth in (20, 32, 44, 56, 110))


MODELS = ("mlp", "lenet5", "alexnet", "vgg16", "rnn", "lstm", "gru", "transformer",
          "autoencoder", "vae", "gan", *PAPER_MODELS, *RESNETS)  # fmt: skip
IMAGE_MODELS = ("lenet5", "alexnet", "vgg16", *PAPER_MODELS, *RESNETS)
# what each model reads of a dataset (``jaxnn.run.build_model``): "columns" (n_x,) vectors,
# "images" (n_H, n_W, n_C), "sequences" (T, n_x) vectors or (T,) token ids
LAYOUTS = {"mlp": "columns", "lenet5": "images", "alexnet": "images", "vgg16": "images",
           "rnn": "sequences", "lstm": "sequences", "gru": "sequences",
           "transformer": "sequences", "autoencoder": "columns",
           "vae": "columns", "gan": "columns", **dict.fromkeys(PAPER_MODELS, "images"),
           **dict.fromkeys(RESNETS, "images")}  # fmt: skip
# what `jaxnn train --model NAME` uses for the settings the user does not give
# (``jaxnn.models.defaults``): TrainConfig fields, and per-dataset overrides under
# "datasets". A model without an entry trains with the MLP's: the notes' SGD, lr 0.1, batch 200.
TRAINING_DEFAULTS: dict[str, dict] = {
    "mlp": {},  # the notes' homework: SGD, lr 0.1, batch 200, 20 epochs
    "lenet5": {"optimizer": "momentum", "lr": 0.05, "batch_size": 128},  # docs/generative.md
    "alexnet": {"optimizer": "momentum", "lr": 0.01, "batch_size": 128},  # Krizhevsky 2012 §5
    "vgg16": {"optimizer": "momentum", "lr": 0.01, "batch_size": 256},  # Simonyan 2015 §3.1
    "rnn": {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "clip_norm": 1.0,
            "datasets": {"text": {"lr": 2e-3, "batch_size": 64, "clip_norm": 5.0},
                         "adding": {"output": "linear"}, "adding200": {"output": "linear"}}},
    "lstm": {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "clip_norm": 1.0,
             "datasets": {"text": {"lr": 2e-3, "batch_size": 64, "clip_norm": 5.0},
                          "adding": {"output": "linear"}, "adding200": {"output": "linear"}}},
    "gru": {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "clip_norm": 1.0,
            "datasets": {"text": {"lr": 2e-3, "batch_size": 64, "clip_norm": 5.0},
                         "adding": {"output": "linear"}, "adding200": {"output": "linear"}}},
    "transformer": {"optimizer": "adam", "lr": 2e-3, "batch_size": 64, "clip_norm": 5.0},
    "autoencoder": {"optimizer": "adam", "lr": 1e-3, "batch_size": 128},
    "vae": {"optimizer": "adam", "lr": 1e-3, "batch_size": 100},
    "gan": {"optimizer": "adam", "lr": 2e-4, "beta1": 0.5, "batch_size": 128, "hidden": "tanh",
            "epochs": 5},
    # the papers' networks: LeNet-5 1998 as measured in docs/convnets.md (0.97 % after 20
    # epochs, with a 0.85 decay besides); AlexNet 2012 §5 and VGG §3.1 as the papers trained
    "lenet5_1998": {"optimizer": "adam", "lr": 2e-3, "batch_size": 128},
    "alexnet_2012": {"optimizer": "momentum", "lr": 0.01, "batch_size": 128},
    **dict.fromkeys(("vgg11", "vgg13", "vgg19"),
                    {"optimizer": "momentum", "lr": 0.01, "batch_size": 256}),
    # He et al. 2016 §4.2: SGD, momentum 0.9, lr 0.1, minibatch 128 (their He init: --init he)
    **dict.fromkeys(RESNETS, {"optimizer": "momentum", "lr": 0.1, "batch_size": 128}),
}  # fmt: skip


def build(name: str, input_shape, num_classes: int, **options) -> Model:
    """The model ``name`` for examples of ``input_shape`` and ``num_classes`` classes (or
    outputs, or vocabulary size).

    options: ``output`` (softmax | sigmoid), ``hidden`` (the activation), ``init`` (weight
    scheme); MLP: ``layers`` (the full layer_dims); CNNs: ``width`` (channel and hidden-unit
    multiplier), ``conv_backward`` (auto | fast | explicit); other families: their builder's
    keyword arguments (``jaxnn models`` lists them). An option the model does not take is a
    ``ConfigError`` naming the ones it does."""
    builders = _builders()
    if name not in builders:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    builder = builders[name]
    accepted = option_names(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{name} takes no option {', '.join(unknown)}; its options: {', '.join(accepted)}"
        )
    return builder(tuple(int(n) for n in input_shape), int(num_classes), **options)


def option_names(name: str) -> list[str]:
    """The keyword options model ``name``'s builder takes (after input shape and classes)."""
    import inspect

    parameters = list(inspect.signature(_builders()[name]).parameters.values())[2:]
    return [p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


__all__ = ["IMAGE_MODELS", "LAYOUTS", "MODELS", "PAPER_MODELS", "TRAINING_DEFAULTS", "Model",
           "accuracy", "build",
           "checks", "example", "metrics", "option_names", "predict"]  # fmt: skip
