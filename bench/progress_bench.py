"""What the progress bar inside an epoch costs: one epoch as one compiled program
(``train.make_epoch``) against the same epoch in chunks of ~0.5 s with a host wait after each
(``chunked_epoch.ChunkedEpoch``, as ``jaxnn train`` runs it), interleaved rounds, medians.

Two cases: LeNet-5 on 28×28×1 images (a long epoch, the reason for the bar) and the notes'
small MLP on the 8×8 digits (an epoch of milliseconds: the most a chunk could cost). Random
data of the datasets' shapes: the time of a step does not depend on the pixel values.

    python bench/progress_bench.py [--rounds 5] [--out bench/progress_results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import optax

from jaxnn import chunked_epoch, models, provenance, train

CASES = {
    "lenet5, 28x28x1, m=6000, batch 128": ("lenet5", (28, 28, 1), 6000, 128),
    "mlp 64-64-10, m=1437, batch 200": ("mlp", (64,), 1437, 200),
}


def _time(epoch, params, opt_state, order, X_rows, Y_rows, key, progress=None) -> float:
    start = time.perf_counter()
    kwargs = {} if progress is None else {"progress": progress}
    out = epoch(params, opt_state, order, X_rows, Y_rows, key, **kwargs)
    jax.block_until_ready(out)
    return time.perf_counter() - start


def one_case(name, input_shape, m, batch, rounds) -> dict:
    model = models.build(name, input_shape, 10)
    params = model.init(jax.random.PRNGKey(0))
    X, Y = models.example(model, jax.random.PRNGKey(1), m)
    X_rows, Y_rows = train.device_rows(X, Y, model.example_axis)
    optimizer = optax.sgd(0.01)
    init_opt_state, step = train.model_step(model, "hand", optimizer, 0.0)
    opt_state = init_opt_state(params)
    key = jax.random.PRNGKey(2)
    order = train.epoch_order(key, 0, m)
    whole = train.make_epoch(step, m, batch, example_axis=model.example_axis)
    chunked = chunked_epoch.ChunkedEpoch(step, m, batch, example_axis=model.example_axis)
    chunks = []

    def progress(steps):
        chunks.append(steps)

    args = (params, opt_state, order, X_rows, Y_rows, key)
    _time(whole, *args)  # compile both, and one chunked epoch to measure the step time
    _time(chunked, *args, progress=progress)
    times = {"one program": [], "chunked, with progress": []}
    for _ in range(rounds):
        times["one program"].append(_time(whole, *args))
        chunks.clear()
        times["chunked, with progress"].append(_time(chunked, *args, progress=progress))
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {
        "steps_per_epoch": train.steps_per_epoch(m, batch),
        "chunks_per_epoch": len(chunks),
        "seconds": medians,
        "seconds_all": times,
        "overhead_percent": 100 * (medians["chunked, with progress"] / medians["one program"] - 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="bench/progress_results.json")
    args = parser.parse_args()
    device = jax.devices()[0]
    result = {
        "what": __doc__.split("\n\n")[0].replace("\n", " "),
        "jax_device": f"{device.platform}: {device.device_kind}",
        "versions": provenance.versions(),
        "rounds": args.rounds,
        "cases": {label: one_case(*case, args.rounds) for label, case in CASES.items()},
    }
    with open(args.out, "w") as file:
        json.dump(result, file, indent=2)
    print(json.dumps(result["cases"], indent=2))


if __name__ == "__main__":
    main()
