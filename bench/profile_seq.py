"""Where a sequence model's training step goes, per XLA op: the Transformer step of
``transformer_bench.py`` and the LSTM step of ``rnn_bench.py`` (one minibatch), hand-derived
and ``jax.grad``, beside ``torch.profiler`` on the same step.

jaxnn: the compiled step runs ``--steps`` times under ``jax.profiler.trace``; XLA:CPU records
one event per thunk (a fusion, a matmul, a copy, a loop), named as in the optimized HLO
(``compiled.as_text()``). Each thunk is classified from that HLO: ``matmul`` (a dot, in a
YNNPACK fusion or alone), ``transpose/copy`` (a fusion whose root is a copy or transpose:
layout changes, no arithmetic), ``reduce`` (softmax/layer-norm sums, maxima), ``elementwise``
(the rest of the loop fusions), ``loop`` (a while/scan: the LSTM's time loop, its body's
thunks listed apart). Each thunk's FLOPs (its dots: 2 × output × contracted size) and bytes
(its operands and output, each read or written once) give its achieved rate, beside the
machine's measured in the same run: a 2048² float32 matmul (``timing.matmul_rate``) and a
64 MiB ``x + 1`` (memory bandwidth, bytes read + written per second).

PyTorch: ``torch.profiler`` over the same steps; its ops' self CPU time, grouped as aten
names say (``mm``/``bmm``/``addmm``/``linear``/SDPA: matmul; ``copy_``/``contiguous``/
``clone``: copy; the rest elementwise or reduce).

Thunk times under the profiler are each thunk's own wall time; thunks that XLA runs
concurrently (its executor overlaps independent ones) add up to more than the step, so the
shares are of the thunks' sum, with the step timed without the profiler beside it.

Usage: python bench/profile_seq.py [--steps 10] [--models transformer,lstm] [--top 12]
Writes bench/profile_seq.json, prints the tables and puts them in docs/performance.md between
``<!-- profile-seq:start -->`` and ``<!-- profile-seq:end -->`` (``--no-docs``: not).
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import table
from timing import matmul_rate

from jaxnn import models, provenance, train

SHAPE = re.compile(r"(pred|s8|s32|u32|f16|bf16|f32|f64)\[([0-9,]*)\]")
BYTES = {"pred": 1, "s8": 1, "s32": 4, "u32": 4, "f16": 2, "bf16": 2, "f32": 4, "f64": 8}
LINE = re.compile(r"^\s*(ROOT )?%([\w.\-]+) = (.*?) (\w[\w\-]*)\((.*)$")


def _size(shape_text: str) -> tuple[int, list[int]]:
    """(bytes, dims of the first array) of an HLO shape (a tuple: its arrays' bytes)."""
    total, first = 0, None
    for dtype, dims in SHAPE.findall(shape_text):
        d = [int(x) for x in dims.split(",") if x]
        total += BYTES[dtype] * math.prod(d)
        first = d if first is None else first
    return total, first or []


def parse_hlo(text: str) -> dict:
    """Every instruction of the optimized HLO: ``name -> {op, shape, bytes, operands,
    calls, root, computation, dot_flops}``, and each computation's instruction names."""
    instrs, comps, current = {}, collections.defaultdict(list), None
    for line in text.splitlines():
        if line.startswith(("%", "ENTRY")) and line.rstrip().endswith("{"):
            current = line.split()[1 if line.startswith("ENTRY") else 0].lstrip("%")
            continue
        match = LINE.match(line)
        if not match or current is None:
            continue
        root, name, shape, op, rest = match.groups()
        nbytes, dims = _size(shape)
        args = rest.split("), ")[0]
        calls = re.search(r"calls=%([\w.\-]+)", rest)
        body = re.search(r"body=%([\w.\-]+)", rest)
        instrs[name] = {"op": op, "shape": shape, "bytes": nbytes, "dims": dims,
                        "operands": re.findall(r"%([\w.\-]+)", args), "root": bool(root),
                        "calls": calls.group(1) if calls else (body.group(1) if body else None),
                        "computation": current, "line": line}  # fmt: skip
        comps[current].append(name)
    for info in instrs.values():  # a dot's FLOPs: 2 × output size × contracted size
        if info["op"] == "dot":
            lhs = instrs.get(info["operands"][0])
            contracting = re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", info["line"])
            k = 1
            if lhs and contracting:
                k = math.prod(lhs["dims"][int(i)] for i in contracting.group(1).split(",") if i)
            info["dot_flops"] = 2 * math.prod(info["dims"]) * k
    return {"instrs": instrs, "comps": comps}


def classify(hlo: dict, name: str) -> tuple[str, float, float]:
    """``(kind, flops, bytes)`` of the thunk ``name`` (see the module docstring)."""
    instrs = hlo["instrs"]
    info = instrs.get(name)
    if info is None:
        return "other", 0.0, 0.0
    moved = info["bytes"] + sum(instrs[o]["bytes"] for o in info["operands"] if o in instrs)
    inner = hlo["comps"].get(info["calls"], []) if info["calls"] else []
    ops = [instrs[i]["op"] for i in inner]
    flops = float(sum(instrs[i].get("dot_flops", 0) for i in inner))
    if info["op"] == "dot":
        return "matmul", float(info["dot_flops"]), moved
    if info["op"] == "while":
        return "loop", 0.0, 0.0
    if info["op"] in ("copy", "transpose"):
        return "transpose/copy", 0.0, moved
    if "dot" in ops or "convolution" in ops:
        return "matmul", flops, moved
    if info["op"] != "fusion":
        return info["op"], 0.0, moved
    roots = [instrs[i]["op"] for i in inner if instrs[i]["root"]]
    root = roots[0] if roots else ""
    if root in ("copy", "transpose") or (root == "bitcast" and "copy" in ops):
        return "transpose/copy", 0.0, moved
    if "reduce" in ops or "reduce-window" in ops:
        return "reduce", 0.0, moved
    if any(op in ops for op in ("scatter", "gather", "dynamic-slice", "dynamic-update-slice")):
        return "gather/scatter", 0.0, moved
    return "elementwise", 0.0, moved


def trace_thunks(compiled, args, steps: int) -> dict:
    """``{thunk name: (mean µs per step, calls per step)}`` over ``steps`` profiled runs."""
    folder = tempfile.mkdtemp(prefix="jaxnn-trace-")
    jax.block_until_ready(compiled(*args))
    with jax.profiler.trace(folder, create_perfetto_trace=True):
        for _ in range(steps):
            jax.block_until_ready(compiled(*args))
    path = glob.glob(os.path.join(folder, "**", "*perfetto_trace.json.gz"), recursive=True)[-1]
    with gzip.open(path) as file:
        events = json.load(file)
    events = events["traceEvents"] if isinstance(events, dict) else events
    total, count = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("ph") == "X" and "dur" in event:
            total[event["name"]] += event["dur"]
            count[event["name"]] += 1
    return {name: (total[name] / steps, count[name] / steps) for name in total}


def median_seconds(fn, args, steps: int, rounds: int = 5) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            out = fn(*args)
        jax.block_until_ready(out)
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def memory_bandwidth(repeats: int = 7) -> float:
    """Bytes per second of ``x + 1`` over 64 MiB of float32 (read once, written once)."""
    x = jnp.ones((16 * 1024 * 1024,), jnp.float32)
    f = jax.jit(lambda x: x + 1.0)
    jax.block_until_ready(f(x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(x))
        times.append(time.perf_counter() - start)
    return 2 * x.nbytes / min(times)


def jax_profile(compiled, args, steps: int, top: int) -> dict:
    hlo = parse_hlo(compiled.as_text())
    thunks = trace_thunks(compiled, args, steps)
    rows = []
    for name, (us, calls) in thunks.items():
        if name not in hlo["instrs"]:
            continue  # the executor's own events, python frames
        kind, flops, moved = classify(hlo, name)
        if kind == "loop":
            continue  # its body's thunks are listed themselves
        info = hlo["instrs"][name]
        meta = re.search(r'op_name="([^"]*)"', info["line"])
        rows.append({"thunk": name, "kind": kind, "us": us, "calls": calls,
                     "gflops": flops * calls / us / 1e3 if us else 0.0,
                     "gbytes": moved * calls / us / 1e3 if us else 0.0,
                     "shape": info["shape"].split("{")[0], "in_loop": info["computation"]
                     != next(iter(c for c in hlo["comps"] if c.startswith("main")), ""),
                     "op_name": meta.group(1)[-60:] if meta else ""})  # fmt: skip
    rows.sort(key=lambda r: -r["us"])
    kinds = collections.defaultdict(float)
    for row in rows:
        kinds[row["kind"]] += row["us"]
    thunk_sum = sum(kinds.values())
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list | tuple) else analysis
    return {"thunk_sum_ms": thunk_sum / 1e3,
            "by_kind_ms": {k: v / 1e3 for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
            "thunks": len(rows), "top": rows[:top],
            "xla_flops": float(analysis.get("flops", 0.0)),
            "xla_bytes": float(analysis.get("bytes accessed", 0.0))}  # fmt: skip


TORCH_KINDS = (("matmul", ("mm", "bmm", "addmm", "linear", "matmul", "attention", "lstm",
                           "_thnn_fused", "mkldnn_rnn")),
               ("transpose/copy", ("copy_", "contiguous", "clone", "_to_copy", "transpose",
                                   "permute", "cat", "stack")),
               ("reduce", ("sum", "mean", "max", "softmax", "norm", "cross_entropy",
                           "nll")))  # fmt: skip


def torch_profile(step, steps: int, top: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    rows, kinds = [], collections.defaultdict(float)
    for event in prof.key_averages():
        us = event.self_cpu_time_total / steps
        if us <= 0 or event.key.startswith("ProfilerStep"):
            continue
        name = event.key
        kind = "elementwise"
        for k, words in TORCH_KINDS:
            if any(w in name for w in words):
                kind = k
                break
        if name.startswith(("Optimizer.", "autograd::engine")) and "Backward" not in name:
            kind = "framework"
        kinds[kind] += us
        rows.append({"op": name, "kind": kind, "us": us, "calls": event.count / steps})
    rows.sort(key=lambda r: -r["us"])
    del torch
    return {
        "self_sum_ms": sum(kinds.values()) / 1e3,
        "by_kind_ms": {k: v / 1e3 for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
        "top": rows[:top],
    }


def compiled_steps(model, params, X, Y, lr: float) -> dict:
    """``{grads: (compiled Adam step, its arguments)}`` for the hand-derived and the
    ``jax.grad`` gradients of ``model`` on the minibatch ``(X, Y)``."""
    optimizer = optax.adam(lr)
    programs = {}
    for grads in ("hand", "autodiff"):
        step = jax.jit(train.make_step(train.make_cost_and_grads(grads, model=model), optimizer))
        args = (params, optimizer.init(params), X, Y)
        programs[grads] = (step.lower(*args).compile(), args)
    return programs


def transformer_case():
    sys.path.insert(0, os.path.dirname(__file__))
    import transformer_bench as tb

    model = models.build("transformer", (tb.T,), tb.VOCAB, n_layers=tb.LAYERS,
                         d_model=tb.D_MODEL, heads=tb.HEADS, d_ff=tb.D_FF)  # fmt: skip
    params = model.init(jax.random.PRNGKey(0))
    key_x, key_y = jax.random.split(jax.random.PRNGKey(1))
    X = jax.random.randint(key_x, (tb.T, tb.BATCH), 0, tb.VOCAB)
    Y = jax.random.randint(key_y, (tb.T, tb.BATCH), 0, tb.VOCAB)
    programs = compiled_steps(model, params, X, Y, tb.LR)
    torch_step = None
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        net = tb.torch_model(params)
        opt = torch.optim.Adam(net.parameters(), lr=tb.LR)
        ids = torch.from_numpy(np.asarray(X).T.astype(np.int64).copy())
        targets = torch.from_numpy(np.asarray(Y).T.astype(np.int64).copy())

        def torch_step():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(ids).reshape(-1, tb.VOCAB),
                                                     targets.reshape(-1))  # fmt: skip
            loss.backward()
            opt.step()
    except ImportError:
        pass
    return programs, torch_step


def lstm_case():
    sys.path.insert(0, os.path.dirname(__file__))
    import rnn_bench as rb

    model = models.build("lstm", (28, 28), 10, hidden_size=rb.HIDDEN)
    params = model.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    X = jax.random.uniform(key, (28, 28, rb.BATCH))  # (T, n_x, m): the step's minibatch
    Y = jax.nn.one_hot(jax.random.randint(key, (rb.BATCH,), 0, 10), 10).T
    programs = compiled_steps(model, params, X, Y, rb.LR)
    torch_step = None
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        lstm = torch.nn.LSTM(28, rb.HIDDEN)
        head = torch.nn.Linear(rb.HIDDEN, 10)
        opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=rb.LR)
        xs = torch.from_numpy(np.ascontiguousarray(np.asarray(X).transpose(0, 2, 1)))
        labels = torch.from_numpy(np.asarray(Y).argmax(0).astype(np.int64))

        def torch_step():
            opt.zero_grad(set_to_none=True)
            out, _ = lstm(xs)
            torch.nn.functional.cross_entropy(head(out[-1]), labels).backward()
            opt.step()
    except ImportError:
        pass
    return programs, torch_step


KINDS = ("matmul", "transpose/copy", "elementwise", "reduce")
START, END = "<!-- profile-seq:start -->", "<!-- profile-seq:end -->"


def markdown(report: dict, names: list[str], rows_per_program: int = 6) -> str:
    """The report as tables: per model, each implementation's time by kind, then the jaxnn
    programs' largest thunks."""
    load = report["load_average"]
    lines = [f"Measured {report['date']} by `python bench/profile_seq.py --steps "
             f"{report['steps']}` ({report['versions'].get('cpu', 'cpu')}, "
             f"{report['cpus']} cores; load average {load[0]:.1f} at the start, "
             f"{load[1]:.1f} at the end): 2048² matmul {report['matmul_gflops']:.0f} GFLOP/s, "
             f"memory {report['bandwidth_gbytes']:.1f} GB/s (64 MiB `x + 1`, read + write)."
             ]  # fmt: skip
    for name in names:
        part = report[name]
        lines += ["", f"| {name} step (ms) | step, unprofiled | ops' sum | "
                  + " | ".join(KINDS) + " | other |",
                  "|---|---|---|" + "---|" * (len(KINDS) + 1)]  # fmt: skip
        for impl, row in part.items():
            total = row.get("thunk_sum_ms", row.get("self_sum_ms"))
            kinds = row["by_kind_ms"]
            other = total - sum(kinds.get(k, 0.0) for k in KINDS)
            lines.append(f"| {impl} | {row['step_ms']:.1f} | {total:.1f} | "
                         + " | ".join(f"{kinds.get(k, 0.0):.1f}" for k in KINDS)
                         + f" | {other:.1f} |")  # fmt: skip
        for impl, row in part.items():
            if "thunk_sum_ms" not in row:
                continue
            lines += ["", f"| {name}, {impl}: largest thunks | kind | ms per step (calls) | "
                      "GFLOP/s | GB/s | shape | from |",
                      "|---|---|---|---|---|---|---|"]  # fmt: skip
            for thunk in row["top"][:rows_per_program]:
                where = " (in the scan)" if thunk["in_loop"] else ""
                lines.append(f"| `{thunk['thunk']}` | {thunk['kind']} | {thunk['us'] / 1e3:.2f} "
                             f"({thunk['calls']:g}) | {thunk['gflops']:.1f} | "
                             f"{thunk['gbytes']:.1f} | `{thunk['shape']}`{where} | "
                             f"`{thunk['op_name'].replace('|', '/')}` |")  # fmt: skip
    return "\n".join(lines)


def update_docs(path: str, text: str) -> bool:
    return table.update_docs(path, text, START, END)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--models", default="transformer,lstm")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "profile_seq.json"))  # fmt: skip
    parser.add_argument("--docs", default=os.path.join(os.path.dirname(__file__), "..", "docs",
                                                       "performance.md"))  # fmt: skip
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    rate, bandwidth = matmul_rate(), memory_bandwidth()
    report = {"versions": provenance.versions(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "cpus": os.cpu_count(), "matmul_gflops": rate / 1e9,
              "bandwidth_gbytes": bandwidth / 1e9, "steps": args.steps,
              "xla_flags": os.environ.get("XLA_FLAGS", "")}  # fmt: skip
    cases = {"transformer": transformer_case, "lstm": lstm_case}
    for name in args.models.split(","):
        programs, torch_step = cases[name]()
        part = {}
        for grads, (compiled, call_args) in programs.items():
            part[f"jaxnn ({grads})"] = {
                "step_ms": 1e3 * median_seconds(compiled, call_args, args.steps),
                **jax_profile(compiled, call_args, args.steps, args.top),
            }
        if torch_step is not None:
            start = time.perf_counter()
            for _ in range(args.steps):
                torch_step()
            part["pytorch eager"] = {"step_ms": 1e3 * (time.perf_counter() - start) / args.steps,
                                     **torch_profile(torch_step, args.steps, args.top)}  # fmt: skip
        report[name] = part
    report["load_average"] = [load_start, os.getloadavg()[0]]
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")
    print(f"matmul {report['matmul_gflops']:.0f} GFLOP/s, memory "
          f"{report['bandwidth_gbytes']:.1f} GB/s")  # fmt: skip
    for name in args.models.split(","):
        for impl, part in report[name].items():
            total = part.get("thunk_sum_ms", part.get("self_sum_ms"))
            print(f"\n{name} {impl}: step {part['step_ms']:.1f} ms, profiled ops' sum "
                  f"{total:.1f} ms: " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                  part["by_kind_ms"].items()))  # fmt: skip
            for row in part["top"]:
                label = row.get("thunk") or row["op"]
                rates = (f"{row['gflops']:6.1f} GFLOP/s {row['gbytes']:5.1f} GB/s  {row['shape']}"
                         f"{' (loop)' if row['in_loop'] else ''} {row['op_name']}"
                         if "thunk" in row else "")  # fmt: skip
                print(
                    f"  {row['us'] / 1e3:7.2f} ms x{row['calls']:<5g} {row['kind']:<15}"
                    f"{label[:40]:<40} {rates}"
                )
    if not args.no_docs and not update_docs(args.docs, markdown(report, args.models.split(","))):
        print(f"{args.docs} has no {START} … {END} part: not updated", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
