"""How does the L2 strength λ (J + λ Σ‖W‖²) trade training fit for test accuracy? A wide
64-256-10 ReLU MLP on only 200 training digits (so it can over-fit), several λ."""

from __future__ import annotations

import dataclasses

from jaxnn import experiment
from jaxnn.experiment import train_digits


@dataclasses.dataclass(frozen=True)
class Config:
    l2_strengths: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 3e-2)
    layers: tuple[int, ...] = (64, 256, 10)
    train_examples: int = 200
    lr: float = 0.1
    batch_size: int = 20
    epochs: int = 150
    seed: int = 0


def main(config: Config, out_dir: str) -> dict:
    metrics = {}
    for l2 in config.l2_strengths:
        result = train_digits(config.layers, "relu", l2=l2, lr=config.lr,
                              batch_size=config.batch_size, epochs=config.epochs,
                              seed=config.seed, train_examples=config.train_examples)  # fmt: skip
        params = result.pop("params")
        result.pop("history")
        result["gap"] = result["train_accuracy"] - result["test_accuracy"]
        result["weight_norm"] = float(sum((params[k] ** 2).sum() for k in params if k[0] == "W"))
        metrics[f"l2={l2:g}"] = result
    fig, ax = experiment.figure()
    labels = list(metrics)
    ax.plot(labels, [metrics[k]["train_accuracy"] for k in labels], "o-", label="train")
    ax.plot(labels, [metrics[k]["test_accuracy"] for k in labels], "s-", label="test")
    ax.set(xlabel="L2 strength", ylabel="accuracy", title="L2 weight decay")
    ax.legend()
    experiment.save(fig, out_dir, "accuracy.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
