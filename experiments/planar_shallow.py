"""How does the hidden-layer size of a one-hidden-layer tanh network change what it can
separate on the planar "flower" data? Decision boundaries and accuracy for several sizes."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import data, experiment, mlp, train


@dataclasses.dataclass(frozen=True)
class Config:
    hidden_sizes: tuple[int, ...] = (1, 2, 3, 5, 20, 50)
    lr: float = 1.2
    epochs: int = 2000  # full-batch gradient descent steps
    seed: int = 0


def main(config: Config, out_dir: str) -> dict:
    X_np, labels = data.synthetic.planar_flower(m=400, seed=config.seed)
    X, Y = jnp.asarray(X_np), jnp.asarray(labels[None, :], jnp.float32)
    grid_x, grid_y = np.meshgrid(np.linspace(-4.5, 4.5, 150), np.linspace(-4.5, 4.5, 150))
    grid = jnp.asarray(np.stack([grid_x.ravel(), grid_y.ravel()]), jnp.float32)
    cols = 3
    rows = -(-len(config.hidden_sizes) // cols)
    fig, axes = experiment.figure(rows, cols, size=(4 * cols, 3.6 * rows))
    metrics = {}
    for ax, hidden in zip(np.ravel(axes), config.hidden_sizes, strict=False):
        params = mlp.init(jax.random.PRNGKey(config.seed), [2, hidden, 1])
        params, history = train.fit(
            params, X, Y, train.make_cost_and_grads("hand", "tanh", "sigmoid"),
            train.make_optimizer(config.lr), config.epochs,
        )  # fmt: skip
        accuracy = float(mlp.accuracy(params, X, Y, "tanh", "sigmoid"))
        metrics[f"hidden_{hidden}"] = {"accuracy": accuracy, "final_cost": history[-1]}
        surface = np.asarray(mlp.predict(params, grid, "tanh", "sigmoid")).reshape(grid_x.shape)
        ax.contourf(grid_x, grid_y, surface, cmap="RdBu", alpha=0.4)
        ax.scatter(X_np[0], X_np[1], c=labels, cmap="RdBu", s=6)
        ax.set_title(f"{hidden} hidden units: accuracy {accuracy:.3f}")
    experiment.save(fig, out_dir, "decision_boundaries.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
