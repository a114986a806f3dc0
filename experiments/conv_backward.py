"""Do the two hand-derived convolution backward passes (the explicit loop over kernel offsets
and the XLA-convolution form) agree with jax.grad, and how fast is each? Measured on the
shapes of LeNet-5's two convolutions (batch 200), and on awkward ones (stride 3 that does not
divide, an even kernel with 'same' padding), in float64 for agreement and float32 for time.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import jax
import jax.numpy as jnp

from jaxnn import compat, experiment, gradcheck
from jaxnn.layers import conv

# name: (input shape, kernel shape, stride, padding)
CASES = {
    "lenet5 conv1 (28x28x1 -> 6, 5x5 same)": ((200, 28, 28, 1), (5, 5, 1, 6), 1, "same"),
    "lenet5 conv2 (14x14x6 -> 16, 5x5 valid)": ((200, 14, 14, 6), (5, 5, 6, 16), 1, "valid"),
    "stride 3 not dividing (13x13x4 -> 8, 3x3)": ((32, 13, 13, 4), (3, 3, 4, 8), 3, "valid"),
    "even kernel same (12x12x3 -> 5, 4x4 /2)": ((32, 12, 12, 3), (4, 4, 3, 5), 2, "same"),
}


@dataclasses.dataclass(frozen=True)
class Config:
    repeats: int = 20
    batch: int = 200  # the batch of every case (at most its own: 200 LeNet-5, 32 the others)
    seed: int = 0
    cases: tuple[str, ...] = ()  # names from CASES; () for all of them


def _time(fn, *args, repeats: int) -> float:
    fn = jax.jit(fn)
    jax.block_until_ready(fn(*args))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def one_case(x_shape, w_shape, stride, padding, repeats, seed, dtype):
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    A_prev = jax.random.normal(keys[0], x_shape, dtype)
    W = jax.random.normal(keys[1], w_shape, dtype) * 0.1
    b = jnp.zeros((1, 1, 1, w_shape[3]), dtype)
    Z, cache = conv.conv_forward(A_prev, W, b, stride, padding)
    dZ = jax.random.normal(keys[2], Z.shape, dtype)

    def autodiff(dZ, A_prev, W, b):
        return jax.vjp(lambda *a: conv.conv_forward(*a, stride, padding)[0], A_prev, W, b)[1](dZ)

    def fast(dZ, P, W):
        return conv.conv_backward(dZ, conv.ConvCache(P, W, stride, cache.pads))

    def explicit(dZ, P, W):
        return conv.conv_backward_explicit(dZ, conv.ConvCache(P, W, stride, cache.pads))

    reference = jax.jit(autodiff)(dZ, A_prev, W, b)
    result = {}
    for name, fn in (("fast", fast), ("explicit", explicit)):
        grads = jax.jit(fn)(dZ, cache.P, W)
        errors = [gradcheck.relative_error(g, r) for g, r in zip(grads, reference, strict=True)]
        result[f"{name}_vs_autodiff"] = max(errors)
        if repeats:
            result[f"{name}_ms"] = 1e3 * _time(fn, dZ, cache.P, W, repeats=repeats)
    if repeats:
        result["autodiff_ms"] = 1e3 * _time(autodiff, dZ, A_prev, W, b, repeats=repeats)
    return result


def main(config: Config, out_dir: str) -> dict:
    metrics = {}
    unknown = set(config.cases) - set(CASES)
    if unknown:
        raise SystemExit(
            f"conv_backward: unknown case(s) {sorted(unknown)}; choose from {list(CASES)}"
        )
    for name, (x_shape, w_shape, stride, padding) in CASES.items():
        if config.cases and name not in config.cases:
            continue
        x_shape = (min(config.batch, x_shape[0]), *x_shape[1:])
        with compat.enable_x64(True):  # agreement in float64
            agreement = one_case(x_shape, w_shape, stride, padding, 0, config.seed, jnp.float64)
        timing = one_case(x_shape, w_shape, stride, padding, config.repeats, config.seed,
                          jnp.float32)  # fmt: skip
        metrics[name] = {**agreement, **{k: v for k, v in timing.items() if k.endswith("ms")}}
    fig, ax = experiment.figure(size=(8, 3.5))
    names = list(metrics)
    for offset, impl in enumerate(("explicit", "fast", "autodiff")):
        ax.barh([i + 0.25 * offset for i in range(len(names))],
                [metrics[n][f"{impl}_ms"] for n in names], height=0.25, label=impl)  # fmt: skip
    ax.set_yticks([i + 0.25 for i in range(len(names))], names, fontsize=7)
    ax.set(xlabel="ms per backward (float32, median)", title="conv backward")
    ax.legend()
    experiment.save(fig, out_dir, "conv_backward.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
