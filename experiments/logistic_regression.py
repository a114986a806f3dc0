"""Does the notes' per-example loop train the same binary image classifier as the
vectorized formulas and optax? Logistic regression on the bundled 8×8 digits, "3" vs "8",
full-batch gradient descent: the three give the same parameters, cost curve and accuracy."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import data, experiment, gradcheck, logistic, train


@dataclasses.dataclass(frozen=True)
class Config:
    positive: int = 3
    negative: int = 8
    lr: float = 0.5
    iterations: int = 300


def binary_digits(positive: int, negative: int):
    ds = data.load("digits")

    def pick(X, labels):
        keep = (labels == positive) | (labels == negative)
        return jnp.asarray(X[:, keep]), jnp.asarray((labels[keep] == positive)[None, :], float)

    return pick(ds.X_train, ds.labels_train), pick(ds.X_test, ds.labels_test)


def gradient_descent(grads_fn, params, X, Y, lr, iterations):
    """The notes' loop over iterations: w := w − α dw, b := b − α db."""

    @jax.jit
    def one(params, _):
        d = grads_fn(params, X, Y)
        return {k: params[k] - lr * d[k] for k in params}, logistic.cost(params, X, Y)

    return jax.lax.scan(one, params, None, length=iterations)


def main(config: Config, out_dir: str) -> dict:
    (X, Y), (X_test, Y_test) = binary_digits(config.positive, config.negative)
    start = logistic.init(X.shape[0])
    results = {
        "loop": gradient_descent(logistic.grads_loop, start, X, Y, config.lr, config.iterations),
        "vectorized": gradient_descent(logistic.grads, start, X, Y, config.lr, config.iterations),
    }
    cost_and_grads = lambda p, X, Y: (logistic.cost(p, X, Y), logistic.grads(p, X, Y))  # noqa: E731
    params, history = train.fit(start, X, Y, cost_and_grads, optax.sgd(config.lr),
                                config.iterations)  # fmt: skip
    results["optax"] = (params, jnp.asarray(history))

    metrics = {"train_examples": int(X.shape[1]), "test_examples": int(X_test.shape[1])}
    fig, ax = experiment.figure()
    for name, (params, costs) in results.items():
        ax.plot(np.asarray(costs), label=name, linestyle="--" if name == "optax" else "-")
        metrics[name] = {
            "final_cost": float(logistic.cost(params, X, Y)),
            "train_accuracy": float(jnp.mean(logistic.predict(params, X) == Y)),
            "test_accuracy": float(jnp.mean(logistic.predict(params, X_test) == Y_test)),
        }
    ref = results["vectorized"][0]
    metrics["loop_vs_vectorized_params"] = gradcheck.relative_error(results["loop"][0], ref)
    metrics["optax_vs_vectorized_params"] = gradcheck.relative_error(results["optax"][0], ref)
    ax.set(xlabel="iteration", ylabel="cost J", yscale="log",
           title=f"logistic regression, digit {config.positive} vs {config.negative}")  # fmt: skip
    ax.legend()
    experiment.save(fig, out_dir, "cost.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
