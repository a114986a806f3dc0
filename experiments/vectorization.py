"""How much faster is vectorized code than explicit loops (the notes: "up to 300×")?
z = wᵀx + b and one logistic-regression gradient step with n_x = 12288, as a pure-Python
loop, numpy vectorized, and jax.jit — measured side by side, interleaved, medians."""

from __future__ import annotations

import dataclasses
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import experiment, logistic


@dataclasses.dataclass(frozen=True)
class Config:
    n_x: int = 12288
    m: int = 20  # examples in the gradient step (the Python loop is O(n_x·m))
    repeats: int = 5
    seed: int = 0


def dot_loop(w, x, b):
    z = 0.0
    for i in range(len(w)):
        z += w[i] * x[i]
    return z + b


def grad_step_numpy(w, b, X, Y):
    A = 1.0 / (1.0 + np.exp(-(w.T @ X + b)))
    dZ = A - Y
    return X @ dZ.T / X.shape[1], dZ.sum() / X.shape[1]


def per_call_seconds(fn, budget=0.02):
    """Seconds per call, timing enough calls back to back to fill ``budget`` seconds (a
    single microsecond call would measure the timer, not the code)."""
    number, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(number):
            jax.block_until_ready(fn())
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return elapsed / number
        number *= 4


def main(config: Config, out_dir: str) -> dict:
    rng = np.random.default_rng(config.seed)
    w = rng.normal(size=(config.n_x, 1)) * 0.01
    X = rng.normal(size=(config.n_x, config.m))
    Y = (rng.uniform(size=(1, config.m)) > 0.5).astype(float)
    b = 0.1
    x = X[:, 0]
    w_list, x_list, X_rows, y_list = w[:, 0].tolist(), x.tolist(), X.T.tolist(), Y[0].tolist()
    params = {"w": jnp.asarray(w, jnp.float32), "b": jnp.asarray(b, jnp.float32)}
    Xj, Yj, xj = jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32), jnp.asarray(x)
    dot_jit = jax.jit(lambda w, x, b: jnp.dot(w[:, 0], x) + b)
    grads_jit = jax.jit(logistic.grads)
    dot_jit(params["w"], xj, params["b"]).block_until_ready()  # compile outside the timing
    jax.block_until_ready(grads_jit(params, Xj, Yj))

    candidates = {
        "dot": {
            "python loop": lambda: dot_loop(w_list, x_list, b),
            "numpy": lambda: np.dot(w[:, 0], x) + b,
            "jax.jit": lambda: dot_jit(params["w"], xj, params["b"]),
        },
        "gradient step": {
            "python loop": lambda: logistic.grads_pure_python(w_list, b, X_rows, y_list),
            "numpy": lambda: grad_step_numpy(w, b, X, Y),
            "jax.jit": lambda: grads_jit(params, Xj, Yj),
        },
    }
    metrics = {}
    for task, impls in candidates.items():
        samples = {name: [] for name in impls}
        for _ in range(config.repeats):  # interleaved: each round times every implementation
            for name, fn in impls.items():
                samples[name].append(per_call_seconds(fn))
        seconds = {name: statistics.median(s) for name, s in samples.items()}
        metrics[task] = {
            "seconds": seconds,
            "speedup_numpy_vs_loop": seconds["python loop"] / seconds["numpy"],
            "speedup_jit_vs_loop": seconds["python loop"] / seconds["jax.jit"],
        }
    loop_dw, loop_db = logistic.grads_pure_python(w_list, b, X_rows, y_list)
    np_dw, np_db = grad_step_numpy(w, b, X, Y)
    metrics["loop_equals_numpy"] = bool(np.allclose(loop_dw, np_dw[:, 0]) and
                                        np.isclose(loop_db, np_db))  # fmt: skip
    metrics["device"] = str(jax.devices()[0].device_kind)

    fig, axes = experiment.figure(1, 2, size=(9, 3.5))
    for ax, (task, result) in zip(axes, metrics.items(), strict=False):
        names = list(result["seconds"])
        ax.bar(names, [result["seconds"][n] for n in names], color=["#c44", "#48c", "#4a4"])
        ax.set(yscale="log", ylabel="seconds (median)", title=f"{task}, n_x = {config.n_x}")
        for i, n in enumerate(names):
            ratio = result["seconds"]["python loop"] / result["seconds"][n]
            ax.text(i, result["seconds"][n], f"{ratio:.0f}×", ha="center", va="bottom")
    experiment.save(fig, out_dir, "speedup.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
