"""What the generative models' experiments share: a finished run's model and params, and
pictures of images as columns (a grid of samples, rows of originals and reconstructions)."""

from __future__ import annotations

import os

import numpy as np

from jaxnn import checkpoint, data


def load_run(train_config, run_dir: str):
    """``(model, params, dataset)`` of a run ``jaxnn.run.train_and_evaluate`` finished in
    ``run_dir`` with ``train_config`` (the params of its last checkpoint)."""
    from jaxnn.run import build_model

    dataset = data.load(train_config.dataset, data_dir=train_config.data_dir,
                        manual_dir=train_config.manual_dir)  # fmt: skip
    model = build_model(train_config, data.Shapes.of(dataset))
    params = checkpoint.load(os.path.join(run_dir, "checkpoints"))["params"]
    return model, params, dataset


def _side(n_x: int) -> int:
    side = int(round(np.sqrt(n_x)))
    if side * side != n_x:
        raise ValueError(f"{n_x} pixels are not a square image")
    return side


def grid(X: np.ndarray, columns: int) -> np.ndarray:
    """Columns ``X (n_x, n)`` of square images tiled into one picture, ``columns`` wide."""
    X = np.asarray(X)
    side, n = _side(X.shape[0]), X.shape[1]
    rows = -(-n // columns)
    canvas = np.ones((rows * (side + 1) + 1, columns * (side + 1) + 1))
    for index in range(n):
        r, c = divmod(index, columns)
        top, left = 1 + r * (side + 1), 1 + c * (side + 1)
        canvas[top : top + side, left : left + side] = X[:, index].reshape(side, side)
    return canvas


def save_grid(X: np.ndarray, columns: int, path: str, title: str = "") -> str:
    from jaxnn import experiment

    picture = grid(X, columns)
    fig, ax = experiment.figure(size=(0.5 * columns + 0.4, 0.5 * picture.shape[0] / 29 + 0.6))
    ax.imshow(picture, cmap="gray", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[], title=title)
    return experiment.save(fig, os.path.dirname(path), os.path.basename(path))


def image_rows(rows: list[np.ndarray], labels: list[str], path: str) -> str:
    """One row of images per ``(n_x, n)`` array, labelled on the left."""
    from jaxnn import experiment

    n = rows[0].shape[1]
    fig, axes = experiment.figure(len(rows), 1, size=(0.6 * n + 1.5, 0.75 * len(rows) + 0.2))
    for ax, X, label in zip(np.atleast_1d(axes), rows, labels, strict=True):
        ax.imshow(grid(np.clip(X, 0, 1), n), cmap="gray", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    return experiment.save(fig, os.path.dirname(path), os.path.basename(path))
