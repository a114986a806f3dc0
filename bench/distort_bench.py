"""What the paper's distorted training digits cost: one compiled epoch of ``lenet5_1998`` at
batch 1 (SDLM's setting) with and without ``--option distort`` (``jaxnn.layers.distort``,
drawn in every step), on the same images, timed interleaved, medians.

    python bench/distort_bench.py [--m 10000] [--batch 1] [--rounds 5] [--distort 0.15] \
        [--json bench/distort_results.json]

Random 32×32 images (the cost does not depend on the pixels), one-hot targets, the
hand-derived gradients, SGD (the optimizer's cost is the same for both). Prints JSON with the
machine's CPU and vector flags, and writes it to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import numpy as np
import optax

from jaxnn import models, provenance, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--distort", type=float, default=0.15)
    parser.add_argument("--json", default="bench/distort_results.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.random((args.m, 32, 32, 1), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, args.m)].T
    optimizer = optax.sgd(1e-5)
    runs = {}
    for name, options in (("plain", {}), ("distort", {"distort": args.distort})):
        model = models.build("lenet5_1998", (32, 32, 1), 10, **options)
        init_opt_state, step = train.model_step(model, "hand", optimizer)  # the training path's
        epoch = train.make_epoch(step, args.m, args.batch, example_axis=0)
        params = model.init(jax.random.PRNGKey(0))
        state = (params, init_opt_state(params), *train.device_rows(X, Y, 0))
        order = train.epoch_order(jax.random.PRNGKey(0), 0, args.m)
        key = jax.random.PRNGKey(1)
        jax.block_until_ready(epoch(*state[:2], order, *state[2:], key))  # compile
        runs[name] = (epoch, state, order, key)
    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (epoch, state, order, key) in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(epoch(*state[:2], order, *state[2:], key))
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    result = {"m": args.m, "batch": args.batch, "distort": args.distort, "rounds": args.rounds,
              "median_epoch_s": medians,
              "ratio_distort_over_plain": medians["distort"] / medians["plain"],
              "times": times, "machine": provenance.versions()}  # fmt: skip
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            file.write(text + "\n")


if __name__ == "__main__":
    main()
