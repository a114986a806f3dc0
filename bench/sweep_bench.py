"""Sweeps in one program: 32 configurations (4 seeds × 4 learning rates × 2 L2 strengths) of
the planar shallow net (2-4-1 tanh, sigmoid output, flower data, 800 examples) trained at once
with vmap, against one configuration alone and against the 32 run one after another (the
one-configuration program compiled once), and the 32 split over all devices (on a CPU, one
host device per core, as `jaxnn sweep --devices N` does). Two settings: 2000 full-batch
steps, and 200 epochs of minibatches of 100. Median of 3; writes bench/sweep.json."""

from __future__ import annotations

import json
import os
import statistics

import jax
import numpy as np

from jaxnn import cli, data, sweep

cli.request_devices(os.cpu_count() or 1)  # before any JAX operation

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(epochs: int, batch_size: int | None, rounds: int):
    ds = data.load("flower")
    X, Y = ds.X_train, ds.labels_train[None].astype(np.float32)
    X_test, Y_test = ds.X_test, ds.labels_test[None].astype(np.float32)
    configs = sweep.grid(range(4), [0.1, 0.3, 1.0, 3.0], [0.0, 1e-3])

    devices = len(jax.devices())

    def run(cfgs, devices=1):
        return sweep.run_sweep(cfgs, [2, 4, 1], X, Y, X_test, Y_test, "tanh", "sigmoid",
                               epochs, batch_size, devices=devices)  # fmt: skip

    samples = {"one": [], "all_at_once": [], "one_after_another": []}
    if devices > 1:
        samples["all_at_once_all_devices"] = []
    compile_seconds = {}
    for _ in range(rounds):
        one = run(configs[:1])
        samples["one"].append(one.seconds)
        together = run(configs)
        samples["all_at_once"].append(together.seconds)
        if devices > 1:
            samples["all_at_once_all_devices"].append(run(configs, devices).seconds)
        samples["one_after_another"].append(sum(run([c]).seconds for c in configs))
        compile_seconds = {"one": one.compile_seconds, "all_at_once": together.compile_seconds}
    seconds = {k: statistics.median(v) for k, v in samples.items()}
    report = {
        "configs": len(configs), "epochs": epochs, "batch_size": batch_size or X.shape[1],
        "seconds": seconds, "all": samples,
        "compile_seconds": compile_seconds,
        "all_at_once_vs_one": seconds["all_at_once"] / seconds["one"],
        "devices": devices,
        "all_at_once_all_devices_vs_one": seconds.get("all_at_once_all_devices", float("nan"))
        / seconds["one"],
        "one_after_another_vs_all_at_once": seconds["one_after_another"]
        / seconds["all_at_once"],
        "best_test_accuracy": float(together.test_accuracy.max()),
    }  # fmt: skip
    print(
        f"batch {report['batch_size']}, {epochs} epochs: {len(configs)} configs at once: "
        f"{seconds['all_at_once']:.3f}s = "
        f"{report['all_at_once_vs_one']:.2f}× one config ({seconds['one']:.3f}s); one after "
        f"another: {seconds['one_after_another']:.2f}s "
        f"({report['one_after_another_vs_all_at_once']:.1f}× slower than at once); at once "
        f"over {devices} devices: {report['all_at_once_all_devices_vs_one']:.2f}× one"
    )
    return report


def main(rounds: int = 3):
    reports = [measure(2000, None, rounds), measure(200, 100, rounds)]
    with open(os.path.join(HERE, "sweep.json"), "w") as file:
        json.dump(reports, file, indent=2)


if __name__ == "__main__":
    main()
