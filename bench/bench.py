"""``make bench``: the notes' homework workload, implementations side by side in one run.

784-500-10 ReLU MLP, softmax cross-entropy, batch 200, lr 0.1, 20 epochs, 60 000 examples,
float32, on Fashion-MNIST (offline: Debian's dataset-fashion-mnist or --manual-dir).
Implementations, each from the same initial weights and the same minibatch order:
jaxnn (hand-derived backprop and jax.grad), vectorized numpy with the hand-derived backprop
(the notes' way), and PyTorch eager on the CPU (the optional ``bench`` extra, torch==2.13.0).
The machine's limit: the FLOPs of one step's matmuls, and the time of exactly those matmul
shapes run back to back in one compiled loop, times the number of steps.

Rounds are interleaved (every implementation once per round) and medians reported; results
go to bench/results.json. Usage: python bench/bench.py [--rounds 3] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import data, mlp, provenance, train

LAYERS = (784, 500, 10)
BATCH, LR = 200, 0.1


def orders(m, epochs, seed=0):
    """The minibatch order of every epoch, shared by all implementations."""
    key = jax.random.PRNGKey(seed)
    return [train.epoch_order(key, e, m) for e in range(epochs)]


def accuracy_np(W1, b1, W2, b2, X, labels):
    Z2 = W2 @ np.maximum(W1 @ X + b1, 0) + b2
    return float(np.mean(np.argmax(Z2, axis=0) == labels))


# ------------------------------------------------------------------------------ jaxnn
def run_jaxnn(grads, params, ds, epoch_orders):
    X, Y = ds.X_train, data.one_hot(ds.labels_train, 10)
    X_rows, Y_rows = train.device_rows(X, Y)
    optimizer = optax.sgd(LR)
    step = train.make_step(train.make_cost_and_grads(grads, "relu", "softmax"), optimizer)
    epoch = train.make_epoch(step, X.shape[1], BATCH)
    opt_state = optimizer.init(params)
    start = time.perf_counter()
    compiled = epoch.lower(params, opt_state, epoch_orders[0], X_rows, Y_rows).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for order in epoch_orders:
        params, opt_state, costs = compiled(params, opt_state, order, X_rows, Y_rows)
    costs.block_until_ready()
    seconds = time.perf_counter() - start
    acc = float(mlp.accuracy(params, jnp.asarray(ds.X_test),
                             jnp.asarray(data.one_hot(ds.labels_test, 10)), "relu"))  # fmt: skip
    return {"train_seconds": seconds, "compile_seconds": compile_seconds, "test_accuracy": acc}


# ------------------------------------------------------------------------------ numpy
def run_numpy(params, ds, epoch_orders):
    """Vectorized numpy, the notes' hand-derived backprop, float32 throughout."""
    W1, b1, W2, b2 = (np.array(params[k]) for k in ("W1", "b1", "W2", "b2"))
    X_rows = np.ascontiguousarray(ds.X_train.T)
    labels = ds.labels_train
    eye = np.eye(10, dtype=np.float32)
    lr = np.float32(LR)
    start = time.perf_counter()
    for order in epoch_orders:
        for begin in range(0, len(order), BATCH):
            idx = order[begin : begin + BATCH]
            X = X_rows[idx].T
            Y = eye[:, labels[idx]]
            m = np.float32(X.shape[1])
            Z1 = W1 @ X + b1
            A1 = np.maximum(Z1, 0)
            Z2 = W2 @ A1 + b2
            E = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
            dZ2 = E / E.sum(axis=0, keepdims=True) - Y
            dW2 = dZ2 @ A1.T / m
            db2 = dZ2.sum(axis=1, keepdims=True) / m
            dZ1 = (W2.T @ dZ2) * (Z1 > 0)
            dW1 = dZ1 @ X.T / m
            db1 = dZ1.sum(axis=1, keepdims=True) / m
            W1 -= lr * dW1
            b1 -= lr * db1
            W2 -= lr * dW2
            b2 -= lr * db2
    seconds = time.perf_counter() - start
    return {"train_seconds": seconds, "compile_seconds": 0.0,
            "test_accuracy": accuracy_np(W1, b1, W2, b2, ds.X_test, ds.labels_test)}  # fmt: skip


