"""Which hidden activation trains best with the same budget: sigmoid, tanh, ReLU or leaky
ReLU (the notes: tanh beats sigmoid for hidden layers; ReLU is the default)? A 64-64-64-10 MLP
on the bundled digits, same init seed, batch 32, lr 0.05, 30 epochs."""

from __future__ import annotations

import dataclasses

from jaxnn import activations, experiment
from jaxnn.experiment import train_digits


@dataclasses.dataclass(frozen=True)
class Config:
    layers: tuple[int, ...] = (64, 64, 64, 10)
    lr: float = 0.05
    batch_size: int = 32
    epochs: int = 30
    seed: int = 0


def main(config: Config, out_dir: str) -> dict:
    runs = {
        hidden: train_digits(
            config.layers,
            hidden=hidden,
            lr=config.lr,
            batch_size=config.batch_size,
            epochs=config.epochs,
            seed=config.seed,
        )  # fmt: skip
        for hidden in activations.ELEMENTWISE
        if hidden != "linear"
    }
    fig, ax = experiment.figure()
    for hidden, result in runs.items():
        result.pop("params")
        ax.plot(result.pop("history"), label=hidden)
    ax.set(xlabel="epoch", ylabel="training cost", yscale="log", title="hidden activations")
    ax.legend()
    experiment.save(fig, out_dir, "cost.png")
    return runs


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
