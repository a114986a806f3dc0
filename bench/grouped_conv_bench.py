"""Grouped convolution, AlexNet's conv2 (27×27×96 → 256, 5×5, pad 2, 2 groups): forward as
one XLA grouped convolution vs the groups' ``conv.conv_forward``; backward per group
(``grouped_conv.grouped_conv_backward``) vs ``jax.vjp`` of the XLA grouped convolution.

    python bench/grouped_conv_bench.py [--m 8] [--rounds 5]

Interleaved rounds, medians; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

from jaxnn.layers import conv, grouped_conv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    key = jax.random.PRNGKey(0)
    A = jax.random.normal(key, (args.m, 27, 27, 96))
    W = jax.random.normal(jax.random.fold_in(key, 1), (5, 5, 48, 256)) * 0.01
    b = jnp.zeros((1, 1, 1, 256))
    dZ = jax.random.normal(jax.random.fold_in(key, 2), (args.m, 27, 27, 256))

    def xla(A, W):
        P = conv.pad(A, ((2, 2), (2, 2)))
        return jax.lax.conv_general_dilated(P, W, (1, 1), "VALID", dimension_numbers=conv.NHWC,
                                            feature_group_count=2)  # fmt: skip

    fns = {
        "forward xla": jax.jit(lambda A, W: grouped_conv.grouped_conv_forward(A, W, b, 2, 1, 2,
                                                                              "xla")[0]),
        "forward groups": jax.jit(lambda A, W: grouped_conv.grouped_conv_forward(A, W, b, 2, 1,
                                                                                 2, "groups")[0]),
        "backward per group": jax.jit(lambda A, W: grouped_conv.grouped_conv_backward(
            dZ, grouped_conv.grouped_conv_forward(A, W, b, 2, 1, 2)[1])[:2]),
        "backward jax.vjp (xla)": jax.jit(lambda A, W: jax.vjp(xla, A, W)[1](dZ)),
    }  # fmt: skip
    for fn in fns.values():
        jax.block_until_ready(fn(A, W))
    times = {name: [] for name in fns}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(A, W))
            times[name].append(time.perf_counter() - start)
    print(json.dumps({"m": args.m, "median_s": {k: statistics.median(v) for k, v in times.items()},
                      "times": times}))  # fmt: skip


if __name__ == "__main__":
    main()
