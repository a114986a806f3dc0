"""Classifier-based sample scores: values worked out by hand."""

import math

import numpy as np
import pytest

from jaxnn import sample_scores


def test_class_scores_of_confident_balanced_and_of_collapsed_samples():
    balanced = np.eye(10)[:, np.arange(50) % 10]  # every class equally often, certain
    scores = sample_scores.class_scores(balanced)
    assert scores["class_histogram"] == [5] * 10
    assert scores["marginal_entropy"] == pytest.approx(math.log(10))
    assert scores["mean_confidence"] == 1.0
    assert scores["inception_score"] == pytest.approx(10.0)
    collapsed = sample_scores.class_scores(np.eye(10)[:, [3] * 20])  # one mode only
    assert collapsed["marginal_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert collapsed["inception_score"] == pytest.approx(1.0)
    uniform = sample_scores.class_scores(np.full((10, 7), 0.1))  # no confident sample
    assert uniform["inception_score"] == pytest.approx(1.0)
    assert uniform["mean_confidence"] == pytest.approx(0.1)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4000))
    assert sample_scores.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # N(0, I) vs N(μ, 4I) in d = 3: ‖μ‖² + Tr(I + 4I − 2·2I) = ‖μ‖² + 3
    b = 2 * rng.normal(size=(3, 4000)) + np.array([[1.0], [0.0], [2.0]])
    assert sample_scores.frechet_distance(a, b) == pytest.approx(5 + 3, rel=0.05)
