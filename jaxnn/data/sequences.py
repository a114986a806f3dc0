"""Sequence datasets that need no download: the adding problem and English text.

Both come back as a ``jaxnn.data.Dataset`` of columns, with ``sequence_shape`` saying how
each column is a sequence and ``Y_train``/``Y_test`` the targets (not classes):

* ``adding(T)`` (Hochreiter & Schmidhuber 1997; the variant of Le et al. 2015): each step
  is a pair (value ~ U[0, 1], marker); exactly two markers are 1, one in each half of the
  sequence, and the target is the sum of the two marked values. Answering the mean (1)
  always scores MSE = Var(u₁ + u₂) = 2/12 = 1/6; beating it means carrying a value across
  up to T steps. Columns ``(2T, m)`` are the row-major ``(T, 2)`` sequences; ``Y (1, m)``.
* ``text``: the English of the standard library's ``pydoc_data.topics`` (Python's own
  documentation, in every install): characters to ids over the characters it uses, cut
  into sequences of ``T`` characters whose targets are the next characters. The last 10%
  of the text is held out as the test split.
"""

from __future__ import annotations

import numpy as np

ADDING_TRAIN, ADDING_TEST = 10_000, 1_000
TEXT_STEPS = 100  # characters per training sequence
TEXT_TEST_FRACTION = 0.1


def adding_problem(T: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sequences (m, T, 2), targets (m,))`` of the adding problem (module docstring)."""
    if T < 2:
        raise ValueError(f"the adding problem needs T ≥ 2 steps; got {T}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (m, T)).astype(np.float32)
    first = rng.integers(0, T // 2, m)
    second = rng.integers(T // 2, T, m)
    markers = np.zeros((m, T), np.float32)
    markers[np.arange(m), first] = 1.0
    markers[np.arange(m), second] = 1.0
    targets = values[np.arange(m), first] + values[np.arange(m), second]
    return np.stack([values, markers], axis=-1), targets.astype(np.float32)


def load_adding(T: int):
    """The ``adding`` datasets: 10 000 training and 1 000 test sequences of T steps (fixed
    seeds 0 and 1)."""
    from jaxnn.data.dataset import Dataset

    def load(**_) -> Dataset:
        splits = [adding_problem(T, m, seed) for m, seed in ((ADDING_TRAIN, 0), (ADDING_TEST, 1))]
        (X, y), (X_test, y_test) = splits
        empty = np.zeros((0,), np.int32)
        return Dataset(
            f"adding{T}", X.reshape(len(X), -1).T, empty, X_test.reshape(len(X_test), -1).T,
            empty, 1, f"synthetic: the adding problem, T = {T} (jaxnn.data.sequences)",
            sequence_shape=(T, 2), Y_train=y[None, :], Y_test=y_test[None, :],
        )  # fmt: skip

    return load


def text_corpus() -> str:
    """The text of ``pydoc_data.topics`` (every topic, in sorted order)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


def vocabulary(text: str | None = None) -> str:
    """The characters of the corpus, sorted: character ``vocabulary()[i]`` has id i."""
    return "".join(sorted(set(text_corpus() if text is None else text)))


def encode(text: str, chars: str) -> np.ndarray:
    index = {c: i for i, c in enumerate(chars)}
    return np.fromiter((index[c] for c in text), np.int32, len(text))


def decode(ids, chars: str) -> str:
    return "".join(chars[int(i)] for i in ids)


def load_text(T: int = TEXT_STEPS, **_):
    """The ``text`` dataset: sequences of T character ids (columns ``(T, m)``) and their
    next characters ``Y (T, m)``; the last 10% of the corpus is the test split."""
    from jaxnn.data.dataset import Dataset

    corpus = text_corpus()
    chars = vocabulary(corpus)
    ids = encode(corpus, chars)
    cut = int(len(ids) * (1 - TEXT_TEST_FRACTION))

    def cut_up(part):
        m = (len(part) - 1) // T
        X = part[: m * T].reshape(m, T)
        Y = part[1 : m * T + 1].reshape(m, T)
        return np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)

    (X, Y), (X_test, Y_test) = cut_up(ids[:cut]), cut_up(ids[cut:])
    empty = np.zeros((0,), np.int32)
    return Dataset(
        "text", X, empty, X_test, empty, len(chars),
        f"pydoc_data.topics (Python's documentation text, {len(corpus)} characters, "
        f"{len(chars)} distinct)", sequence_shape=(T,), Y_train=Y, Y_test=Y_test,
    )  # fmt: skip
