"""Does the finite-divergence guard (``jaxnn.divergence``) stay silent on every configuration
jaxnn trains, and how close does each come to it?

Trains the configurations of the README, the demo, the experiments and the tests through
``jaxnn.run.train_and_evaluate`` (the guard is on) and reports, per configuration, the
initial cost ``J0``, the largest epoch-mean minibatch cost, and its margin: the fraction of
the way from ``J0`` to the threshold ``J0 + FACTOR · max(|J0|, 1)`` (0: never above
``J0``; 1: the guard fires). Then the two learning rates the guard must stop.

    python experiments/divergence_margin.py --out runs/divergence_margin [--max-epochs 3]
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

import numpy as np

from jaxnn import divergence, experiment
from jaxnn.errors import DivergenceError
from jaxnn.run import TrainConfig, train_and_evaluate

DIGITS_MLP = dict(dataset="digits", layers=(64, 64, 10))
# name -> TrainConfig settings (epochs capped by --max-epochs; the costs are highest early)
CONFIGS = {
    "demo (make demo)": dict(**DIGITS_MLP, batch_size=32, lr=0.1, epochs=20),
    "README: jaxnn train --dataset digits": dict(dataset="digits", epochs=20),
    "README/homework: fashion_mnist 784,500,10": dict(
        dataset="fashion_mnist", layers=(784, 500, 10), batch_size=200, lr=0.1, epochs=20
    ),
    "README/lenet5: fashion_mnist momentum 0.05": dict(
        dataset="fashion_mnist", model="lenet5", batch_size=128, lr=0.05, optimizer="momentum",
        epochs=15,
    ),
    "tests: test_run SMALL": dict(dataset="digits", layers=(64, 16, 10), batch_size=50, lr=0.2,
                                  seed=3, epochs=5),
    "tests: test_run batch 4 (SIGKILL test)": dict(dataset="digits", layers=(64, 32, 10),
                                                   batch_size=4, lr=0.05, seed=11, epochs=30),
    "tests: test_devices": dict(dataset="digits", layers=(64, 32, 10), batch_size=64, seed=5,
                                epochs=3),
    "tests: lenet5 momentum 0.1 (on fashion_mnist)": dict(
        dataset="fashion_mnist", model="lenet5", batch_size=64, lr=0.1, optimizer="momentum",
        epochs=2,
    ),
    "adam 0.01 (common choice)": dict(**DIGITS_MLP, optimizer="adam", lr=0.01, epochs=10),
    "sgd lr 1 (large, still learns)": dict(**DIGITS_MLP, lr=1.0, epochs=10),
}  # fmt: skip
MUST_STOP = {
    "issue 14: --lr 10000": dict(dataset="digits", lr=10000.0, epochs=3),
    "--lr 100": dict(dataset="digits", lr=100.0, epochs=3),
}


@dataclasses.dataclass(frozen=True)
class Config:
    max_epochs: int = 3
    skip: str = ""  # comma-separated name prefixes to leave out (e.g. "README/lenet5")


def margin(history: list[dict]) -> dict:
    J0 = history[0]["initial_cost"]
    worst = max(row["minibatch_cost_mean"] for row in history)
    return {"J0": J0, "max_epoch_mean": worst, "threshold": divergence.threshold(J0),
            "margin": (worst - J0) / (divergence.threshold(J0) - J0)}  # fmt: skip


def main(config: Config, out_dir: str) -> dict:
    skip = tuple(s for s in config.skip.split(",") if s)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for index, (name, settings) in enumerate({**CONFIGS, **MUST_STOP}.items()):
            if skip and name.startswith(skip):
                continue
            epochs = min(settings["epochs"], config.max_epochs)
            run = TrainConfig(**{**settings, "epochs": epochs, "eval_every": 0})
            folder = os.path.join(scratch, str(index))
            try:
                train_and_evaluate(run, folder, progress=False)
                stopped = None
            except DivergenceError as error:
                stopped = str(error)
            with open(os.path.join(folder, "history.jsonl")) as file:
                history = [json.loads(line) for line in file if line.strip()]
            row = margin(history) if history else {}
            results[name] = {**row, "epochs": epochs, "stopped": stopped,
                             "must_stop": name in MUST_STOP}  # fmt: skip
            print(f"{name:<45} {row.get('margin', float('nan')):>8.4f} "
                  f"{'STOPPED' if stopped else 'ran'}", flush=True)  # fmt: skip
    false_alarms = [n for n, r in results.items() if r["stopped"] and not r["must_stop"]]
    missed = [n for n, r in results.items() if r["must_stop"] and not r["stopped"]]
    names = [n for n in results if not results[n]["must_stop"]]
    fig, ax = experiment.figure(size=(7, 0.35 * len(names) + 1))
    ax.barh(names, [results[n].get("margin", np.nan) for n in names])
    ax.set(xscale="log", xlabel="largest epoch-mean cost: fraction of the way to the threshold",
           title=f"divergence guard (FACTOR {divergence.FACTOR:g}): 1 = stop")  # fmt: skip
    experiment.save(fig, out_dir, "divergence_margin.png")
    return {"factor": divergence.FACTOR, "max_epochs": config.max_epochs, "results": results,
            "false_alarms": false_alarms, "missed": missed}  # fmt: skip


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
