"""Multiclass SVM (the cs231n sum form with its hand-derived gradient) vs softmax
cross-entropy: a linear classifier f = Wx + b on the bundled digits trained both ways. Also:
how optax's ``multiclass_hinge_loss`` (the max form, Crammer–Singer) differs from the sum form."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from jaxnn import experiment, gradcheck, losses, mlp, train
from jaxnn.experiment import digits_arrays


@dataclasses.dataclass(frozen=True)
class Config:
    lr: float = 0.05
    epochs: int = 50
    batch_size: int = 32
    seed: int = 0


def hinge_cost_and_grads(params, X, Y):
    """J = mean_i Σ_{j≠y_i} max(0, s_j − s_{y_i} + 1), S = W X + b; dW = dS Xᵀ, db = Σ dS."""
    S = params["W1"] @ X + params["b1"]
    y = jnp.argmax(Y, axis=0)
    dS = losses.multiclass_hinge_grad(S, y)
    grads = {"W1": dS @ X.T, "b1": jnp.sum(dS, axis=1, keepdims=True)}
    return losses.multiclass_hinge(S, y), grads


def main(config: Config, out_dir: str) -> dict:
    X, Y, X_test, Y_test = digits_arrays()
    start = mlp.init(jax.random.PRNGKey(config.seed), [64, 10])
    key = jax.random.PRNGKey(config.seed + 1)
    methods = {
        "multiclass_svm": hinge_cost_and_grads,
        "softmax_ce": train.make_cost_and_grads("hand", output="softmax"),
    }
    metrics, fig_data = {}, {}
    for name, cost_and_grads in methods.items():
        params, history = train.fit(start, X, Y, cost_and_grads, train.make_optimizer(config.lr),
                                    config.epochs, config.batch_size, key)  # fmt: skip
        scores = lambda X, p=params: p["W1"] @ X + p["b1"]  # noqa: E731
        metrics[name] = {
            "train_accuracy": float(jnp.mean(jnp.argmax(scores(X), 0) == jnp.argmax(Y, 0))),
            "test_accuracy": float(jnp.mean(jnp.argmax(scores(X_test), 0) ==
                                            jnp.argmax(Y_test, 0))),
        }  # fmt: skip
        fig_data[name] = history
    S = jax.random.normal(jax.random.PRNGKey(3), (10, 64))
    y = jnp.arange(64) % 10
    hand_vs_auto = gradcheck.relative_error(losses.multiclass_hinge_grad(S, y),
                                            jax.grad(losses.multiclass_hinge)(S, y))  # fmt: skip
    sum_form = float(losses.multiclass_hinge(S, y))
    max_form = float(jnp.mean(optax.losses.multiclass_hinge_loss(S.T, y)))
    metrics["hinge_hand_vs_autodiff_relative_error"] = hand_vs_auto
    metrics["sum_form_vs_optax_max_form"] = {
        "sum_form_mean": sum_form, "optax_max_form_mean": max_form,
        "explanation": "sum form adds every violating class's margin; optax's form keeps only "
        "the largest: max(0, 1 + max_{j≠y} s_j − s_y) (Crammer–Singer). They agree only when "
        "at most one class violates the margin.",
    }  # fmt: skip
    fig, ax = experiment.figure()
    for name, history in fig_data.items():
        ax.plot(history, label=name)
    ax.set(xlabel="epoch", ylabel="training cost", yscale="log", title="linear classifier")
    ax.legend()
    experiment.save(fig, out_dir, "cost.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
