"""How well does an MLP autoencoder reconstruct MNIST and Fashion-MNIST, next to PCA with as
many components as its code (Hinton & Salakhutdinov's comparison)? Trains the autoencoder
through `jaxnn train`'s path with the hand-derived gradients, computes PCA by an
eigendecomposition of the training set's covariance (numpy), and scores both on the test
set: per-pixel binary cross-entropy and per-image squared error. Draws test images with
both reconstructions.

    python experiments/autoencoder.py --manual-dir /tmp/mnist-real --epochs 5 --out runs/ae
"""

from __future__ import annotations

import dataclasses
import os

import jax.numpy as jnp
import numpy as np
from helpers import generative_runs

from jaxnn import experiment
from jaxnn.run import TrainConfig, train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Config:
    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    epochs: int = 5
    batch_size: int = 128
    lr: float = 0.001
    optimizer: str = "adam"
    code: int = 32
    units: tuple[int, ...] = (256,)
    hidden: str = "relu"
    loss: str = "bce"
    seed: int = 0
    grads: str = "hand"
    manual_dir: str | None = None  # MNIST's files (e.g. /tmp/mnist-real)
    data_dir: str | None = None


def pca_reconstruct(X_train: np.ndarray, X: np.ndarray, k: int) -> np.ndarray:
    """X's columns projected on the training set's top-k principal components and back:
    ``x̂ = μ + U_k U_kᵀ (x − μ)`` with ``U_k`` the covariance's leading eigenvectors."""
    mu = X_train.mean(axis=1, keepdims=True, dtype=np.float64)
    centered = X_train - mu
    _, vectors = np.linalg.eigh(centered @ centered.T)  # ascending eigenvalues
    U = vectors[:, ::-1][:, :k]
    return mu + U @ (U.T @ (X - mu))


def reconstruction_errors(X_hat: np.ndarray, X: np.ndarray) -> dict:
    """Per-pixel BCE (x̂ clipped into (0, 1): PCA leaves it) and per-image squared error."""
    clipped = np.clip(X_hat, 1e-7, 1 - 1e-7)
    bce = -np.mean(X * np.log(clipped) + (1 - X) * np.log(1 - clipped))
    return {"bce": float(bce), "squared_error": float(np.sum((X_hat - X) ** 2) / X.shape[1])}


def main(config: Config, out_dir: str) -> dict:
    results = {}
    for name in config.datasets:
        train_config = TrainConfig(
            dataset=name, model="autoencoder", batch_size=config.batch_size, lr=config.lr,
            optimizer=config.optimizer, epochs=config.epochs, seed=config.seed,
            grads=config.grads, hidden=config.hidden, data_dir=config.data_dir,
            manual_dir=config.manual_dir, checkpoint_secs=0,
            options={"code": config.code, "units": list(config.units), "loss": config.loss},
        )  # fmt: skip
        run_dir = os.path.join(out_dir, name)
        metrics = train_and_evaluate(train_config, run_dir, progress=True)
        model, params, dataset = generative_runs.load_run(train_config, run_dir)
        X_test = dataset.X_test
        X_pca = pca_reconstruct(dataset.X_train, X_test, config.code)
        X_ae = np.asarray(model.forward(params, jnp.asarray(X_test)))
        results[name] = {
            "autoencoder": {"bce": metrics["test_bce"],
                            "squared_error": metrics["test_squared_error"],
                            "train_seconds": metrics["train_seconds"]},
            "autoencoder_check": reconstruction_errors(X_ae, X_test),
            "pca": reconstruction_errors(X_pca, X_test),
            "describe": metrics["describe"],
        }  # fmt: skip
        rows = [X_test[:, :10], X_ae[:, :10], np.clip(X_pca[:, :10], 0, 1)]
        labels = ["test", f"autoencoder ({config.code})", f"PCA ({config.code})"]
        generative_runs.image_rows(rows, labels, os.path.join(out_dir, f"recon_{name}.png"))
    return results


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