# ------------------------------------------------------------------------------ torch
def run_torch(params, ds, epoch_orders):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 500), torch.nn.ReLU(),
                                torch.nn.Linear(500, 10))  # fmt: skip
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(np.array(params["W1"])))
        model[0].bias.copy_(torch.from_numpy(np.array(params["b1"])[:, 0]))
        model[2].weight.copy_(torch.from_numpy(np.array(params["W2"])))
        model[2].bias.copy_(torch.from_numpy(np.array(params["b2"])[:, 0]))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_rows = torch.from_numpy(np.ascontiguousarray(ds.X_train.T))
    labels = torch.from_numpy(ds.labels_train.astype(np.int64))
    start = time.perf_counter()
    for order in epoch_orders:
        order = torch.from_numpy(order.astype(np.int64))
        for begin in range(0, len(order), BATCH):
            idx = order[begin : begin + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(X_rows[idx]), labels[idx]).backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = model(torch.from_numpy(np.ascontiguousarray(ds.X_test.T))).argmax(1).numpy()
    accuracy = float(np.mean(pred == ds.labels_test))
    return {"train_seconds": seconds, "compile_seconds": 0.0, "test_accuracy": accuracy}


# ------------------------------------------------------------------------------ the limit
def matmul_flops_per_step(batch=BATCH, n=LAYERS):
    """Forward W1 X, W2 A1; backward dW2 = dZ2 A1ᵀ, dA1 = W2ᵀ dZ2, dW1 = dZ1 Xᵀ (no dX)."""
    n_x, n_h, n_y = n
    return 2 * batch * (n_h * n_x + n_y * n_h + n_y * n_h + n_y * n_h + n_h * n_x)


def matmul_lower_bound(steps_per_epoch, epochs, repeats=5):
    """Seconds for exactly one step's matmul shapes × all steps, compiled in one loop."""
    rng = np.random.default_rng(0)
    W1 = jnp.asarray(rng.normal(size=(500, 784)), jnp.float32) * 0.01
    W2 = jnp.asarray(rng.normal(size=(10, 500)), jnp.float32) * 0.01
    Xb = jnp.asarray(rng.normal(size=(steps_per_epoch, 784, BATCH)), jnp.float32)

    @jax.jit
    def matmuls(W1, W2, Xb):
        def body(carry, X):
            A1 = W1 @ X
            Z2 = W2 @ A1
            dW2 = Z2 @ A1.T
            dA1 = W2.T @ Z2
            dW1 = dA1 @ X.T
            return carry + dW1[0, 0] + dW2[0, 0], None

        return jax.lax.scan(body, jnp.float32(0), Xb)[0]

    matmuls(W1, W2, Xb).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmuls(W1, W2, Xb).block_until_ready()
        times.append(time.perf_counter() - start)
    return min(times) * epochs


# the whole `jaxnn train` command, as a user runs it: with its defaults (an evaluation of the
# test set and a 10 000-example training subset after every epoch), and as the target counts
# it (data ready + compile + train + the final evaluation: --eval-every 0)
COMMANDS = {"defaults": [], "eval at the end": ["--eval-every", "0"]}


def whole_command(epochs, out, extra=(), cache_dir=None):
    """Wall seconds of the whole `jaxnn train` command (start-up, data, compile, train, eval,
    plots, checkpoint) and its metrics.json. ``cache_dir``: the XLA compilation cache."""
    cmd = [sys.executable, "-m", "jaxnn.cli", "train", "--dataset", "fashion_mnist",
           "--layers", "784,500,10", "--batch-size", str(BATCH), "--lr", str(LR),
           "--epochs", str(epochs), "--quiet", "--out", out, *extra]  # fmt: skip
    env = {**os.environ, "JAXNN_COMPILATION_CACHE": cache_dir or "off"}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    with open(os.path.join(out, "metrics.json")) as file:
        return wall, json.load(file)


