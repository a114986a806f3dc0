"""PNG plots of a run's history (matplotlib, headless).

Figures are drawn on matplotlib's Agg canvas directly (``matplotlib.figure.Figure``), without
``pyplot``: no global figure state, and half the import time."""

from __future__ import annotations

import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _curves(history, series, ylabel, path, log=False) -> str:
    """One figure: ``series`` is ``[(history key, label, marker), ...]`` against the epoch;
    epochs without that key (not evaluated, ``--eval-every``) are left out of its line."""
    fig = Figure(figsize=(5, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for key, label, marker in series:
        rows = [row for row in history if key in row]
        if rows:
            ax.plot([row["epoch"] for row in rows], [row[key] for row in rows],
                    marker=marker if len(rows) < 60 else None, label=label)  # fmt: skip
    ax.set(xlabel="epoch", ylabel=ylabel, yscale="log" if log else "linear")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def training_curves(history: list[dict], out_dir: str) -> list[str]:
    """cost.png (train and test cost per epoch, and the mean minibatch cost of each epoch)
    and one NAME.png per other metric the model reports (accuracy.png for classifiers:
    train and test accuracy; mse.png, bits_per_char.png, ...); "validation" in place of
    "test" for a run with ``--validation``."""
    # the split evaluated besides training: the test set, or a run's --validation split
    held = "validation" if any(k.startswith("validation_") for r in history for k in r) else "test"
    names = sorted({key[len(held) + 1:] for row in history for key in row
                    if key.startswith(held + "_") and key != held + "_cost"})  # fmt: skip
    return [
        _curves(history, [("minibatch_cost_mean", "minibatch mean", "."),
                          ("cost", "train cost J", "o"), (f"{held}_cost", f"{held} cost", "s")],
                "cost", os.path.join(out_dir, "cost.png"), log=True),
        *(_curves(history, [(f"train_{name}", "train", "o"), (f"{held}_{name}", held, "s")],
                  name.replace("_", " "), os.path.join(out_dir, f"{name}.png"))
          for name in names),
    ]  # fmt: skip
