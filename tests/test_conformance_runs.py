"""Every model of the registry through whole runs (the slower tier: ``make test-tier2``, run
by ``.ci/run`` after ``make test``): the run trains, its config.json rebuilds its model, and
a run stopped after one epoch and resumed ends bitwise where the uninterrupted run ends.

Each model at its gradient check's small size (tests/test_conformance.py), on 200 of the
bundled digits (images, rows read as sequences, or columns) or, for the Transformer, the
text. About 10 minutes on the 2-core machines."""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np
import pytest
from test_conformance import small_config

from jaxnn import checkpoint, gradcheck, models, run

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("JAXNN_TIER2") != "1",
        reason="the slower tier: make test-tier2 (JAXNN_TIER2=1)",
    ),  # fmt: skip
    pytest.mark.usefixtures("untuned"),
]


def tiny_config(name: str, dataset: str, epochs: int) -> run.TrainConfig:
    config = small_config(name, "digits" if dataset == "digits_small" else dataset)
    if name in gradcheck.GRADCHECK_SIZES and name in models.PAPER_MODELS:
        H, W, _ = gradcheck.GRADCHECK_SIZES[name][0]  # not the papers' 224×224 here
        config = dataclasses.replace(config, input_shape=(H, W, 1))
    return dataclasses.replace(config, dataset=dataset, epochs=epochs, batch_size=32,
                               eval_every=0, checkpoint_secs=0.0)  # fmt: skip


@pytest.mark.parametrize("name", models.MODELS)
def test_resumed_run_is_the_uninterrupted_one(name, tmp_path, digits_small):
    dataset = "text" if models.LAYOUTS[name] == "sequences" and name == "transformer" else (
        digits_small)  # fmt: skip
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    run.train_and_evaluate(tiny_config(name, dataset, 2), full, progress=False)
    run.train_and_evaluate(tiny_config(name, dataset, 1), part, progress=False)
    metrics = run.train_and_evaluate(tiny_config(name, dataset, 2), part, resume=True,
                                     progress=False)  # fmt: skip
    assert metrics["resumed_from_epoch"] == 1
    a = checkpoint.load(os.path.join(full, "checkpoints"), 2)["params"]
    b = checkpoint.load(os.path.join(part, "checkpoints"), 2)["params"]
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    with open(os.path.join(full, "config.json")) as file:
        saved = json.load(file)
    rebuilt = run.rebuild(saved)  # config.json alone: the same model, the same first params
    key_init = jax.random.split(jax.random.PRNGKey(saved["seed"]))[0]
    template = jax.tree.leaves(rebuilt.init(key_init))
    assert [np.shape(x) for x in template] == [np.shape(x) for x in jax.tree.leaves(a)]
