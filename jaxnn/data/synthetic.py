"""Synthetic data sets for experiments, all from an explicit seed; columns are examples."""

from __future__ import annotations

import numpy as np


def planar_flower(m: int = 400, petals: int = 4, noise: float = 0.2, seed: int = 0):
    """The course's planar "flower": two classes in 2-D, petals of alternating colour.

    Returns X (2, m) and labels (m,) in {0, 1}; not linearly separable.
    """
    rng = np.random.default_rng(seed)
    per_class = m // 2
    X = np.zeros((m, 2), np.float32)
    labels = np.zeros(m, np.int32)
    radius_max = 4.0
    for cls in range(2):
        rows = slice(per_class * cls, per_class * (cls + 1))
        theta = np.linspace(cls * np.pi, (cls + 1) * np.pi, per_class)
        theta = theta + rng.normal(0, noise, per_class)
        r = radius_max * np.sin(petals * theta) + rng.normal(0, noise, per_class)
        X[rows] = np.c_[r * np.sin(theta), r * np.cos(theta)]
        labels[rows] = cls
    return np.ascontiguousarray(X.T), labels


def moons(m: int = 400, noise: float = 0.1, seed: int = 0):
    """Two interleaving half circles; X (2, m), labels (m,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    half = m // 2
    t_outer = np.linspace(0, np.pi, half)
    t_inner = np.linspace(0, np.pi, m - half)
    outer = np.c_[np.cos(t_outer), np.sin(t_outer)]
    inner = np.c_[1 - np.cos(t_inner), 0.5 - np.sin(t_inner)]
    X = np.r_[outer, inner] + rng.normal(0, noise, (m, 2))
    labels = np.r_[np.zeros(half, np.int32), np.ones(m - half, np.int32)]
    return np.ascontiguousarray(X.T.astype(np.float32)), labels


def random_regression(N: int = 64, D_in: int = 1000, D_out: int = 10, seed: int = 0):
    """The notes' 20-line two-layer net data: x, y = randn(N, D_in), randn(N, D_out).

    Returned row-major as printed (x (N, D_in), y (N, D_out)); transpose for the columns.
    """
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
