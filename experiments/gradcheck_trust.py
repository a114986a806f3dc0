"""Can ``jaxnn gradcheck`` be trusted both ways: does it pass every correct model on every
seed (no false alarm), and fail every planted backward bug on every seed (none missed)?

For each model ``jaxnn gradcheck --model M`` knows, at the CLI's default sizes (and the
convolutional ones with ReLU too, where kinks are everywhere), each seed, float32 and
float64: the check's verdict, its worst relative errors and the entries it excluded as
kink-crossed. Then each planted bug of ``tests/gradcheck_mutations.py`` on every seed and
both dtypes: caught by hand vs ``jax.grad``? by hand vs finite differences?

    python experiments/gradcheck_trust.py --out runs/gradcheck_trust [--seeds 20]
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import numpy as np

from jaxnn import experiment, gradcheck

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from gradcheck_mutations import MUTATIONS, patched  # noqa: E402

# name -> check_model arguments: the CLI's defaults (hidden tanh, m 4), plus ReLU convnets
CORRECT = {
    "logistic": {"model": "logistic", "layer_dims": (5, 4, 3)},
    "mlp": {"model": "mlp", "layer_dims": (5, 4, 3), "hidden": "tanh", "m": 4},
    "mlp relu": {"model": "mlp", "layer_dims": (5, 4, 3), "hidden": "relu", "m": 4},
    "lenet5": {"model": "lenet5", "hidden": "tanh", "m": 4},
    "lenet5 relu": {"model": "lenet5", "hidden": "relu", "m": 4},
    "alexnet": {"model": "alexnet", "hidden": "tanh", "m": 4},
    "alexnet relu": {"model": "alexnet", "hidden": "relu", "m": 4},
    "vgg16": {"model": "vgg16", "hidden": "tanh", "m": 4},
    "vgg16 relu": {"model": "vgg16", "hidden": "relu", "m": 4},
    "rnn": {"model": "rnn", "m": 4},
    "lstm": {"model": "lstm", "m": 4},
    "autoencoder": {"model": "autoencoder", "m": 4},
    "vae": {"model": "vae", "m": 4},
    "gan": {"model": "gan", "m": 4},
}


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = 20
    models: str = ""  # comma-separated names of CORRECT to run (default: all)
    mutations: str = ""  # comma-separated mutation names (default: all; "none" for none)
    dtypes: str = "float32,float64"


def _chosen(text: str, names) -> list[str]:
    if text == "none":
        return []
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    return [n for n in names if not wanted or n in wanted]


def main(config: Config, out_dir: str) -> dict:
    dtypes = [d for d in config.dtypes.split(",") if d]
    correct, caught = {}, {}
    for name in _chosen(config.models, CORRECT):
        for dtype in dtypes:
            rows = []
            for seed in range(config.seeds):
                start = time.perf_counter()
                report = gradcheck.check_model(**CORRECT[name], seed=seed,
                                               x64=dtype == "float64")  # fmt: skip
                rows.append({"seed": seed, "ok": report.ok, **report.worst,
                             "excluded": report.excluded,
                             "seconds": time.perf_counter() - start})  # fmt: skip
            correct[f"{name} {dtype}"] = {
                "false_failures": sum(not r["ok"] for r in rows),
                "seeds": len(rows),
                "worst_hand_vs_autodiff": max(r["hand_vs_autodiff"] for r in rows),
                "worst_hand_vs_numeric": max(r["hand_vs_numeric"] for r in rows),
                "excluded_total": sum(r["excluded"] for r in rows),
                "seeds_with_exclusions": sum(r["excluded"] > 0 for r in rows),
                "median_seconds": float(np.median([r["seconds"] for r in rows])),
                "tolerances": gradcheck.TOLERANCES[np.dtype(dtype)],
            }
            print(f"{name:<14} {dtype}: {correct[f'{name} {dtype}']}", flush=True)
    for mutation in MUTATIONS:
        if mutation.name not in _chosen(config.mutations, [m.name for m in MUTATIONS]):
            continue
        for dtype in dtypes:
            by_auto = by_numeric = 0
            for seed in range(config.seeds):
                x64 = dtype == "float64"
                with patched(mutation):
                    report = gradcheck.check_model(mutation.model, seed=seed, x64=x64,
                                                   **mutation.kwargs)  # fmt: skip
                tight, loose = report.tolerances
                by_auto += any(r.hand_vs_autodiff > tight for r in report.rows)
                # beyond the leaf's own tolerance (its differences' error estimate), on a
                # leaf the differences can verify
                by_numeric += any(r.verifiable and (r.hand_vs_numeric or 0.0)
                                  > max(loose, r.numeric_tolerance or 0.0)
                                  for r in report.rows)  # fmt: skip
            caught[f"{mutation.name} {dtype}"] = {
                "model": mutation.model, "bug": mutation.bug, "seeds": config.seeds,
                "caught_by_autodiff": by_auto, "caught_by_numeric": by_numeric,
            }  # fmt: skip
            print(f"{mutation.name:<32} {dtype}: {caught[f'{mutation.name} {dtype}']}", flush=True)
    names = list(correct)
    fig, ax = experiment.figure(size=(7, 0.3 * max(len(names), 1) + 1.2))
    worst = [correct[n]["worst_hand_vs_numeric"] / correct[n]["tolerances"][1] for n in names]
    ax.barh(names, worst)
    ax.axvline(1.0, color="k", linestyle="--")
    ax.set(xscale="log", xlabel="worst hand~num over seeds / tolerance (1: fails)",
           title="gradcheck on correct models")  # fmt: skip
    experiment.save(fig, out_dir, "gradcheck_trust.png")
    return {
        "config": dataclasses.asdict(config),
        "correct": correct,
        "mutations": caught,
        "false_failures": sum(r["false_failures"] for r in correct.values()),
        "missed": [k for k, r in caught.items()
                   if min(r["caught_by_autodiff"], r["caught_by_numeric"]) < r["seeds"]],
    }  # fmt: skip


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
