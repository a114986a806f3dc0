"""Does "initialization matter a lot" (the notes)? Glorot uniform vs He normal vs the course's
0.01·N(0, 1) vs zeros on a 64-64-64-10 ReLU MLP (bundled digits). Zeros never break the
symmetry: every hidden unit of a layer stays identical (measured on W1's rows)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from jaxnn import experiment, initializers
from jaxnn.experiment import train_digits


@dataclasses.dataclass(frozen=True)
class Config:
    layers: tuple[int, ...] = (64, 64, 64, 10)
    lr: float = 0.05
    batch_size: int = 32
    epochs: int = 30
    seed: int = 0


def main(config: Config, out_dir: str) -> dict:
    metrics = {}
    fig, ax = experiment.figure()
    for scheme in initializers.SCHEMES:
        result = train_digits(config.layers, "relu", scheme, lr=config.lr,
                              batch_size=config.batch_size, epochs=config.epochs,
                              seed=config.seed)  # fmt: skip
        W1 = result.pop("params")["W1"]
        # spread of the hidden units: 0 when every row of W1 is the same (symmetry unbroken)
        result["W1_row_spread"] = float(jnp.max(jnp.std(W1, axis=0)))
        ax.plot(result.pop("history"), label=scheme)
        metrics[scheme] = result
    ax.set(xlabel="epoch", ylabel="training cost", yscale="log", title="initialization")
    ax.legend()
    experiment.save(fig, out_dir, "cost.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
