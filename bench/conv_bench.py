"""``make bench`` (convolutional part): LeNet-5 training and a VGG-16 training step, jaxnn
(hand-derived backward and jax.grad) beside PyTorch eager on the CPU, in one run.

* LeNet-5 (61,706 parameters) on Fashion-MNIST's 60 000 training images, batch 200, plain
  SGD lr 0.05, one epoch per round: the same initial weights and the same minibatch order for
  every implementation; epoch seconds, images/s and the test accuracy after the epoch.
* VGG-16 (138,357,544 parameters, 224×224×3 → 1000): one SGD step on a batch of random
  images, same weights; images/s.

The lower bound of each: the FLOPs of the step's convolutions and matmuls alone (forward,
weight gradients, input gradients except the first layer's) at the machine's measured
matmul rate (a 2048² float32 matmul in XLA, timed in the same run).

Rounds are interleaved and medians reported; results go to bench/conv_results.json.
Usage: python bench/conv_bench.py [--rounds 3] [--vgg-batch 4] [--skip vgg16]
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
import numpy as np
import optax
from timing import jaxnn_epoch, matmul_rate, median_rows

from jaxnn import data, models, provenance, train

BATCH, LR = 200, 0.05


def training_flops(model) -> int:
    """2 × multiply-adds of one image's forward, weight gradients and input gradients (none
    for the first layer)."""
    macs = [r.macs for r in model.summary() if r.macs]
    return 2 * (3 * sum(macs) - macs[0])


# ------------------------------------------------------------------------------- jaxnn
def jaxnn_step_seconds(model, grads, params, X, Y, steps=2):
    optimizer = optax.sgd(LR)
    step = jax.jit(train.make_step(train.make_cost_and_grads(grads, model=model), optimizer))
    opt_state = optimizer.init(params)
    start = time.perf_counter()
    compiled = step.lower(params, opt_state, X, Y).compile()
    compile_seconds = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        params, opt_state, J = compiled(params, opt_state, X, Y)
        J.block_until_ready()
        times.append(time.perf_counter() - start)
    return min(times), compile_seconds


# ------------------------------------------------------------------------------- torch
def torch_net(name: str, params):
    """The same architecture in PyTorch (NCHW), with jaxnn's weights copied in."""
    import torch
    from torch import nn

    if name == "lenet5":
        convs = [("conv1", 1, 6, 5, 2), ("conv2", 6, 16, 5, 0)]
        pools_after = {"conv1", "conv2"}
        denses, flat_hw = [("fc1", 400, 120), ("fc2", 120, 84), ("fc3", 84, 10)], (5, 5)
    else:
        convs, channels = [], 3
        index = 0
        pools_after = set()
        for block in ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3):
            for out in block:
                index += 1
                convs.append((f"conv{index}", channels, out, 3, 1))
                channels = out
            pools_after.add(f"conv{index}")
        denses, flat_hw = [("fc1", 25088, 4096), ("fc2", 4096, 4096), ("fc3", 4096, 1000)], (7, 7)
    layers = []
    with torch.no_grad():
        for key, c_in, c_out, f, pad in convs:
            conv = nn.Conv2d(c_in, c_out, f, padding=pad)
            W = np.ascontiguousarray(np.asarray(params[key]["W"]).transpose(3, 2, 0, 1))
            conv.weight.copy_(torch.from_numpy(W))
            conv.bias.copy_(torch.from_numpy(np.array(params[key]["b"]).reshape(-1)))
            layers += [conv, nn.ReLU()]
            if key in pools_after:
                layers.append(nn.MaxPool2d(2))
        layers.append(nn.Flatten())
        for i, (key, n_in, n_out) in enumerate(denses):
            W = np.asarray(params[key]["W"])
            if i == 0:  # jaxnn flattens (h, w, c), PyTorch (c, h, w)
                h, w = flat_hw
                W = W.reshape(n_out, h, w, -1).transpose(0, 3, 1, 2).reshape(n_out, -1)
            dense = nn.Linear(n_in, n_out)
            dense.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
            dense.bias.copy_(torch.from_numpy(np.array(params[key]["b"]).reshape(-1)))
            layers.append(dense)
            if i < len(denses) - 1:
                layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def torch_device() -> str:
    """cuda when PyTorch sees a GPU (then jax runs on its GPU too: ``make bench-gpu``)."""
    import torch

    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True  # cuDNN's own per-shape algorithm search
        return "cuda"
    return "cpu"


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def torch_epoch(params, X_nchw, labels, order):
    import torch

    device = torch_device()
    net = torch_net("lenet5", params).to(device)
    X_nchw, labels = X_nchw.to(device), labels.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.from_numpy(order.astype(np.int64)).to(device)
    sync(device)
    start = time.perf_counter()
    for begin in range(0, len(order), BATCH):
        idx = order[begin : begin + BATCH]
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(X_nchw[idx]), labels[idx]).backward()
        optimizer.step()
    sync(device)
    return net, time.perf_counter() - start


