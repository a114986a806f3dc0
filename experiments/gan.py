"""Does the non-saturating generator loss train an MLP GAN on MNIST where the minimax one
stalls (Goodfellow et al. 2014, §3)? For each generator loss: (1) the first ``--probe-steps``
steps of the model's own compiled step, measuring the generator's gradient norm under both
losses and D(G(z)) at every step; (2) training through `jaxnn train`'s path with a grid of
samples every ``--grid-every`` epochs; (3) 10 000 samples scored by a LeNet-5 trained here
(``--classifier``: the folder of a `jaxnn train --model lenet5 --dataset mnist` run): class
histogram and its entropy against log 10, mean confidence, Inception-style score, and the
Fréchet distance on its 84 penultimate features to the test set (jaxnn.sample_scores).

    jaxnn train --model lenet5 --dataset mnist --manual-dir /tmp/mnist-real \\
        --optimizer momentum --lr 0.05 --batch-size 128 --epochs 3 --out runs/lenet5-mnist
    python experiments/gan.py --manual-dir /tmp/mnist-real --classifier runs/lenet5-mnist \\
        --epochs 5 --out runs/gan
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from helpers import generative_runs

from jaxnn import checkpoint, data, experiment, run, sample_scores, train
from jaxnn.layers import sequential
from jaxnn.models import gan
from jaxnn.run import TrainConfig, train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    losses: tuple[str, ...] = ("non_saturating", "minimax")
    epochs: int = 5
    grid_every: int = 1
    batch_size: int = 128
    lr: float = 0.0002
    optimizer: str = "adam"
    beta1: float = 0.5  # Adam's β₁: 0.5 as in DCGAN and cs231n's GAN (0.9 collapsed here)
    noise: int = 64
    generator: tuple[int, ...] = (256, 512)
    discriminator: tuple[int, ...] = (512, 256)
    hidden: str = "tanh"
    probe_steps: int = 200
    samples: int = 10000
    classifier: str = ""  # a finished lenet5 run on MNIST (its --out folder); "": no scores
    seed: int = 0
    grads: str = "hand"
    manual_dir: str | None = None
    data_dir: str | None = None


def probe(train_config: TrainConfig, dataset, steps: int) -> list[dict]:
    """The first ``steps`` training steps (the model's compiled step, the run's initial
    params): both losses' generator gradient norms and D(G(z)) before each step."""
    model = run.build_model(train_config, data.Shapes.of(dataset))
    key_init, key_data = jax.random.split(jax.random.PRNGKey(train_config.seed))
    params = model.init(key_init)
    optimizer = train.make_optimizer(train_config.lr, name=train_config.optimizer,
                                     beta1=train_config.beta1)  # fmt: skip
    init_opt_state, step = model.make_step(train_config.grads, optimizer, train_config.l2)
    opt_state, step = init_opt_state(params), jax.jit(step)
    norms = jax.jit(lambda p: gan.generator_grad_norms(model, p, jax.random.PRNGKey(7), 256))
    X_rows = jnp.asarray(dataset.X_train.T)
    order = train.epoch_order(key_data, 0, X_rows.shape[0])
    b, rows = train_config.batch_size, []
    for index in range(steps):
        X = X_rows[order[(index * b) % len(order) :][:b]].T
        rows.append({"step": index, **{k: float(v) for k, v in norms(params).items()}})
        params, opt_state, _ = step(params, opt_state, X, jnp.zeros((0, X.shape[1])),
                                    jax.random.fold_in(key_data, index))  # fmt: skip
    return rows


def load_classifier(folder: str):
    """``(model, params)`` of a finished image-classifier run (its config.json, checkpoint)."""
    with open(os.path.join(folder, "config.json")) as file:
        saved = json.load(file)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in saved.items() if k in fields and k != "layers"})
    model = run.build_model(config, data.DATASETS[config.dataset].shapes)
    return model, checkpoint.load(os.path.join(folder, "checkpoints"))["params"]


