"""Row-by-row MNIST: how far do a tanh RNN and an LSTM get, and why does the RNN fall
behind? Each 28×28 image is read as 28 steps of 28 pixels (many-to-one); both cells train
through `jaxnn train`'s own path with the hand-derived BPTT, for several seeds. Then the
gradient that reaches each step, ‖∂J/∂h_t‖ (hand BPTT on test images), is drawn against t
for both cells, at initialization and after training: the vanishing gradient, seen.

    python experiments/rnn_mnist.py --manual-dir DIR --out runs/experiments/rnn_mnist
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import checkpoint, data, experiment
from jaxnn.models import recurrent
from jaxnn.run import TrainConfig, build_model, train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    cells: str = "rnn,lstm"
    seeds: str = "0,1,2"
    epochs: int = 10
    hidden_size: int = 128
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    clip_norm: float = 1.0
    grads: str = "hand"
    norm_examples: int = 1000  # test images the gradient norms are measured on
    data_dir: str | None = None
    manual_dir: str | None = None


def train_config(config: Config, cell: str, seed: int) -> TrainConfig:
    return TrainConfig(
        dataset=config.dataset, model=cell, options={"hidden_size": config.hidden_size},
        batch_size=config.batch_size, lr=config.lr, optimizer=config.optimizer,
        clip_norm=config.clip_norm, epochs=config.epochs, seed=seed, grads=config.grads,
        data_dir=config.data_dir, manual_dir=config.manual_dir, checkpoint_secs=0,
    )  # fmt: skip


def main(config: Config, out_dir: str) -> dict:
    cells = config.cells.split(",")
    seeds = [int(s) for s in config.seeds.split(",")]
    dataset = data.load(config.dataset, data_dir=config.data_dir, manual_dir=config.manual_dir)
    results, norms = {}, {}
    for cell in cells:
        runs = []
        for seed in seeds:
            run_dir = os.path.join(out_dir, f"{cell}-seed{seed}")
            metrics = train_and_evaluate(train_config(config, cell, seed), run_dir)
            runs.append({key: metrics[key] for key in ("test_accuracy", "train_accuracy",
                                                       "train_seconds", "device")})  # fmt: skip
        accuracies = [run["test_accuracy"] for run in runs]
        results[cell] = {"runs": runs, "test_accuracy_mean": float(np.mean(accuracies)),
                         "test_accuracy_std": float(np.std(accuracies))}  # fmt: skip
        norms[cell] = gradient_norms(config, cell, seeds[0], dataset, out_dir)
    draw_norms(norms, out_dir)
    return {"settings": dataclasses.asdict(config), "results": results,
            "gradient_norms": {cell: {k: v.tolist() for k, v in n.items()}
                               for cell, n in norms.items()}}  # fmt: skip


def gradient_norms(config, cell, seed, dataset, out_dir) -> dict:
    """‖∂J/∂h_t‖ for t = 1..28 at the initial and the trained params (hand BPTT)."""
    tc = train_config(config, cell, seed)
    model = build_model(tc, data.Shapes.of(dataset))
    count = config.norm_examples
    X = jnp.asarray(data.in_layout(dataset.X_test[:, :count], model.input_shape, 2))
    Y = jnp.asarray(data.one_hot(dataset.labels_test[:count], 10))
    initial = model.init(jax.random.split(jax.random.PRNGKey(seed))[0])
    trained = checkpoint.load(os.path.join(out_dir, f"{cell}-seed{seed}", "checkpoints"))
    return {
        stage: np.asarray(recurrent.hidden_gradient_norms(cell, params, X, Y))
        for stage, params in (("initial", initial), ("trained", trained["params"]))
    }


def draw_norms(norms: dict, out_dir: str) -> str:
    fig, axes = experiment.figure(1, 2, size=(10, 3.5))
    for ax, stage in zip(axes, ("initial", "trained"), strict=True):
        for cell, by_stage in norms.items():
            values = by_stage[stage]
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=cell)
        ax.set(xlabel="step t (image row)", ylabel="‖∂J/∂h_t‖", yscale="log",
               title=f"{stage} params")  # fmt: skip
        ax.legend()
    return experiment.save(fig, out_dir, "gradient_norms.png")


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
