"""Do per-example gradients (``vmap(grad)``) averaged over a batch equal the batch gradient
``dW = (1/m) dZ Aᵀ``? And why does backprop use vector–Jacobian products: the Jacobian of an
elementwise ReLU on a 4096-vector is 4096×4096, and with a batch of 100 it would be
409600×409600 — time and memory of ``jax.vjp`` vs materialising ``jax.jacrev``."""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import activations, experiment, gradcheck, mlp


@dataclasses.dataclass(frozen=True)
class Config:
    width: int = 4096
    batch: int = 100
    jacobian_batches: tuple[int, ...] = (1, 2, 4)  # materialised Jacobians stay ≤ 1 GiB
    seed: int = 0


def per_example_check(seed: int) -> dict:
    key = jax.random.PRNGKey(seed)
    params = mlp.init(key, [6, 5, 3])
    X = jax.random.normal(jax.random.fold_in(key, 1), (6, 32))
    Y = jax.nn.one_hot(jax.random.randint(jax.random.fold_in(key, 2), (32,), 0, 3), 3).T

    def one(x, y):
        return jax.grad(mlp.cost)(params, x[:, None], y[:, None])

    per_example = jax.vmap(one, in_axes=(1, 1))(X, Y)
    mean = jax.tree.map(lambda g: g.mean(axis=0), per_example)
    _, batch = mlp.cost_and_grads(params, X, Y)
    return {k: gradcheck.relative_error(mean[k], batch[k]) for k in params}


def timed(fn, *args):
    jax.block_until_ready(fn(*args))  # compile
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def main(config: Config, out_dir: str) -> dict:
    metrics = {"mean_of_per_example_vs_batch_relative_error": per_example_check(config.seed)}
    relu = activations.relu
    rows = []
    for batch in config.jacobian_batches:
        z = jax.random.normal(jax.random.PRNGKey(batch), (config.width * batch,))
        v = jnp.ones_like(z)
        vjp_fn = jax.jit(lambda z, v: jax.vjp(relu, z)[1](v)[0])
        jac_fn = jax.jit(lambda z, v: jax.jacrev(relu)(z).T @ v)
        same = bool(np.allclose(vjp_fn(z, v), jac_fn(z, v)))
        rows.append({"batch": batch, "n": config.width * batch,
                     "jacobian_bytes": (config.width * batch) ** 2 * 4,
                     "vjp_seconds": timed(vjp_fn, z, v), "jacrev_seconds": timed(jac_fn, z, v),
                     "same_result": same})  # fmt: skip
    n = config.width * config.batch
    metrics["jacobian_vs_vjp"] = rows
    metrics["full_batch_jacobian"] = {
        "shape": [n, n], "bytes_float32": n * n * 4, "GiB": n * n * 4 / 2**30,
        "vjp_bytes": n * 4,
    }  # fmt: skip
    fig, ax = experiment.figure()
    ns = [r["n"] for r in rows]
    ax.plot(ns, [r["jacrev_seconds"] for r in rows], "s-", label="jacrev (materialised)")
    ax.plot(ns, [r["vjp_seconds"] for r in rows], "o-", label="vjp")
    ax.set(xscale="log", yscale="log", xlabel="vector length n (width × batch)",
           ylabel="seconds", title="ReLU backward: Jacobian vs vjp")  # fmt: skip
    ax.legend()
    experiment.save(fig, out_dir, "jacobian_vs_vjp.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