def torch_step_seconds(params, X_nchw, labels, steps=2):
    import torch

    device = torch_device()
    net = torch_net("vgg16", params).to(device)
    X_nchw, labels = X_nchw.to(device), labels.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(steps + 1):  # the first: cuDNN's algorithm search, allocations
        sync(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(X_nchw), labels).backward()
        optimizer.step()
        sync(device)
        times.append(time.perf_counter() - start)
    times = times[1:]
    return min(times)


# ------------------------------------------------------------------------------- runs
def lenet_round(ds, params, order, have_torch) -> dict:
    model = models.build("lenet5", (28, 28, 1), 10)
    X = data.in_layout(ds.X_train, ds.image_shape, 0)
    X_rows, Y_rows = train.device_rows(X, data.one_hot(ds.labels_train, 10), 0)
    X_test = jnp.asarray(data.in_layout(ds.X_test, ds.image_shape, 0))
    Y_test = jnp.asarray(data.one_hot(ds.labels_test, 10))
    accuracy = jax.jit(lambda p, X, Y: models.accuracy(model, p, X, Y))

    def evaluate(p):  # the test set as arguments, not as constants XLA would fold
        return accuracy(p, X_test, Y_test)

    out = {}
    fixed = models.build("lenet5", (28, 28, 1), 10, conv_backward="fast")
    for name, grads, net in (("jaxnn (hand)", "hand", model),
                             ("jaxnn (autodiff)", "autodiff", model),
                             ("jaxnn (hand, fixed forms)", "hand", fixed)):  # fmt: skip
        trained, seconds, compile_seconds = jaxnn_epoch(net, grads, params, X_rows, Y_rows,
                                                        order, optax.sgd(LR), BATCH)  # fmt: skip
        out[name] = {"epoch_seconds": seconds, "compile_seconds": compile_seconds,
                     "test_accuracy": float(evaluate(trained))}  # fmt: skip
    if have_torch:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        X_nchw = torch.from_numpy(np.ascontiguousarray(np.asarray(X).transpose(0, 3, 1, 2)))
        labels = torch.from_numpy(ds.labels_train.astype(np.int64))
        net, seconds = torch_epoch(params, X_nchw, labels, order)
        with torch.no_grad():
            test = torch.from_numpy(np.ascontiguousarray(np.asarray(X_test).transpose(0, 3, 1, 2)))
            scores = net(test.to(torch_device())).argmax(1).cpu().numpy()
            accuracy = float((scores == ds.labels_test).mean())
        out["pytorch eager"] = {"epoch_seconds": seconds, "compile_seconds": 0.0,
                                "test_accuracy": accuracy}  # fmt: skip
    return out


