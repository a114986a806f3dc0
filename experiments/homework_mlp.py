"""The notes' homework (§5): does a hand-written 784-500-10 ReLU MLP, trained by minibatch
gradient descent (batch 200, lr 0.1, 20 epochs), reach the printed test accuracy (~0.935 on
MNIST) in about the printed time (~45 s on a 3.6 GHz CPU)?

MNIST downloads where there is internet; offline, pass the MNIST files you have (the IDX
files, Keras's mnist.npz or mnist.pkl.gz; verified against the canonical digests), or run it
on Fashion-MNIST:

    python experiments/homework_mlp.py --manual-dir ~/mnist --out runs/homework
    python experiments/homework_mlp.py --manual-dir ~/mnist --seeds 0,1,2,3,4 --out runs/hw5
    python experiments/homework_mlp.py --dataset fashion_mnist --out runs/homework

``--seeds`` trains once per seed (initial weights and minibatch order) into OUT/seed-N and
writes the spread to OUT/metrics.json: ``test_accuracy`` (the mean), ``test_accuracy_std``
(sample standard deviation), ``test_accuracy_all``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys

from jaxnn import data, experiment
from jaxnn.errors import JaxnnError
from jaxnn.run import TrainConfig, train_and_evaluate

NOTES_REFERENCE = {"dataset": "mnist", "test_accuracy": 0.935, "seconds": 45.0,
                   "machine": "3.6 GHz CPU (as printed in the notes)"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    hidden_units: int = 500
    batch_size: int = 200
    lr: float = 0.1
    epochs: int = 20
    seed: int = 0
    seeds: tuple[int, ...] = ()  # several runs, one per seed, and their spread
    grads: str = "hand"
    data_dir: str | None = None
    manual_dir: str | None = None


def main(config: Config, out_dir: str) -> dict:
    if config.seeds:
        return several_seeds(config, out_dir)
    n_x = 64 if config.dataset == "digits" else 784
    train_config = TrainConfig(
        dataset=config.dataset, layers=(n_x, config.hidden_units, 10), hidden="relu",
        output="softmax", batch_size=config.batch_size, lr=config.lr, epochs=config.epochs,
        seed=config.seed, grads=config.grads, data_dir=config.data_dir,
        manual_dir=config.manual_dir,
    )  # fmt: skip
    metrics = train_and_evaluate(train_config, out_dir, progress=True)
    metrics["notes_reference"] = NOTES_REFERENCE
    with open(os.path.join(out_dir, "metrics.json"), "w") as file:
        json.dump(metrics, file, indent=2)
    return metrics


def several_seeds(config: Config, out_dir: str) -> dict:
    """One run per seed into OUT/seed-N; OUT/metrics.json holds the accuracy spread."""
    runs = {}
    for seed in config.seeds:
        run_dir = os.path.join(out_dir, f"seed-{seed}")
        runs[run_dir] = main(dataclasses.replace(config, seed=seed, seeds=()), run_dir)
    accuracies = [metrics["test_accuracy"] for metrics in runs.values()]
    first = next(iter(runs.values()))
    summary = {
        "dataset": first["dataset"], "epochs": first["epochs"], "layers": first["layers"],
        "seeds": list(config.seeds), "runs": list(runs),
        "test_accuracy": statistics.fmean(accuracies),
        "test_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "test_accuracy_all": accuracies,
        "train_seconds_all": [metrics["train_seconds"] for metrics in runs.values()],
        "device": first.get("device"), "notes_reference": NOTES_REFERENCE,
    }  # fmt: skip
    with open(os.path.join(out_dir, "metrics.json"), "w") as file:
        json.dump(summary, file, indent=2)
    return summary


if __name__ == "__main__":
    config, out = experiment.parse(Config, __doc__.split("\n\n")[0], default_out="runs/homework")
    if config.dataset not in data.DATASETS:
        sys.exit(f"unknown dataset {config.dataset!r}; choose one of: {', '.join(data.DATASETS)}")
    try:
        metrics = main(config, out)
    except JaxnnError as error:  # one line and the CLI's exit code (3: bad data files)
        print(f"homework_mlp: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    if config.seeds:
        print(
            f"{metrics['dataset']}: test accuracy {metrics['test_accuracy']:.4f} ± "
            f"{metrics['test_accuracy_std']:.4f} over seeds {config.seeds} ("
            + ", ".join(f"{a:.4f}" for a in metrics["test_accuracy_all"])
            + f"; notes, MNIST: ~{NOTES_REFERENCE['test_accuracy']}) -> {out}"
        )
        sys.exit(0)
    print(
        f"{metrics['dataset']}: test accuracy {metrics['test_accuracy']:.4f} "
        f"(notes, MNIST: ~{NOTES_REFERENCE['test_accuracy']}), training "
        f"{metrics['train_seconds']:.1f}s (notes: ~{NOTES_REFERENCE['seconds']:.0f}s), "
        f"compile {metrics['compile_seconds']:.1f}s, data {metrics['data_seconds']:.1f}s -> {out}"
    )
