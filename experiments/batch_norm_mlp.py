"""What does batch normalization do for a deep MLP (Ioffe & Szegedy 2015)? A 10-hidden-layer
sigmoid MLP (100 units each) on Fashion-MNIST, with and without batch norm before every
sigmoid: training cost curves at the same learning rate, and the highest learning rate of a
grid at which each still trains (final cost finite and below the initial ln 10)."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import optax

from jaxnn import data, experiment, layers, models, train
from jaxnn.models import convnet


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "fashion_mnist"
    depth: int = 10
    units: int = 100
    hidden: str = "sigmoid"
    m_train: int = 10000
    m_test: int = 2000
    epochs: int = 5
    batch_size: int = 100
    lr: float = 0.5  # the curves' common rate
    lrs: tuple[float, ...] = (0.1, 0.5, 2.0, 8.0, 32.0)
    seed: int = 0


def mlp(config: Config, batch_norm: bool, input_shape=(28, 28, 1)) -> models.Model:
    net = [("flatten", layers.flatten())]
    for i in range(1, config.depth + 1):
        net.append((f"fc{i}", layers.dense(config.units)))
        if batch_norm:
            net.append((f"bn{i}", layers.batch_norm()))
        net.append((f"fc{i}_{config.hidden}", layers.activation(config.hidden)))
    net.append(("out", layers.dense(10)))
    return convnet.from_layers(f"mlp{config.depth}{'_bn' if batch_norm else ''}", tuple(net),
                               input_shape)  # fmt: skip


def main(config: Config, out_dir: str) -> dict:
    d = data.load(config.dataset)
    X = data.in_layout(d.X_train[:, : config.m_train], d.image_shape, 0)
    Y = data.one_hot(d.labels_train[: config.m_train], 10)
    X_test = data.in_layout(d.X_test[:, : config.m_test], d.image_shape, 0)
    Y_test = data.one_hot(d.labels_test[: config.m_test], 10)
    fig, ax = experiment.figure()
    metrics = {}
    for batch_norm in (False, True):
        model = mlp(config, batch_norm, d.image_shape)
        runs = {}
        for lr in sorted({config.lr, *config.lrs}):
            init_opt_state, step = train.model_step(model, "hand", optax.sgd(lr))
            epoch = train.make_epoch(step, config.m_train, config.batch_size, example_axis=0)
            X_rows, Y_rows = train.device_rows(X, Y, 0)
            v = model.init(jax.random.PRNGKey(config.seed))
            opt_state, key, curve = init_opt_state(v), jax.random.PRNGKey(config.seed), []
            for e in range(config.epochs):
                order = train.epoch_order(key, e, config.m_train)
                v, opt_state, costs = epoch(v, opt_state, order, X_rows, Y_rows)
                curve += [float(c) for c in np.asarray(costs)]
            test = models.metrics(model, v, X_test, Y_test)
            trains = math.isfinite(curve[-1]) and np.mean(curve[-10:]) < math.log(10)
            runs[lr] = {"final_cost": float(np.mean(curve[-10:])), "trains": bool(trains),
                        "test_accuracy": float(test["accuracy"]), "curve": curve}  # fmt: skip
            print(model.name, lr, runs[lr]["final_cost"], runs[lr]["test_accuracy"], flush=True)
        ax.plot(runs[config.lr]["curve"], label=f"{'with' if batch_norm else 'without'} BN")
        tolerated = [lr for lr, run in runs.items() if run["trains"]]
        metrics[model.name] = {"highest_lr_that_trains": max(tolerated, default=None),
                               "runs": {str(k): {**v, "curve": v["curve"][::10]}
                                        for k, v in runs.items()}}  # fmt: skip
    ax.set(xlabel="step", ylabel="minibatch cost", yscale="log",
           title=f"{config.depth}×{config.units} {config.hidden} MLP, lr {config.lr}")  # fmt: skip
    ax.legend()
    experiment.save(fig, out_dir, "cost.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
