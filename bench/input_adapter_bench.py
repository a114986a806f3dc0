"""Padding MNIST to 32×32 inside the compiled step (``--input-shape``) vs once at load.

    python bench/input_adapter_bench.py [--m 4096] [--rounds 5]

LeNet-5 (1998) on random 28×28 images: (a) the model built at 32×32 behind
``jaxnn.models.input_adapter`` (the pad runs in every step, on the minibatch), (b) the same
model fed images padded once with numpy. One compiled epoch each, timed interleaved
(round-robin), median of ``--rounds``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import numpy as np
import optax

from jaxnn import models, train
from jaxnn.models import input_adapter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X28 = rng.random((args.m, 28, 28, 1), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, args.m)].T
    X32 = np.pad(X28, ((0, 0), (2, 2), (2, 2), (0, 0)))
    base = models.build("lenet5_1998", (32, 32, 1), 10)
    variants = {"in the step": (input_adapter.adapt(base, (28, 28, 1)), X28),
                "once at load": (base, X32)}  # fmt: skip
    optimizer = optax.sgd(0.01)
    runs = {}
    for name, (model, X) in variants.items():
        epoch = train.make_epoch(train.make_step(model.cost_and_grads, optimizer), args.m,
                                 args.batch, example_axis=0)  # fmt: skip
        params = model.init(jax.random.PRNGKey(0))
        state = (params, optimizer.init(params), *train.device_rows(X, Y, 0))
        order = train.epoch_order(jax.random.PRNGKey(0), 0, args.m)
        jax.block_until_ready(epoch(*state[:2], order, *state[2:]))  # compile
        runs[name] = (epoch, state, order)
    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (epoch, state, order) in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(epoch(*state[:2], order, *state[2:]))
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(json.dumps({"m": args.m, "batch": args.batch, "median_epoch_s": medians,
                      "ratio_step_over_load": medians["in the step"] / medians["once at load"],
                      "times": times}))  # fmt: skip


if __name__ == "__main__":
    main()
