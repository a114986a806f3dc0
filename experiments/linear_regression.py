"""Special cases of the MLP (notes §3): does a one-layer *linear* MLP trained by SGD reach the
least-squares solution of min ½‖Y − Xw‖², and is a one-layer *sigmoid* MLP exactly logistic
regression (same parameters after the same gradient-descent steps)?"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import experiment, gradcheck, logistic, train


@dataclasses.dataclass(frozen=True)
class Config:
    n_x: int = 5
    m: int = 200
    noise: float = 0.1
    lr: float = 0.05
    epochs: int = 300
    batch_size: int = 20
    seed: int = 0


def main(config: Config, out_dir: str) -> dict:
    rng = np.random.default_rng(config.seed)
    X = rng.normal(size=(config.n_x, config.m)).astype(np.float32)
    w_true = rng.normal(size=(1, config.n_x)).astype(np.float32)
    Y = (w_true @ X + 0.7 + config.noise * rng.normal(size=(1, config.m))).astype(np.float32)

    # least squares with a bias column, row-major as numpy wants it
    design = np.c_[X.T, np.ones(config.m)]
    solution, *_ = np.linalg.lstsq(design, Y.T, rcond=None)
    params = {"W1": jnp.zeros((1, config.n_x)), "b1": jnp.zeros((1, 1))}
    params, history = train.fit(
        params, jnp.asarray(X), jnp.asarray(Y), train.make_cost_and_grads("hand", output="linear"),
        train.make_optimizer(config.lr, 0.98, config.m // config.batch_size), config.epochs,
        config.batch_size, jax.random.PRNGKey(config.seed),
    )  # fmt: skip
    sgd = np.r_[np.asarray(params["W1"])[0], np.asarray(params["b1"])[0]]
    linear = {"sgd_vs_least_squares_relative_error": gradcheck.relative_error(sgd, solution[:, 0]),
              "least_squares": solution[:, 0].tolist(), "sgd": sgd.tolist()}  # fmt: skip

    labels = (Y > np.median(Y)).astype(np.float32)
    mlp_params = {"W1": jnp.zeros((1, config.n_x)), "b1": jnp.zeros((1, 1))}
    lr_params = logistic.init(config.n_x)
    mlp_params, _ = train.fit(mlp_params, jnp.asarray(X), jnp.asarray(labels),
                              train.make_cost_and_grads("hand", output="sigmoid"),
                              train.make_optimizer(0.5), 100)  # fmt: skip
    lr_params, _ = train.fit(
        lr_params, jnp.asarray(X), jnp.asarray(labels),
        lambda p, X, Y: (logistic.cost(p, X, Y), logistic.grads(p, X, Y)),
        train.make_optimizer(0.5), 100,
    )  # fmt: skip
    sigmoid = {"mlp_vs_logistic_relative_error": gradcheck.relative_error(
        {"w": mlp_params["W1"].T, "b": mlp_params["b1"][0, 0]}, lr_params)}  # fmt: skip

    fig, ax = experiment.figure()
    ax.plot(history)
    ax.set(yscale="log", xlabel="epoch", ylabel="½‖y − ŷ‖² (mean)",
           title="one-layer linear MLP by SGD")  # fmt: skip
    experiment.save(fig, out_dir, "cost.png")
    return {"linear_regression": linear, "logistic_regression": sigmoid}


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