def classify(model, params, X: np.ndarray, batch: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (C, n) and penultimate features (d, n) of image columns X."""

    @jax.jit
    def one(images):
        outputs = sequential.activations(model.net, params, images)
        return jax.nn.softmax(outputs[-1][1], axis=0), outputs[-2][1]

    probs, features = [], []
    for start in range(0, X.shape[1], batch):
        images = data.in_layout(np.asarray(X[:, start : start + batch]), model.input_shape, 0)
        p, f = one(jnp.asarray(images))
        probs.append(np.asarray(p))
        features.append(np.asarray(f))
    return np.concatenate(probs, axis=1), np.concatenate(features, axis=1)


def scores(classifier, X_samples, X_test) -> dict:
    """sample_scores of image columns X_samples, the Fréchet distance to X_test."""
    model, params = classifier
    probs, features = classify(model, params, X_samples)
    _, test_features = classify(model, params, X_test)
    return {
        **sample_scores.class_scores(probs),
        "frechet_distance_to_test": sample_scores.frechet_distance(features, test_features),
    }


def draw_probe(probes: dict, out_dir: str) -> str:
    fig, (top, bottom) = experiment.figure(2, 1, size=(6, 5.5))
    for loss, rows in probes.items():
        steps = [r["step"] for r in rows]
        top.plot(steps, [r[f"{loss}_grad_norm"] for r in rows], label=f"trained {loss}")
        bottom.plot(steps, [r["d_fake"] for r in rows], label=f"trained {loss}")
    top.set(yscale="log", ylabel="‖∂J_G/∂θ_G‖ (its own loss)",
            title="generator gradient, first steps")  # fmt: skip
    bottom.set(yscale="log", xlabel="step", ylabel="mean D(G(z))")
    top.legend()
    return experiment.save(fig, out_dir, "generator_gradient_early.png")


def main(config: Config, out_dir: str) -> dict:
    dataset = data.load(config.dataset, data_dir=config.data_dir, manual_dir=config.manual_dir)
    classifier = load_classifier(config.classifier) if config.classifier else None
    results, probes = {}, {}
    for loss in config.losses:
        train_config = TrainConfig(
            dataset=config.dataset, model="gan", batch_size=config.batch_size, lr=config.lr,
            optimizer=config.optimizer, beta1=config.beta1, seed=config.seed, grads=config.grads,
            hidden=config.hidden, data_dir=config.data_dir, manual_dir=config.manual_dir,
            checkpoint_secs=0,
            options={"noise": config.noise, "generator": list(config.generator),
                     "discriminator": list(config.discriminator), "loss": loss},
        )  # fmt: skip
        probes[loss] = probe(train_config, dataset, config.probe_steps)
        run_dir = os.path.join(out_dir, loss)
        stops = sorted({*range(config.grid_every, config.epochs, config.grid_every),
                        config.epochs})  # fmt: skip
        for epochs in stops:
            metrics = train_and_evaluate(dataclasses.replace(train_config, epochs=epochs),
                                         run_dir, resume=epochs != stops[0])  # fmt: skip
            model, params, _ = generative_runs.load_run(train_config, run_dir)
            grid = np.asarray(gan.sample(model, params, jax.random.PRNGKey(1), 64))
            generative_runs.save_grid(grid, 8, os.path.join(out_dir, f"{loss}_epoch{epochs}.png"),
                                      f"{loss}, epoch {epochs}")  # fmt: skip
        first, last = probes[loss][0], probes[loss][-1]
        results[loss] = {
            "describe": metrics["describe"], "train_seconds": metrics["train_seconds"],
            **{f"test_{k}": metrics[f"test_{k}"] for k in
               ("cost", "generator_loss", "d_real", "d_fake", "generator_grad_norm")},
            "probe_first_step": first, "probe_last_step": last,
            "probe_mean_own_grad_norm": float(np.mean([r[f"{loss}_grad_norm"]
                                                       for r in probes[loss]])),
        }  # fmt: skip
        if classifier is not None:
            X_samples = np.asarray(gan.sample(model, params, jax.random.PRNGKey(2),
                                              config.samples))  # fmt: skip
            results[loss]["scores"] = scores(classifier, X_samples, dataset.X_test)
    if classifier is not None:  # the same scores for real images: the ceiling
        X_real = dataset.X_train[:, : config.samples]
        results["real_train_images"] = scores(classifier, X_real, dataset.X_test)
    with open(os.path.join(out_dir, "probe.json"), "w") as file:
        json.dump(probes, file)
    draw_probe(probes, out_dir)
    return results


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