def command_summary(runs, bound):
    walls = [wall for wall, _ in runs]
    metrics = [m for _, m in runs]
    return {
        "wall_seconds": statistics.median(walls), "wall_all": walls,
        "x_lower_bound": statistics.median(walls) / bound,
        "train_seconds": statistics.median(x["train_seconds"] for x in metrics),
        "compile_seconds": statistics.median(x["compile_seconds"] for x in metrics),
        "data_seconds": statistics.median(x["data_seconds"] for x in metrics),
        "test_accuracy": metrics[-1]["test_accuracy"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results.json"))
    parser.add_argument("--skip", default="", help="comma-separated implementations to skip")
    args = parser.parse_args()

    start = time.perf_counter()
    ds = data.load("fashion_mnist")
    data_seconds = time.perf_counter() - start
    m = ds.X_train.shape[1]
    params = mlp.init(jax.random.PRNGKey(0), list(LAYERS))
    epoch_orders = orders(m, args.epochs)
    impls = {
        "jaxnn (hand)": lambda: run_jaxnn("hand", params, ds, epoch_orders),
        "jaxnn (autodiff)": lambda: run_jaxnn("autodiff", params, ds, epoch_orders),
        "numpy (hand)": lambda: run_numpy(params, ds, epoch_orders),
        "pytorch eager": lambda: run_torch(params, ds, epoch_orders),
    }
    try:
        import torch  # noqa: F401
    except ImportError:
        impls.pop("pytorch eager")
        print("torch not installed (pip install -e '.[bench]'): skipping PyTorch", file=sys.stderr)
    for name in filter(None, args.skip.split(",")):
        impls.pop(name, None)

    steps = train.steps_per_epoch(m, BATCH)
    samples = {name: [] for name in impls}
    bounds, commands = [], {name: [] for name in COMMANDS}
    cache_dir = tempfile.mkdtemp(prefix="jaxnn-bench-xla-")
    with tempfile.TemporaryDirectory() as tmp:  # the first run: compiles, fills the cache
        cold = whole_command(args.epochs, os.path.join(tmp, "run"), cache_dir=cache_dir)
    for round_index in range(args.rounds):
        bounds.append(matmul_lower_bound(steps, args.epochs))
        for name, fn in impls.items():
            result = fn()
            samples[name].append(result)
            print(f"round {round_index + 1}: {name}: {result['train_seconds']:.2f}s train, "
                  f"accuracy {result['test_accuracy']:.4f}", file=sys.stderr)  # fmt: skip
        for name, extra in COMMANDS.items():
            with tempfile.TemporaryDirectory() as tmp:
                run = whole_command(args.epochs, os.path.join(tmp, "run"), extra, cache_dir)
            commands[name].append(run)
            print(f"round {round_index + 1}: jaxnn train ({name}): {run[0]:.2f}s wall",
                  file=sys.stderr)  # fmt: skip
    bound = statistics.median(bounds)
    flops = matmul_flops_per_step() * steps * args.epochs
    results = {}
    for name, runs in samples.items():
        seconds = statistics.median(r["train_seconds"] for r in runs)
        results[name] = {
            "train_seconds": seconds,
            "train_seconds_all": [r["train_seconds"] for r in runs],
            "compile_seconds": statistics.median(r["compile_seconds"] for r in runs),
            "test_accuracy": runs[-1]["test_accuracy"],
            "x_lower_bound": seconds / bound,
            "gflops": flops / seconds / 1e9,
        }
    if "pytorch eager" in results:
        for row in results.values():
            row["speedup_vs_pytorch"] = (
                results["pytorch eager"]["train_seconds"] / row["train_seconds"]
            )
    report = {
        "workload": "784-500-10 ReLU, softmax CE, batch 200, lr 0.1, float32, Fashion-MNIST",
        "epochs": args.epochs, "rounds": args.rounds, "steps": steps * args.epochs,
        "matmul_flops": flops, "lower_bound_seconds": bound, "lower_bound_all": bounds,
        "data_seconds": data_seconds, "implementations": results,
        "jaxnn_train_command": {
            name: command_summary(runs, bound) for name, runs in commands.items()
        },
        "jaxnn_train_command_first_run": {**command_summary([cold], bound),
                                          "note": "empty compilation cache, defaults"},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "device": str(jax.devices()[0].device_kind),
                    "jax": jax.__version__, "numpy": np.__version__},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "versions": provenance.versions(),  # the CPU and its vector flags with the rest
    }  # fmt: skip
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")
    print(table(report))


def table(report) -> str:
    lines = [
        f"{report['epochs']} epochs, {report['steps']} steps, "
        f"{report['matmul_flops'] / 1e12:.2f} TFLOP of matmuls; lower bound "
        f"{report['lower_bound_seconds']:.2f} s (median of {report['rounds']} rounds)",
        f"{'implementation':<18}{'train s':>9}{'compile s':>10}{'accuracy':>9}"
        f"{'× bound':>9}{'vs torch':>9}",
    ]
    for name, row in report["implementations"].items():
        vs = row.get("speedup_vs_pytorch")
        lines.append(
            f"{name:<18}{row['train_seconds']:>9.2f}{row['compile_seconds']:>10.2f}"
            f"{row['test_accuracy']:>9.4f}{row['x_lower_bound']:>9.2f}"
            f"{(f'{vs:.2f}×' if vs else '—'):>9}"
        )
    commands = {**report["jaxnn_train_command"],
                "defaults, first run": report["jaxnn_train_command_first_run"]}  # fmt: skip
    for name, cmd in commands.items():
        lines.append(
            f"whole `jaxnn train` command ({name}): {cmd['wall_seconds']:.2f} s wall = "
            f"{cmd['x_lower_bound']:.2f}× the bound (data {cmd['data_seconds']:.2f} s, "
            f"compile {cmd['compile_seconds']:.2f} s, train {cmd['train_seconds']:.2f} s)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
