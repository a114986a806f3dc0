"""PNG plots of a run's history (matplotlib, headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def training_curves(history: list[dict], out_dir: str) -> list[str]:
    """cost.png (training cost per epoch) and accuracy.png (train and test accuracy)."""
    epochs = [row["epoch"] for row in history]
    paths = []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, [row["cost"] for row in history], marker="o", label="train cost J")
    if history and "test_cost" in history[0]:
        ax.plot(epochs, [row["test_cost"] for row in history], marker="s", label="test cost")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "cost.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, [row["train_accuracy"] for row in history], marker="o", label="train")
    ax.plot(epochs, [row["test_accuracy"] for row in history], marker="s", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "accuracy.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
