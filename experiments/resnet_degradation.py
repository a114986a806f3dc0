"""The degradation problem (He et al. 2016, Fig. 6) on Fashion-MNIST padded to 32×32: do plain
nets train *worse* as they get deeper, and residual nets better? Training error (evaluation
mode, running statistics) of plain and residual nets at two depths, same settings: SGD with
momentum 0.9, He initialisation, batch norm. Narrower (``width``) and shorter (a training
subset, few epochs) than the paper's so that a CPU trains them: say which in the results."""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
import optax
from helpers.resnet_runs import padded_32

from jaxnn import experiment, models, train
from jaxnn.models import resnet


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "fashion_mnist"
    depths: tuple[int, ...] = (20, 56)
    width: float = 0.25
    m_train: int = 6000
    m_eval: int = 2000
    epochs: int = 6
    batch_size: int = 128
    lr: float = 0.05
    seed: int = 0


def main(config: Config, out_dir: str) -> dict:
    X, Y, X_test, Y_test = padded_32(config.dataset, config.m_train, config.m_eval)
    X_rows, Y_rows = train.device_rows(X, Y, 0)
    fig, ax = experiment.figure()
    metrics = {}
    for depth in config.depths:
        for kind, style in (("plain", "--"), ("resnet", "-")):
            name = f"{kind}{depth}"
            model = resnet.resnet(X.shape[1:], Y.shape[0], depth, kind == "resnet",
                                         width=config.width)  # fmt: skip
            variables = model.init(jax.random.PRNGKey(config.seed))
            init_opt_state, step = model.make_step("hand", optax.sgd(config.lr, 0.9))
            epoch = train.make_epoch(step, config.m_train, config.batch_size, example_axis=0)
            evaluate = jax.jit(lambda v, X, Y, model=model: models.metrics(model, v, X, Y))
            opt_state, key = init_opt_state(variables), jax.random.PRNGKey(config.seed)
            errors, test_errors, start = [], [], time.perf_counter()
            for e in range(config.epochs):
                order = train.epoch_order(key, e, config.m_train)
                variables, opt_state, _ = epoch(variables, opt_state, order, X_rows, Y_rows)
                errors.append(1 - float(evaluate(variables, X[: config.m_eval],
                                                 Y[:, : config.m_eval])["accuracy"]))  # fmt: skip
                test_errors.append(1 - float(evaluate(variables, X_test, Y_test)["accuracy"]))
            metrics[name] = {"train_error": errors, "test_error": test_errors,
                             "seconds": time.perf_counter() - start}  # fmt: skip
            ax.plot(np.arange(1, config.epochs + 1), errors, style, label=name)
            print(name, metrics[name], flush=True)
    ax.set(xlabel="epoch", ylabel="training error", title="plain vs residual, Fashion-MNIST 32×32")
    ax.legend(fontsize=7)
    experiment.save(fig, out_dir, "training_error.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
