"""Models with state: batch norm's running statistics beside the learned parameters.

A layer-built network with a stateful layer (``jaxnn.layers.batch_norm``) holds two pytrees,
``{"params": P, "state": S}``: P is what the optimizer updates, S (running mean and variance)
is what each training step *replaces* with its new value. The pair is what every part of the
training path carries as the model's "params" — so checkpoints hold both and ``--resume``
continues bitwise — while the model's own ``make_step`` (``jaxnn.models.Model``) keeps the
optimizer on P alone:

    step(v, opt_state, X, Y) -> ({"params": P − update(∇_P J), "state": S_new}, opt_state, J)

with J, ∇_P J and S_new from the training-mode forward (batch statistics).

Modes, per function of the Model:

* ``cost``, ``cost_and_grads``, ``autodiff_cost_and_grads``: training mode, as the step sees
  it (the gradients of S are zero: the training cost does not read it), so gradient checks
  compare what training uses.
* ``forward`` (so ``predict``, ``accuracy``) and ``metrics`` (what evaluation reports after
  each epoch, and ``metrics.json``): evaluation mode, the running statistics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxnn import activations, losses
from jaxnn.layers import sequential
from jaxnn.models import Model


def with_state(model: Model, net: sequential.Layers, logits_state, cost_from_logits, weights):
    """``model`` (built from ``net`` by ``convnet.from_layers``, training mode over P) with
    the state added. ``logits_state(P, S, X, train) -> (Z_L, caches, S_new)``;
    ``weights(P)``: the weights L2 applies to."""
    g_output = activations.get(model.output).g
    base_init = model.init

    def init(key, dtype=jnp.float32):
        state = sequential.init_state(net, model.input_shape, jnp.dtype(dtype))
        return {"params": base_init(key, dtype), "state": state}

    def cost(v, X, Y, l2=0.0):
        return model.cost(v["params"], X, Y, l2)

    def cost_and_grads(v, X, Y, l2=0.0):
        J, grads = model.cost_and_grads(v["params"], X, Y, l2)
        return J, {"params": grads, "state": jax.tree.map(jnp.zeros_like, v["state"])}

    def autodiff_cost_and_grads(v, X, Y, l2=0.0):
        return jax.value_and_grad(cost)(v, X, Y, l2)

    def eval_logits(v, X):
        return logits_state(v["params"], v["state"], X, False)[0]

    def forward(v, X):
        return g_output(eval_logits(v, X))

    def metrics(v, X, Y, l2=0.0):
        Z_L = eval_logits(v, X)
        J = cost_from_logits(Z_L, Y, model.output)
        if not losses.l2_is_zero(l2):
            J = J + l2 * sum(jnp.sum(W**2) for W in weights(v["params"]))
        if model.output == "softmax":
            correct = jnp.argmax(Z_L, axis=0) == jnp.argmax(Y, axis=0)
        else:
            correct = (Z_L >= 0).astype(Y.dtype) == Y
        return {"cost": J, "accuracy": jnp.mean(correct)}

    def make_step(grads: str, optimizer: optax.GradientTransformation, l2: float = 0.0):
        fn = model.cost_and_grads if grads == "hand" else model.autodiff_cost_and_grads

        def step(v, opt_state, X, Y, key=None):
            J, dP = fn(v["params"], X, Y, l2)
            # the same training-mode forward as the cost's: XLA computes it once (CSE)
            new_state = logits_state(v["params"], v["state"], X, True)[2]
            updates, opt_state = optimizer.update(dP, opt_state, v["params"])
            return {"params": optax.apply_updates(v["params"], updates),
                    "state": new_state}, opt_state, J  # fmt: skip

        return (lambda v: optimizer.init(v["params"])), step

    return model._replace(init=init, forward=forward, cost=cost, cost_and_grads=cost_and_grads,
                          autodiff_cost_and_grads=autodiff_cost_and_grads, metrics=metrics,
                          make_step=make_step)  # fmt: skip
