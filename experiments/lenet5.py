"""What does LeNet-5 learn, and how well? Trains the modern LeNet-5 (notes §7) with the
hand-derived backward through `jaxnn train`'s own path, then draws the first layer's
kernels, the feature maps of one test image through every layer, and the cost curves.

    python experiments/lenet5.py --dataset mnist --manual-dir DIR --out runs/lenet5
    python experiments/lenet5.py --dataset fashion_mnist --out runs/lenet5-fashion
"""

from __future__ import annotations

import dataclasses
import os

import jax.numpy as jnp
import numpy as np

from jaxnn import checkpoint, data, experiment, models
from jaxnn.layers import sequential
from jaxnn.run import TrainConfig, build_model, train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "fashion_mnist"
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.05
    optimizer: str = "momentum"
    seed: int = 0
    width: float = 1.0
    grads: str = "hand"
    data_dir: str | None = None
    manual_dir: str | None = None


def main(config: Config, out_dir: str) -> dict:
    train_config = TrainConfig(
        dataset=config.dataset, model="lenet5", width=config.width, batch_size=config.batch_size,
        lr=config.lr, optimizer=config.optimizer, epochs=config.epochs, seed=config.seed,
        grads=config.grads, data_dir=config.data_dir, manual_dir=config.manual_dir,
        eval_every=1, checkpoint_secs=0,
    )  # fmt: skip
    run_dir = os.path.join(out_dir, "run")
    metrics = train_and_evaluate(train_config, run_dir, progress=True)
    params = checkpoint.load(os.path.join(run_dir, "checkpoints"))["params"]
    dataset = data.load(config.dataset, data_dir=config.data_dir, manual_dir=config.manual_dir)
    model = build_model(train_config, data.Shapes.of(dataset))
    image = data.in_layout(dataset.X_test[:, :1], dataset.image_shape, 0)
    draw_kernels(params["conv1"]["W"], out_dir)
    draw_feature_maps(model, params, image, int(dataset.labels_test[0]), out_dir)
    draw_costs(os.path.join(run_dir, "history.jsonl"), out_dir)
    return {key: metrics[key] for key in ("dataset", "describe", "test_accuracy",
                                          "train_accuracy", "train_seconds", "epochs")}  # fmt: skip


def draw_kernels(W, out_dir: str) -> str:
    """conv1's kernels W (f, f, n_C_prev, n_C): one grey image per output channel."""
    W = np.asarray(W)
    n_C = W.shape[3]
    fig, axes = experiment.figure(1, n_C, size=(1.4 * n_C, 1.8))
    for k, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(W[:, :, 0, k], cmap="gray")
        ax.set(xticks=[], yticks=[], title=f"kernel {k + 1}")
    return experiment.save(fig, out_dir, "kernels.png")


def draw_feature_maps(model: models.Model, params, image, label: int, out_dir: str) -> str:
    """The test image, then every conv and pool layer's channels (up to 8 each)."""
    outputs = sequential.activations(model.net, params, jnp.asarray(image))
    stages = [(name, A) for name, A in outputs
              if name.startswith(("conv", "pool")) and A.ndim == 4]  # fmt: skip
    columns = 8
    rows = len(stages) + 1
    fig, axes = experiment.figure(rows, columns, size=(1.3 * columns, 1.4 * rows))
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(np.asarray(image)[0, :, :, 0], cmap="gray")
    axes[0, 0].set_title(f"input (label {label})", fontsize=8)
    for row, (name, A) in enumerate(stages, start=1):
        for k in range(min(columns, A.shape[3])):
            axes[row, k].imshow(np.asarray(A)[0, :, :, k], cmap="viridis")
            axes[row, k].set_title(f"{name} #{k + 1}", fontsize=7)
    return experiment.save(fig, out_dir, "feature_maps.png")


def draw_costs(history_path: str, out_dir: str) -> str:
    import json

    with open(history_path) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    fig, ax = experiment.figure()
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["minibatch_cost_mean"] for r in rows], label="training (minibatch mean)")
    ax.plot(epochs, [r["test_cost"] for r in rows], label="test")
    ax.set(xlabel="epoch", ylabel="cost J", yscale="log", title="LeNet-5")
    ax.legend()
    return experiment.save(fig, out_dir, "cost.png")


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
