"""PNG plots of a run's history (matplotlib, headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _curves(history, series, ylabel, path, log=False) -> str:
    """One figure: ``series`` is ``[(history key, label, marker), ...]`` against the epoch."""
    epochs = [row["epoch"] for row in history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, label, marker in series:
        if history and key in history[0]:
            ax.plot(epochs, [row[key] for row in history], marker=marker, label=label)
    ax.set(xlabel="epoch", ylabel=ylabel, yscale="log" if log else "linear")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def training_curves(history: list[dict], out_dir: str) -> list[str]:
    """cost.png (train and test cost per epoch) and accuracy.png (train and test accuracy)."""
    return [
        _curves(history, [("cost", "train cost J", "o"), ("test_cost", "test cost", "s")],
                "cost", os.path.join(out_dir, "cost.png"), log=True),
        _curves(history, [("train_accuracy", "train", "o"), ("test_accuracy", "test", "s")],
                "accuracy", os.path.join(out_dir, "accuracy.png")),
    ]  # fmt: skip
