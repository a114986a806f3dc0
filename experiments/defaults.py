"""Does the shortest command train every model? Runs ``jaxnn train --model M --dataset D``
with nothing else set — each model's defaults (``jaxnn.models.TRAINING_DEFAULTS``) — for
``--epochs`` epochs (the GAN for its own default epochs), on MNIST or the model's dataset,
and writes the table of issue 27: the settings used, the test metrics, or the one-line
refusal. The GAN is judged by its samples, not its losses: 10 000 samples scored by the
LeNet-5 this script trains (class histogram and its entropy against log 10, mean confidence,
Inception-style score; ``jaxnn.sample_scores``), with a grid of samples saved.

    python experiments/defaults.py --manual-dir /tmp/mnist-real --epochs 1 --out runs/defaults
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import jax
import numpy as np
from helpers import generative_runs

from jaxnn import experiment, run
from jaxnn.errors import JaxnnError
from jaxnn.models import defaults, gan
from jaxnn.run import train_and_evaluate

sys.path.insert(0, os.path.dirname(__file__))
import gan as gan_experiment  # noqa: E402  (experiments/gan.py: the classifier's scores)


@dataclasses.dataclass(frozen=True)
class Config:
    runs: tuple[str, ...] = ("mlp:mnist", "lenet5:mnist", "alexnet:mnist", "vgg16:mnist",
                             "rnn:mnist", "lstm:mnist", "lstm:text", "autoencoder:mnist",
                             "vae:mnist", "gan:mnist")  # fmt: skip
    epochs: int = 1  # every model but those whose defaults set epochs (the GAN's)
    samples: int = 10000  # GAN samples scored
    seed: int = 0
    manual_dir: str | None = None
    data_dir: str | None = None


def shown(metrics: dict) -> str:
    """The test metrics worth a table cell (accuracy, bits per character, ELBO, D(x)...)."""
    names = [k for k in metrics if k.startswith("test_") and k != "test_cost"][:3]
    return ", ".join(f"{k[5:].replace('_', ' ')} {metrics[k]:.4g}" for k in names)


def main(config: Config, out_dir: str) -> dict:
    rows, classifier = [], None
    for spec in config.runs:
        name, dataset = spec.split(":")
        epochs = {} if "epochs" in defaults.entry(name) else {"epochs": config.epochs}
        train_config = run.train_config(
            name, dataset, **epochs, seed=config.seed, manual_dir=config.manual_dir,
            data_dir=config.data_dir, checkpoint_secs=0,
        )  # fmt: skip
        run_dir = os.path.join(out_dir, f"{name}-{dataset}")
        row = {"model": name, "dataset": dataset, "defaults": defaults.describe(name),
               "epochs": train_config.epochs}  # fmt: skip
        start = time.perf_counter()
        try:
            metrics = train_and_evaluate(train_config, run_dir, progress=False)
        except JaxnnError as error:
            row.update(result=f"refused: {error}", exit_code=error.exit_code)
            rows.append(row)
            print(f"{spec}: {row['result']}", flush=True)
            continue
        row.update(result=shown(metrics), final_cost=metrics["final_cost"],
                   train_seconds=metrics["train_seconds"],
                   wall_seconds=time.perf_counter() - start,
                   metrics={k: v for k, v in metrics.items() if k.startswith("test_")})  # fmt: skip
        if name == "lenet5" and dataset == "mnist":
            classifier = gan_experiment.load_classifier(run_dir)
        if name == "gan":
            model, params, ds = generative_runs.load_run(train_config, run_dir)
            grid = np.asarray(gan.sample(model, params, jax.random.PRNGKey(1), 64))
            title = f"GAN, its defaults, {train_config.epochs} epochs"
            generative_runs.save_grid(grid, 8, os.path.join(out_dir, "gan_samples.png"), title)
            if classifier is not None:
                samples = np.asarray(gan.sample(model, params, jax.random.PRNGKey(2),
                                                config.samples))  # fmt: skip
                row["scores"] = gan_experiment.scores(classifier, samples, ds.X_test)
                real = ds.X_train[:, : config.samples]
                row["real_image_scores"] = gan_experiment.scores(classifier, real, ds.X_test)
                s = row["scores"]
                row["result"] += (
                    f"; samples: classes {s['class_histogram']}, entropy "
                    f"{s['marginal_entropy']:.2f} (log 10 = 2.30), confidence "
                    f"{s['mean_confidence']:.2f}, IS {s['inception_score']:.2f}"
                )
        rows.append(row)
        print(f"{spec}: {row['result']} ({row['wall_seconds']:.0f} s)", flush=True)
    table = ["| command | defaults | epochs | result |", "|---|---|---|---|"]
    table += [f"| `jaxnn train --model {r['model']} --dataset {r['dataset']}` | {r['defaults']} "
              f"| {r['epochs']} | {r['result']} |" for r in rows]  # fmt: skip
    with open(os.path.join(out_dir, "table.md"), "w") as file:
        file.write("\n".join(table) + "\n")
    print("\n".join(table))
    return {"rows": rows}


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
