"""LeNet-5 (1998) trained as published: stochastic diagonal Levenberg–Marquardt, the second
derivatives backpropagated by hand (``jaxnn.optim.sdlm``), on MNIST, one run per seed, one
after another; then the test error per pass of every seed beside the paper's and the Adam
recipe's (docs/convnets.md).

    python experiments/sdlm_lenet5.py --manual-dir DIR --seeds 0,1,2 --batch-size 1 \
        --lr 0.0005 --out runs/sdlm_lenet5

``--distort A``: the paper's distorted training digits (§III.C), a new random affine map per
training image and step (``jaxnn.layers.distort``; scaling, squeezing and shear up to A,
translations up to 2 pixels); the paper reports 0.8 % with them.

Each run is ``jaxnn train --model lenet5_1998 --dataset mnist --optimizer sdlm`` (the
paper's input scaling and padding, Eq. 9); a seed whose run finished is not run again, an
interrupted one resumes. The figure: ``OUT/test_error.png`` (``--figure`` copies it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

from jaxnn import experiment
from jaxnn.run import TrainConfig, train_and_evaluate

PAPER = {"passes": 20, "test_error": 0.95}  # LeCun et al. 1998, §III.C (no distortions)
# the Adam recipe's test error (%) at these epochs, seeds 0-2 (docs/convnets.md)
ADAM = {1: (2.80, 2.65, 2.97), 2: (1.85, 1.89, 2.27), 5: (1.23, 1.23, 1.44),
        10: (1.14, 1.09, 1.24), 15: (0.99, 1.01, 1.20), 20: (0.97, 0.98, 1.13)}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    manual_dir: str = ""
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 20
    batch_size: int = 1
    lr: float = 0.0005  # η of the first two passes; the later ones keep the paper's ratios
    figure: str = ""  # also copy the figure here (docs/img/...)
    distort: float = 0.0  # > 0: affine-distorted training digits (lenet5_1998's option)


def main(config: Config, out_dir: str) -> dict:
    results = {}
    for seed in config.seeds:
        run_dir = os.path.join(out_dir, f"seed{seed}")
        if not os.path.exists(os.path.join(run_dir, "metrics.json")):
            train_config = TrainConfig(
                dataset=config.dataset, model="lenet5_1998", manual_dir=config.manual_dir or None,
                input_shape=(32, 32, 1), optimizer="sdlm", lr=config.lr,
                batch_size=config.batch_size, epochs=config.epochs, seed=seed, eval_every=1,
                options={"distort": config.distort} if config.distort else {},
            )  # fmt: skip
            resume = os.path.exists(os.path.join(run_dir, "config.json"))
            train_and_evaluate(train_config, run_dir, resume=resume, progress=False)
        results[seed] = read_history(run_dir)
    path = draw(results, config, out_dir)
    if config.figure:
        shutil.copyfile(path, config.figure)
    if config.distort:
        draw_distortions(config, out_dir)
    return {f"seed{seed}_test_error_pct": rows[-1]["test_error"]
            for seed, rows in results.items()}  # fmt: skip


def read_history(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, "history.jsonl")) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    return [{"pass": r["epoch"], "test_error": 100 * (1 - r["test_accuracy"]),
             "train_error": 100 * (1 - r["train_accuracy"]), "seconds": r["seconds"]}
            for r in rows if "test_accuracy" in r]  # fmt: skip


def draw(results: dict, config: Config, out_dir: str) -> str:
    fig, ax = experiment.figure(size=(6, 4))
    for seed, rows in results.items():
        passes = [r["pass"] for r in rows]
        line = ax.plot(passes, [r["test_error"] for r in rows], marker="o", markersize=3,
                       label=f"SDLM test, seed {seed}")[0]  # fmt: skip
        ax.plot(passes, [r["train_error"] for r in rows], ls=":", color=line.get_color(),
                label=f"SDLM training (10,000), seed {seed}")  # fmt: skip
    epochs = sorted(ADAM)
    ax.plot(epochs, [sum(ADAM[e]) / 3 for e in epochs], ls="--", color="grey",
            label="Adam recipe, test, mean of seeds 0–2")  # fmt: skip
    ax.plot([PAPER["passes"]], [PAPER["test_error"]], marker="*", markersize=12, color="k",
            ls="none", label="paper: 0.95 % after 20 passes")  # fmt: skip
    ax.set(xlabel="pass through the training set", ylabel="error (%)", yscale="log",
           title=f"LeNet-5 (1998) on MNIST, SDLM, batch {config.batch_size}, "
                 f"η₁ = {config.lr:g}" + (f", distort {config.distort:g}" if config.distort
                                          else ""))  # fmt: skip
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return experiment.save(fig, out_dir, "test_error.png")


def draw_distortions(config: Config, out_dir: str, digits: int = 8, copies: int = 4) -> str:
    """``OUT/distortions.png``: the first training digits (padded to 32×32, as the network
    reads them) and ``copies`` distortions of each, drawn by the layer the runs train with."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxnn import data
    from jaxnn.layers import distort

    dataset = data.load(config.dataset, manual_dir=config.manual_dir or None)
    n_H, n_W, _ = dataset.image_shape
    top, left = (32 - n_H) // 2, (32 - n_W) // 2  # centred in 32×32, as the runs pad it
    images = np.pad(dataset.X_train[:, :digits].T.reshape(digits, n_H, n_W, 1),
                    ((0, 0), (top, 32 - n_H - top), (left, 32 - n_W - left), (0, 0)))  # fmt: skip
    rows = [images] + [np.asarray(distort.distort_forward(jnp.asarray(images), config.distort,
                                                          jax.random.PRNGKey(c))[0])
                       for c in range(copies)]  # fmt: skip
    fig, axes = experiment.figure(copies + 1, digits, size=(digits, copies + 1.3))
    for r, row in enumerate(rows):
        for i in range(digits):
            axes[r][i].imshow(row[i, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
            axes[r][i].set_xticks([]), axes[r][i].set_yticks([])
        axes[r][0].set_ylabel("original" if r == 0 else f"draw {r}", fontsize=8)
    a, t = config.distort, distort.TRANSLATION
    fig.suptitle(f"distort={a:g}: scaling, squeezing, shear up to ±{a:g}; shifts up to ±{t:g} px")
    return experiment.save(fig, out_dir, "distortions.png")


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
