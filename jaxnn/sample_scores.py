"""Scores of generated images by a classifier trained here (no download): what TF-GAN calls
the "MNIST score" and the Fréchet distance on a classifier's features.

From the classifier's class probabilities ``p(y|x)`` ``(C, n)`` of n samples:

* the class histogram (mode coverage) and its entropy ``H(p(y))`` of the marginal
  ``p(y) = (1/n) Σ_i p(y|x_i)``, against ``log C`` (every class equally often);
* the mean confidence ``(1/n) Σ_i max_y p(y|x_i)`` (sharp, recognisable samples);
* the Inception-style score ``exp((1/n) Σ_i KL(p(y|x_i) ‖ p(y)))`` in [1, C]: high when each
  sample is confidently one class and the classes are balanced.

From features ``F (d, n)`` (a penultimate layer) of samples and of real images, the Fréchet
distance between the Gaussians fitted to each (Heusel et al. 2017):
``‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)``.
"""

from __future__ import annotations

import numpy as np


def class_scores(probs: np.ndarray) -> dict:
    """Histogram, marginal entropy, mean confidence and Inception-style score of ``probs``
    ``(C, n)``, each column a sample's class probabilities."""
    probs = np.asarray(probs, np.float64)
    num_classes = probs.shape[0]
    histogram = np.bincount(np.argmax(probs, axis=0), minlength=num_classes)
    marginal = probs.mean(axis=1)
    tiny = np.finfo(np.float64).tiny
    entropy = -np.sum(marginal * np.log(marginal + tiny))
    kl = np.sum(probs * (np.log(probs + tiny) - np.log(marginal[:, None] + tiny)), axis=0)
    return {
        "class_histogram": histogram.tolist(),
        "marginal_entropy": float(entropy),
        "max_entropy": float(np.log(num_classes)),
        "mean_confidence": float(np.mean(np.max(probs, axis=0))),
        "inception_score": float(np.exp(np.mean(kl))),
    }


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets ``(d, n_a)``,
    ``(d, n_b)`` (columns are examples)."""
    import scipy.linalg

    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(axis=1), b.mean(axis=1)
    cov_a, cov_b = np.atleast_2d(np.cov(a)), np.atleast_2d(np.cov(b))
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = np.real(root)  # round-off leaves a tiny imaginary part
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))
