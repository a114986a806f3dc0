"""Where one training step's milliseconds go: a LeNet-5 step (batch 200) and an LSTM step
(row-by-row MNIST, 128 hidden units, batch 128), part by part.

Each part is compiled on its own and timed in interleaved rounds (medians; the machine may be
shared): the minibatch gather from the device-resident rows, every layer's forward and
backward (the forms ``conv_backward=auto`` chose, or ``--conv-backward fast``), the cost and
its gradient, the optimizer update, and the whole step as the epoch runs it. The parts run
apart do not add up exactly to the step: XLA fuses across them in the step (and loses some
layouts), which the last lines show. Writes bench/profile_results.json and prints a table.

Usage: python bench/profile_step.py [--rounds 15] [--conv-backward auto|fast]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax

from jaxnn import models, train
from jaxnn.layers import autotune


def timed(parts: dict, rounds: int, plain: dict | None = None) -> dict:
    """Median ms of each ``parts[name] = (fn, args)``, compiled, and of each ``plain[name]``
    (a Python callable: PyTorch), in interleaved rounds."""
    compiled = {name: jax.jit(fn).lower(*args).compile() for name, (fn, args) in parts.items()}
    for name, fn in (plain or {}).items():
        compiled[name], parts[name] = fn, (fn, ())
    for name, run in compiled.items():
        jax.block_until_ready(run(*parts[name][1]))
    times = {name: [] for name in parts}
    for _ in range(rounds):
        for name, run in compiled.items():
            start = time.perf_counter()
            jax.block_until_ready(run(*parts[name][1]))
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def lenet_parts(conv_backward: str, batch: int = 200, m: int = 60_000) -> dict:
    model = models.build("lenet5", (28, 28, 1), 10, conv_backward=conv_backward)
    params = model.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    X_rows = jax.random.uniform(key, (m, 28, 28, 1))
    Y_rows = jax.nn.one_hot(jax.random.randint(key, (m,), 0, 10), 10)
    idx = jax.random.permutation(key, m)[:batch]
    X, Y = X_rows[idx], Y_rows[idx].T
    optimizer = optax.sgd(0.05)
    opt_state = optimizer.init(params)
    step = train.make_step(model.cost_and_grads, optimizer)
    _, grads = jax.jit(model.cost_and_grads)(params, X, Y)

    def gather(X_rows, Y_rows, idx):
        return X_rows[idx], Y_rows[idx].T

    def full_step(params, opt_state, X_rows, Y_rows, idx):
        X, Y = gather(X_rows, Y_rows, idx)
        return step(params, opt_state, X, Y)

    def update(grads, opt_state, params):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    parts = {"gather": (gather, (X_rows, Y_rows, idx))}
    A = X
    for name, layer in model.net:
        p = params.get(name, {})
        out, cache = layer.forward(p, A)  # eagerly: the cache keeps its ints as ints
        parts[f"{name} forward"] = (layer.forward, (p, A))
        need = name != model.net[0][0]
        leaves, treedef = jax.tree_util.tree_flatten(cache)
        arrays = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array)]

        def backward(p, cache_arrays, dA, layer=layer, need=need, leaves=leaves,
                     treedef=treedef, arrays=arrays):  # fmt: skip
            full = list(leaves)  # the cache's ints (stride, pads) stay Python constants
            for i, array in zip(arrays, cache_arrays, strict=True):
                full[i] = array
            return layer.backward(p, jax.tree_util.tree_unflatten(treedef, full), dA, need)

        parts[f"{name} backward"] = (backward, (p, [leaves[i] for i in arrays], jnp.ones_like(out)))
        A = out
    parts["cost (forward)"] = (model.cost, (params, X, Y))
    parts["cost and grads (hand)"] = (model.cost_and_grads, (params, X, Y))
    parts["cost and grads (jax.grad)"] = (model.autodiff_cost_and_grads, (params, X, Y))
    fixed = models.build("lenet5", (28, 28, 1), 10, conv_backward="fast")
    parts["cost and grads (hand, fixed forms)"] = (fixed.cost_and_grads, (params, X, Y))
    parts["sgd update"] = (update, (grads, opt_state, params))
    parts["whole step"] = (full_step, (params, opt_state, X_rows, Y_rows, idx))
    return parts, torch_lenet_step(params, X, Y)


def torch_lenet_step(params, X, Y):
    """PyTorch eager's LeNet-5 step on the same minibatch and weights (None without torch)."""
    try:
        import numpy as np
        import torch
        from conv_bench import torch_net
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    net = torch_net("lenet5", params)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_nchw = torch.from_numpy(np.ascontiguousarray(np.asarray(X).transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(np.asarray(Y).argmax(0).astype(np.int64))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(X_nchw), labels).backward()
        optimizer.step()

    return step


def lstm_parts(batch: int = 128, m: int = 60_000) -> dict:
    model = models.build("lstm", (28, 28), 10, hidden_size=128)
    params = model.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    X_rows = jax.random.uniform(key, (m, 28, 28))  # (m, T, n_x) rows
    Y_rows = jax.nn.one_hot(jax.random.randint(key, (m,), 0, 10), 10)
    idx = jax.random.permutation(key, m)[:batch]
    X = jnp.moveaxis(X_rows[idx], 0, 2)  # (T, n_x, m)
    Y = Y_rows[idx].T
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)
    step = train.make_step(model.cost_and_grads, optimizer)
    _, grads = jax.jit(model.cost_and_grads)(params, X, Y)

    def gather(X_rows, Y_rows, idx):
        return jnp.moveaxis(X_rows[idx], 0, 2), Y_rows[idx].T

    def full_step(params, opt_state, X_rows, Y_rows, idx):
        return step(params, opt_state, *gather(X_rows, Y_rows, idx))

    def update(grads, opt_state, params):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return {
        "gather": (gather, (X_rows, Y_rows, idx)),
        "cost (forward)": (model.cost, (params, X, Y)),
        "cost and grads (hand)": (model.cost_and_grads, (params, X, Y)),
        "cost and grads (jax.grad)": (model.autodiff_cost_and_grads, (params, X, Y)),
        "adam update": (update, (grads, opt_state, params)),
        "whole step": (full_step, (params, opt_state, X_rows, Y_rows, idx)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--conv-backward", default="auto", choices=("auto", "fast", "explicit"))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "profile_results.json"))  # fmt: skip
    args = parser.parse_args()
    report = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "device": autotune.device_kind(), "jax": jax.__version__},
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rounds": args.rounds,
              "conv_backward": args.conv_backward}  # fmt: skip
    parts, torch_step = lenet_parts(args.conv_backward)
    plain = {"pytorch eager step": torch_step} if torch_step else {}
    report["lenet5_ms"] = timed(parts, args.rounds, plain)
    report["lenet5_forms"] = {r.key.split("|", 2)[2]: r.choice for r in autotune.records()}
    report["lstm_ms"] = timed(lstm_parts(), args.rounds)
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")
    for name in ("lenet5_ms", "lstm_ms"):
        print(name.split("_")[0], file=sys.stdout)
        for part, ms in report[name].items():
            print(f"  {part:<36}{ms:>9.2f} ms")


if __name__ == "__main__":
    main()
