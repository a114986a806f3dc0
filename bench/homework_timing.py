"""The notes' "about 45 s on a 3.6 GHz CPU" in context: the homework's training timed here,
jaxnn against the notes' own way, in one run.

Workload (the notes' homework, §5): MNIST, 784-500-10 ReLU, softmax cross-entropy, batch 200,
lr 0.1, 20 epochs, float32. Both implementations start from the same initial weights and
draw the same minibatch order (``bench.py``'s ``run_jaxnn`` and ``run_numpy``: jaxnn's
compiled epoch with the hand-derived backprop, and vectorized numpy with the hand-derived
backprop); repeats are interleaved (jaxnn, numpy, jaxnn, numpy, ...) so that both see the
same machine; training seconds only (jaxnn's compile is reported apart), medians.

    python bench/homework_timing.py --manual-dir ~/mnist [--repeats 3] [--data-dir D]

Writes bench/homework_timing.json. OpenBLAS's core-type override (set on some machines)
slows numpy's BLAS: run with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``, as
``make bench`` does.
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
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import LAYERS, orders, run_jaxnn, run_numpy  # noqa: E402
from jaxnn import data, mlp  # noqa: E402

NOTES = {"seconds": 45.0, "test_accuracy": 0.935, "machine": "3.6 GHz CPU (as printed)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--manual-dir", default=None, help="MNIST files (see docs/data.md)")
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "homework_timing.json")
    )
    args = parser.parse_args()

    ds = data.load("mnist", data_dir=args.data_dir, manual_dir=args.manual_dir)
    params = mlp.init(jax.random.PRNGKey(0), list(LAYERS))
    epoch_orders = orders(ds.X_train.shape[1], args.epochs)
    impls = {
        "jaxnn (hand-derived backprop, jit)": lambda: run_jaxnn("hand", params, ds, epoch_orders),
        "numpy (hand-derived backprop, the notes' way)": lambda: run_numpy(
            params, ds, epoch_orders
        ),
    }
    samples = {name: [] for name in impls}
    for repeat in range(args.repeats):
        for name, run in impls.items():
            result = run()
            samples[name].append(result)
            print(f"repeat {repeat + 1}: {name}: {result['train_seconds']:.2f} s, "
                  f"test accuracy {result['test_accuracy']:.4f}", file=sys.stderr)  # fmt: skip
    rows = {
        name: {
            "train_seconds": statistics.median(r["train_seconds"] for r in runs),
            "train_seconds_all": [r["train_seconds"] for r in runs],
            "compile_seconds": statistics.median(r["compile_seconds"] for r in runs),
            "test_accuracy": runs[-1]["test_accuracy"],
        }
        for name, runs in samples.items()
    }
    jaxnn_row, numpy_row = rows.values()
    report = {
        "workload": "MNIST 784-500-10 ReLU, softmax CE, batch 200, lr 0.1, float32",
        "epochs": args.epochs, "repeats": args.repeats, "implementations": rows,
        "numpy_over_jaxnn": numpy_row["train_seconds"] / jaxnn_row["train_seconds"],
        "notes": NOTES,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "device": str(jax.devices()[0].device_kind),
                    "jax": jax.__version__, "numpy": np.__version__,
                    "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")
    for name, row in rows.items():
        print(f"{name}: {row['train_seconds']:.2f} s training (median of {args.repeats}; "
              f"{', '.join(f'{s:.2f}' for s in row['train_seconds_all'])}), test accuracy "
              f"{row['test_accuracy']:.4f}")  # fmt: skip
    print(f"numpy / jaxnn: {report['numpy_over_jaxnn']:.2f}× (notes: ~{NOTES['seconds']:.0f} s "
          f"on a {NOTES['machine']}) -> {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
