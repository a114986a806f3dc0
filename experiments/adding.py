"""The adding problem: can the network carry a value across T steps? Each sequence holds
T (value, marker) pairs with two markers set; the target is the sum of the two marked
values. Always answering the mean (1) scores MSE 1/6 ≈ 0.167: a network below it has
learned to remember. A tanh RNN against an LSTM at T = 50 and T = 200, several seeds,
through `jaxnn train`'s own path (hand-derived BPTT). Then ‖∂J/∂h_t‖ against t (hand BPTT,
1000 test sequences), at the initial and the trained params of the first seed: how much of
the answer's error reaches the early steps, where the marked values can sit.

    python experiments/adding.py --out runs/experiments/adding
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import checkpoint, data, experiment
from jaxnn.models import recurrent
from jaxnn.run import TrainConfig, build_model, train_and_evaluate

BASELINE_MSE = 1 / 6  # always answering 1: Var(u1 + u2) = 2/12


@dataclasses.dataclass(frozen=True)
class Config:
    datasets: str = "adding,adding200"  # T = 50 and T = 200
    cells: str = "rnn,lstm"
    seeds: str = "0,1,2"
    epochs: int = 30
    hidden_size: int = 128
    batch_size: int = 100
    lr: float = 1e-3
    optimizer: str = "adam"
    clip_norm: float = 1.0
    grads: str = "hand"


def main(config: Config, out_dir: str) -> dict:
    results = {}
    fig, axes = experiment.figure(1, len(config.datasets.split(",")), size=(10, 3.5))
    for ax, dataset in zip(np.atleast_1d(axes), config.datasets.split(","), strict=True):
        for cell in config.cells.split(","):
            runs = []
            for seed in (int(s) for s in config.seeds.split(",")):
                run_dir = os.path.join(out_dir, f"{dataset}-{cell}-seed{seed}")
                metrics = train_and_evaluate(TrainConfig(
                    dataset=dataset, model=cell, output="linear",
                    options={"hidden_size": config.hidden_size}, batch_size=config.batch_size,
                    lr=config.lr, optimizer=config.optimizer, clip_norm=config.clip_norm,
                    epochs=config.epochs, seed=seed, grads=config.grads, checkpoint_secs=0,
                ), run_dir)  # fmt: skip
                runs.append({"seed": seed, "test_mse": metrics["test_mse"],
                             "train_seconds": metrics["train_seconds"]})  # fmt: skip
                with open(os.path.join(run_dir, "history.jsonl")) as file:
                    history = [json.loads(line) for line in file if line.strip()]
                ax.plot([row["epoch"] for row in history], [row["test_mse"] for row in history],
                        color="C0" if cell == "rnn" else "C1",
                        label=cell if seed == 0 else None)  # fmt: skip
            mses = [run["test_mse"] for run in runs]
            results[f"{dataset}/{cell}"] = {"runs": runs, "test_mse_mean": float(np.mean(mses)),
                                            "test_mse_min": float(np.min(mses))}  # fmt: skip
        ax.axhline(BASELINE_MSE, color="gray", linestyle="--", label="answer 1 (1/6)")
        ax.set(xlabel="epoch", ylabel="test MSE", yscale="log", title=dataset)
        ax.legend()
    experiment.save(fig, out_dir, "adding_mse.png")
    norms = gradient_norms(config, out_dir)
    return {"settings": dataclasses.asdict(config), "baseline_mse": BASELINE_MSE,
            "results": results, "gradient_norms": norms}  # fmt: skip


def gradient_norms(config: Config, out_dir: str) -> dict:
    """‖∂J/∂h_t‖ per dataset and cell, initial and trained (first seed), and their plot."""
    seed = int(config.seeds.split(",")[0])
    datasets = config.datasets.split(",")
    fig, axes = experiment.figure(1, len(datasets), size=(10, 3.5))
    norms = {}
    for ax, name in zip(np.atleast_1d(axes), datasets, strict=True):
        dataset = data.load(name)
        for cell in config.cells.split(","):
            tc = TrainConfig(dataset=name, model=cell, output="linear",
                             options={"hidden_size": config.hidden_size})  # fmt: skip
            model = build_model(tc, data.Shapes.of(dataset))
            X = jnp.asarray(data.in_layout(dataset.X_test, model.input_shape, 2))
            Y = jnp.asarray(dataset.Y_test)
            run_dir = os.path.join(out_dir, f"{name}-{cell}-seed{seed}")
            for stage, params in (
                ("initial", model.init(jax.random.split(jax.random.PRNGKey(seed))[0])),
                ("trained", checkpoint.load(os.path.join(run_dir, "checkpoints"))["params"]),
            ):
                values = np.asarray(recurrent.hidden_gradient_norms(cell, params, X, Y,
                                                                    output="linear"))  # fmt: skip
                norms[f"{name}/{cell}/{stage}"] = values.tolist()
                ax.plot(np.arange(1, len(values) + 1), values, label=f"{cell}, {stage}",
                        linestyle="-" if stage == "trained" else ":")  # fmt: skip
        ax.set(xlabel="step t", ylabel="‖∂J/∂h_t‖", yscale="log", title=name)
        ax.legend(fontsize=7)
    experiment.save(fig, out_dir, "gradient_norms.png")
    return norms


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
