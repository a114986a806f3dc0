"""Is a change faster? One training step of a sequence model at two versions of jaxnn, side
by side in one process: ``--base`` (a git commit, extracted with ``git archive`` into a
temporary folder as the package ``jaxnn_base``) against the working tree's ``jaxnn``, each
compiled once, timed in interleaved rounds (base, new, base, new, …), medians.

Reported per version and gradient (hand, autodiff): the wall time per step and the CPU time
per step (user + system of this process, ``getrusage``). On a machine shared with other jobs
the CPU time moves far less with the load than the wall time (idle, a step's CPU time is
about its wall time times the cores busy), so it is the figure to compare there; on an idle
machine compare both. The first cost of each program is printed too: the two versions must
agree (the same model).

Usage: python bench/ab_step.py --base HEAD~1 [--model transformer|lstm] [--rounds 9]
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import optax

REPO = pathlib.Path(__file__).resolve().parent.parent


def extract(commit: str) -> str:
    """A folder holding jaxnn at ``commit`` as the package ``jaxnn_base``."""
    folder = tempfile.mkdtemp(prefix="jaxnn-base-")
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "jaxnn"],
                             check=True, capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    package = pathlib.Path(folder, "jaxnn")
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\bjaxnn\.", "jaxnn_base.", text)
        text = re.sub(r"\bfrom jaxnn import\b", "from jaxnn_base import", text)
        path.write_text(text, encoding="utf-8")
    package.rename(pathlib.Path(folder, "jaxnn_base"))
    return folder


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def programs(package: str, model_name: str) -> dict:
    """``{f"{package} {grads}": (compiled step, args, steps per round, first cost)}``."""
    models = importlib.import_module(f"{package}.models")
    train = importlib.import_module(f"{package}.train")
    key_x, key_y = jax.random.split(jax.random.PRNGKey(1))
    if model_name == "transformer":  # transformer_bench.py's step
        model = models.build("transformer", (100,), 103, n_layers=2, d_model=64, heads=4,
                             d_ff=192)  # fmt: skip
        X = jax.random.randint(key_x, (100, 64), 0, 103)
        Y = jax.random.randint(key_y, (100, 64), 0, 103)
        steps = 10
    else:  # rnn_bench.py's minibatch step
        model = models.build("lstm", (28, 28), 10, hidden_size=128)
        X = jax.random.uniform(key_x, (28, 28, 128))
        Y = jax.nn.one_hot(jax.random.randint(key_y, (128,), 0, 10), 10).T
        steps = 20
    params = model.init(jax.random.PRNGKey(0))
    optimizer = optax.adam(1e-3)
    args = (params, optimizer.init(params), X, Y)
    out = {}
    for grads in ("hand", "autodiff"):
        step = train.make_step(train.make_cost_and_grads(grads, model=model), optimizer)
        compiled = jax.jit(step).lower(*args).compile()
        first = compiled(*args)
        jax.block_until_ready(first)
        out[f"{package} {grads}"] = (compiled, args, steps, float(first[2]))
    return out


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="a git commit of this repository")
    parser.add_argument("--model", default="transformer", choices=("transformer", "lstm"))
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    sys.path.insert(0, extract(args.base))
    found = {**programs("jaxnn_base", args.model), **programs("jaxnn", args.model)}
    wall = {name: [] for name in found}
    cpu = {name: [] for name in found}
    for _ in range(args.rounds):
        for name, (compiled, call_args, steps, _) in found.items():
            start, start_cpu = time.perf_counter(), cpu_seconds()
            for _ in range(steps):
                out = compiled(*call_args)
            jax.block_until_ready(out)
            wall[name].append(1e3 * (time.perf_counter() - start) / steps)
            cpu[name].append(1e3 * (cpu_seconds() - start_cpu) / steps)
    print(f"{args.model}, base {args.base} vs the working tree, {args.rounds} interleaved rounds, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    result = {}
    for name, (_, _, _, first) in found.items():
        result[name] = {"wall_ms": statistics.median(wall[name]),
                        "cpu_ms": statistics.median(cpu[name]), "first_cost": first}  # fmt: skip
        print(
            f"  {name:<20} wall {result[name]['wall_ms']:8.2f} ms  cpu "
            f"{result[name]['cpu_ms']:8.2f} ms  first cost {first:.6f}"
        )
    for grads in ("hand", "autodiff"):
        base, new = result[f"jaxnn_base {grads}"], result[f"jaxnn {grads}"]
        print(
            f"  {grads}: new / base, wall {new['wall_ms'] / base['wall_ms']:.3f}, "
            f"cpu {new['cpu_ms'] / base['cpu_ms']:.3f}"
        )
    return result


if __name__ == "__main__":
    main()
