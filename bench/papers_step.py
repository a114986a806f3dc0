"""One SGD step of the full-size papers' networks on this machine: seconds and peak memory.

    python bench/papers_step.py [--models alexnet_2012,vgg11,vgg16,vgg19] [--batch 4]

Each model runs in its own process (peak resident memory is per process): build at the
paper's input (227×227×3 / 224×224×3, 1000 classes), init, compile the hand-derived
``cost_and_grads`` + ``optax.sgd`` update with dropout's key, then time the compiled step
(median of ``--repeats``). Random images and labels: ImageNet, the data these networks were
made for, is not available here. Writes ``bench/papers_step.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time


def one(name: str, batch: int, repeats: int) -> dict:
    import jax
    import optax

    from jaxnn import models
    from jaxnn.models import convnet

    model = models.build(name, convnet.DEFAULT_INPUT[name], 1000)
    params = model.init(jax.random.PRNGKey(0))
    X, Y = models.example(model, jax.random.PRNGKey(1), batch)
    optimizer = optax.sgd(0.01)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, key):
        J, grads = model.cost_and_grads(params, X, Y, key=key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, J

    start = time.perf_counter()
    compiled = step.lower(params, opt_state, jax.random.PRNGKey(2)).compile()
    compile_s = time.perf_counter() - start
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        params, opt_state, J = compiled(params, opt_state, jax.random.PRNGKey(3 + i))
        J.block_until_ready()
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"model": name, "batch": batch, "params": sum(x.size for x in jax.tree.leaves(params)),
            "compile_s": compile_s, "step_s_median": statistics.median(times), "steps": times,
            "peak_rss_gib": peak_kib / 2**20, "cost": float(J)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="alexnet_2012,vgg11,vgg16,vgg19")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--note", default="", help="how the machine was (idle, shared, ...)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "papers_step.json"))  # fmt: skip
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.batch, args.repeats)))
        return
    flags = sorted({f for f in open("/proc/cpuinfo").read().split() if f.startswith("avx512")})
    rows = []
    for name in args.models.split(","):
        result = subprocess.run([sys.executable, __file__, "--one", name, "--batch",
                                 str(args.batch), "--repeats", str(args.repeats)],
                                capture_output=True, text=True, check=True)  # fmt: skip
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    from jaxnn import provenance

    payload = {"command": " ".join(["python bench/papers_step.py", *sys.argv[1:]]),
               "date": time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": platform.processor() or platform.machine(), "cpu_flags": flags,
               "cores": os.cpu_count(), "versions": provenance.versions(),
               "note": args.note, "rows": rows}  # fmt: skip
    with open(args.out, "w") as file:
        json.dump(payload, file, indent=1)


if __name__ == "__main__":
    main()
