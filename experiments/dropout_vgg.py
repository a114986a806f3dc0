"""Does dropout close the train/test gap? A width-reduced VGG-11 (configuration A, channels
and FC units × width) on Fashion-MNIST padded to 32×32 in the step, trained with and without
the paper's dropout 0.5 after FC1 and FC2, on a subset of the training set so that it can
over-fit; train and test accuracy after every epoch, side by side."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import optax

from jaxnn import data, experiment, models, train
from jaxnn.models import input_adapter


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "fashion_mnist"
    width: float = 0.125  # VGG-11's 64…512 channels and 4096 FC units × this
    train_examples: int = 5000
    test_examples: int = 5000
    rates: tuple[float, ...] = (0.0, 0.5)
    epochs: int = 15
    batch_size: int = 100
    lr: float = 0.001  # Adam
    seed: int = 0
    manual_dir: str = ""
    data_dir: str = ""


def _arrays(config: Config):
    ds = data.load(config.dataset, data_dir=config.data_dir or None,
                   manual_dir=config.manual_dir or None)  # fmt: skip
    X, X_test = (data.in_layout(A, ds.image_shape, 0) for A in (ds.X_train, ds.X_test))
    n, n_test = config.train_examples, config.test_examples
    Y = np.eye(ds.num_classes, dtype=np.float32)[ds.labels_train[:n]].T
    Y_test = np.eye(ds.num_classes, dtype=np.float32)[ds.labels_test[:n_test]].T
    return X[:n], Y, X_test[:n_test], Y_test, ds.image_shape


def curves(config: Config, rate: float, arrays) -> dict:
    """Train VGG-11 (× width) with dropout ``rate``; accuracies after each epoch."""
    X, Y, X_test, Y_test, image_shape = arrays
    model = models.build("vgg11", (32, 32, image_shape[2]), Y.shape[0], width=config.width,
                         dropout=rate)  # fmt: skip
    model = input_adapter.adapt(model, image_shape)  # 28×28 padded to 32×32 in the step
    key = jax.random.PRNGKey(config.seed)
    params = model.init(key)
    evaluate = jax.jit(lambda p, X, Y: models.metrics(model, p, X, Y))
    optimizer = optax.adam(config.lr)
    step = train.make_step(model.cost_and_grads, optimizer, model.stochastic)
    epoch = train.make_epoch(step, X.shape[0], config.batch_size, example_axis=0)
    opt_state, rows = optimizer.init(params), train.device_rows(X, Y, 0)
    history = {"train_accuracy": [], "test_accuracy": [], "cost": []}
    for index in range(config.epochs):  # train.fit's loop, evaluated after every epoch
        order = train.epoch_order(key, index, X.shape[0])
        masks = train.epoch_key(key, index) if model.stochastic else None
        params, opt_state, costs = epoch(params, opt_state, order, *rows, masks)
        history["cost"].append(float(np.mean(costs)))
        history["train_accuracy"].append(float(evaluate(params, X, Y)["accuracy"]))
        history["test_accuracy"].append(float(evaluate(params, X_test, Y_test)["accuracy"]))
    return history


def main(config: Config, out_dir: str) -> dict:
    arrays = _arrays(config)
    metrics = {f"dropout={rate:g}": curves(config, rate, arrays) for rate in config.rates}
    fig, axes = experiment.figure(1, 2, size=(10, 3.8))
    for ax, (label, h) in zip(axes, metrics.items(), strict=True):
        epochs = range(1, len(h["train_accuracy"]) + 1)
        ax.plot(epochs, h["train_accuracy"], "o-", label="train")
        ax.plot(epochs, h["test_accuracy"], "s-", label="test")
        gap = h["train_accuracy"][-1] - h["test_accuracy"][-1]
        ax.set(xlabel="epoch", ylabel="accuracy", title=f"VGG-11 ×{config.width:g}, {label}: "
               f"gap {gap:.3f}")  # fmt: skip
        ax.legend()
    experiment.save(fig, out_dir, "dropout.png")
    for h in metrics.values():
        h["gap"] = h["train_accuracy"][-1] - h["test_accuracy"][-1]
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