def vgg_round(params, X, labels, have_torch) -> dict:
    model = models.build("vgg16", (224, 224, 3), 1000)
    Y = jax.nn.one_hot(labels, 1000).T
    out = {}
    for grads in ("hand", "autodiff"):
        seconds, compile_seconds = jaxnn_step_seconds(model, grads, params, X, Y)
        out[f"jaxnn ({grads})"] = {"step_seconds": seconds, "compile_seconds": compile_seconds}
    if have_torch:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        X_nchw = torch.from_numpy(np.ascontiguousarray(np.asarray(X).transpose(0, 3, 1, 2)))
        seconds = torch_step_seconds(params, X_nchw, torch.from_numpy(np.asarray(labels, np.int64)))
        out["pytorch eager"] = {"step_seconds": seconds, "compile_seconds": 0.0}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vgg-batch", type=int, default=4)
    parser.add_argument("--vgg-rounds", type=int, default=2)
    parser.add_argument("--skip", default="", help="lenet5 and/or vgg16, comma-separated")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak float32 rate for the bound (e.g. a GPU's data "
                        "sheet figure); default: the measured 2048² matmul rate")  # fmt: skip
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "conv_results.json"))  # fmt: skip
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("torch not installed (pip install -e '.[bench]'): skipping PyTorch", file=sys.stderr)

    report = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "device": str(jax.devices()[0].device_kind), "jax": jax.__version__},
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rounds": args.rounds,
              "versions": provenance.versions()}  # fmt: skip
    rates = []
    if "lenet5" not in skip:
        ds = data.load("fashion_mnist")
        model = models.build("lenet5", (28, 28, 1), 10)
        params = model.init(jax.random.PRNGKey(0))
        order = train.epoch_order(jax.random.PRNGKey(1), 0, ds.X_train.shape[1])
        rounds = []
        for index in range(args.rounds):
            rates.append(args.peak_tflops * 1e12 if args.peak_tflops else matmul_rate())
            rounds.append(lenet_round(ds, params, order, have_torch))
            print(f"round {index + 1}: " + ", ".join(f"{k} {v['epoch_seconds']:.2f}s"
                                                     for k, v in rounds[-1].items()),
                  file=sys.stderr)  # fmt: skip
        rows = median_rows(rounds, "epoch_seconds")
        m = ds.X_train.shape[1]
        bound = training_flops(model) * m / statistics.median(rates)
        for row in rows.values():
            row["images_per_second"] = m / row["epoch_seconds"]
            row["x_lower_bound"] = row["epoch_seconds"] / bound
            if "pytorch eager" in rows:
                row["speedup_vs_pytorch"] = (rows["pytorch eager"]["epoch_seconds"]
                                             / row["epoch_seconds"])  # fmt: skip
        report["lenet5"] = {"workload": f"one epoch, {m} Fashion-MNIST images, batch {BATCH}, "
                            f"SGD lr {LR}, float32", "training_flops_per_image":
                            training_flops(model), "lower_bound_seconds": bound,
                            "implementations": rows}  # fmt: skip
    if "vgg16" not in skip:
        model = models.build("vgg16", (224, 224, 3), 1000)
        params = model.init(jax.random.PRNGKey(0))
        key = jax.random.PRNGKey(2)
        X = jax.random.uniform(key, (args.vgg_batch, 224, 224, 3))
        labels = jax.random.randint(jax.random.fold_in(key, 1), (args.vgg_batch,), 0, 1000)
        rounds = []
        for index in range(args.vgg_rounds):
            rates.append(args.peak_tflops * 1e12 if args.peak_tflops else matmul_rate())
            rounds.append(vgg_round(params, X, labels, have_torch))
            print(f"vgg16 round {index + 1}: " + ", ".join(f"{k} {v['step_seconds']:.2f}s"
                                                           for k, v in rounds[-1].items()),
                  file=sys.stderr)  # fmt: skip
        rows = median_rows(rounds, "step_seconds")
        bound = training_flops(model) * args.vgg_batch / statistics.median(rates)
        for row in rows.values():
            row["images_per_second"] = args.vgg_batch / row["step_seconds"]
            row["x_lower_bound"] = row["step_seconds"] / bound
            if "pytorch eager" in rows:
                row["speedup_vs_pytorch"] = (rows["pytorch eager"]["step_seconds"]
                                             / row["step_seconds"])  # fmt: skip
        report["vgg16"] = {"workload": f"one SGD step, batch {args.vgg_batch} of 224×224×3, "
                           "float32", "training_flops_per_image": training_flops(model),
                           "lower_bound_seconds": bound, "implementations": rows}  # fmt: skip
    report["matmul_gflops"] = statistics.median(rates) / 1e9 if rates else None
    report["bound_rate"] = "peak (--peak-tflops)" if args.peak_tflops else "measured matmul"
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")
    print(table(report))


def table(report) -> str:
    lines = [f"matmul rate {report['matmul_gflops']:.0f} GFLOP/s (2048² float32, XLA)"]
    for name, unit in (("lenet5", "epoch_seconds"), ("vgg16", "step_seconds")):
        if name not in report:
            continue
        part = report[name]
        lines.append(f"{name}: {part['workload']}; lower bound {part['lower_bound_seconds']:.3f} s")
        for impl, row in part["implementations"].items():
            vs = row.get("speedup_vs_pytorch")
            lines.append(f"  {impl:<26}{row[unit]:>9.3f} s{row['images_per_second']:>10.1f} img/s"
                         f"{row['x_lower_bound']:>8.1f}× bound"
                         f"{(f'{vs:>7.2f}× torch' if vs else ''):>14}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
