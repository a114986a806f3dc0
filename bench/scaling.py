"""How jaxnn's training time grows with the number of examples, the hidden width and the
batch size (784-H-10 ReLU, softmax CE, float32, random data of MNIST's shape). Time per epoch
(median of 3) next to the matmul FLOP count: linear in examples, close to the FLOPs in width.
Writes bench/scaling.json and bench/scaling.png. Usage: python bench/scaling.py"""

from __future__ import annotations

import json
import os
import statistics
import time

import jax
import matplotlib
import numpy as np
import optax

from jaxnn import mlp, train

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def epoch_seconds(m, hidden, batch, repeats=3):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(784, m)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[:, rng.integers(0, 10, m)]
    X_rows, Y_rows = train.device_rows(X, Y)
    params = mlp.init(jax.random.PRNGKey(0), [784, hidden, 10])
    optimizer = optax.sgd(0.01)
    step = train.make_step(train.make_cost_and_grads("hand", "relu", "softmax"), optimizer)
    epoch = train.make_epoch(step, m, batch)
    state = optimizer.init(params)
    order = train.epoch_order(jax.random.PRNGKey(0), 0, m)
    jax.block_until_ready(epoch(params, state, order, X_rows, Y_rows))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(epoch(params, state, order, X_rows, Y_rows))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def flops(m, hidden, batch):
    return 2 * m * (2 * hidden * 784 + 3 * 10 * hidden)


def main():
    sweeps = {
        "examples": [dict(m=m, hidden=500, batch=200) for m in (7500, 15000, 30000, 60000)],
        "hidden width": [dict(m=30000, hidden=h, batch=200) for h in (125, 250, 500, 1000)],
        "batch size": [dict(m=30000, hidden=500, batch=b) for b in (25, 50, 100, 200, 400, 1000)],
    }
    results = {}
    for name, settings in sweeps.items():
        rows = []
        for s in settings:
            seconds = epoch_seconds(**s)
            rows.append({**s, "seconds": seconds, "gflops_per_s": flops(**s) / seconds / 1e9})
            print(name, s, f"{seconds:.3f}s", f"{rows[-1]['gflops_per_s']:.0f} GFLOP/s")
        results[name] = rows
    with open(os.path.join(HERE, "scaling.json"), "w") as file:
        json.dump(results, file, indent=2)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (name, rows) in zip(axes, results.items(), strict=True):
        key = {"examples": "m", "hidden width": "hidden", "batch size": "batch"}[name]
        xs = [r[key] for r in rows]
        ax.plot(xs, [r["seconds"] for r in rows], "o-", label="measured")
        scale = rows[-1]["seconds"] / flops(**{k: rows[-1][k] for k in ("m", "hidden", "batch")})
        ax.plot(xs, [scale * flops(**{k: r[k] for k in ("m", "hidden", "batch")}) for r in rows],
                "--", label="∝ matmul FLOPs")  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel=name, ylabel="seconds per epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "scaling.png"), dpi=100)


if __name__ == "__main__":
    main()
