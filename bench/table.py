"""``make bench``'s last step: one table of every family from the benches' JSON files, with
each row's target from issue #22 and whether this run met it.

Reads bench/results.json (MLP homework), conv_results.json (LeNet-5 epoch, VGG-16 step),
rnn_results.json (LSTM epoch), generative_results.json (autoencoder, VAE, GAN epochs) and
transformer_results.json when present; a missing file is a row saying so. Prints the table,
writes bench/table.json, and replaces the part of docs/performance.md between
``<!-- bench-table:start -->`` and ``<!-- bench-table:end -->``. Every row's times come from one
file, so its ratios were measured in one run (interleaved rounds, medians); the machine and its
CPU vector flags are the ones each file recorded (older files: not recorded).

    python bench/table.py [--dir bench] [--docs docs/performance.md] [--no-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import re

START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
HAND, AUTO, TORCH = "jaxnn (hand)", "jaxnn (autodiff)", "pytorch eager"


class Row(dict):
    """One workload: its times, ratio, bound, target, whether met, and the machine."""


def _seconds(entry: dict) -> float | None:
    """The timed figure of one implementation: the first ``*_seconds`` that is not compile
    or data time."""
    for key, value in entry.items():
        if (key.endswith("_seconds") and not key.startswith(("compile", "data"))
                and isinstance(value, (int, float))):  # fmt: skip
            return float(value)
    return None


def _machine(payload: dict) -> str:
    """The device, CPU and vector flags a file recorded (older files recorded fewer)."""
    versions = payload.get("versions") or {}
    machine = payload.get("machine")
    machine = machine if isinstance(machine, dict) else {"platform": machine}
    cpu = versions.get("cpu") or machine.get("platform") or "cpu not recorded"
    device = payload.get("jax_device") or machine.get("device") or "cpu"
    simd = versions.get("cpu_simd")
    flags = "not recorded"
    if simd:
        flags = "AVX-512" if "avx512f" in simd else "AVX2" if "avx2" in simd else simd
    return f"{device}; {cpu}; vector flags: {flags}"


def _row(name, implementations, target, payload, bound=None, extra=None) -> Row:
    name = f"{name} ({payload['_file']}, {payload.get('date', 'undated')})"
    times = {impl: _seconds(implementations[impl]) for impl in (HAND, AUTO, TORCH)
             if impl in implementations}  # fmt: skip
    hand, torch = times.get(HAND), times.get(TORCH)
    ratio = torch / hand if hand and torch else None
    met = None
    if ratio is not None:
        met = ratio >= target
        if extra is not None:
            met = met and extra(hand)
    return Row(workload=name, times=times, speed_vs_pytorch=ratio, target=target,
               bound_seconds=bound, x_bound=(hand / bound if hand and bound else None),
               met=met, machine=_machine(payload))  # fmt: skip


def rows(folder: str) -> list[Row]:
    def load(name):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as file:
            return {**json.load(file), "_file": name}

    found = []
    mlp = load("results.json")
    if mlp:
        bound = mlp["lower_bound_seconds"]
        found.append(_row(f"MLP homework, {mlp['epochs']} epochs ({mlp['workload']})",
                          mlp["implementations"], 1.5, mlp, bound,
                          extra=lambda hand: hand <= 1.15 * bound))  # fmt: skip
    conv = load("conv_results.json")
    if conv:
        for key, target in (("lenet5", 1.0), ("vgg16", 1.0)):
            part = conv[key]
            found.append(_row(f"{key}: {part['workload']}", part["implementations"], target,
                              conv, part.get("lower_bound_seconds")))  # fmt: skip
    for name in ("rnn_results.json", "generative_results.json", "transformer_results.json"):
        payload = load(name)
        if payload is None:
            continue
        results = payload["results"]
        if HAND in results:  # timing.write_result's layout: {implementation: {...}}
            found.append(_row(payload["what"], results, 1.0, payload,
                              results[HAND].get("lower_bound_seconds")))  # fmt: skip
        else:  # several workloads in one file: {"workload: implementation": {...}}
            grouped: dict[str, dict] = {}
            for label, entry in results.items():
                workload, _, implementation = label.rpartition(": ")
                grouped.setdefault(workload, {})[implementation] = entry
            for workload, implementations in grouped.items():
                bound = implementations.get(HAND, {}).get("lower_bound_seconds")
                found.append(_row(f"{workload} epoch", implementations, 1.0, payload, bound))
    return found


def _fmt(value, spec="{:.3g}"):
    return "—" if value is None else spec.format(value)


def markdown(found: list[Row]) -> str:
    lines = [
        "| workload | jaxnn hand (s) | jaxnn jax.grad (s) | PyTorch eager (s) | "
        "hand vs PyTorch | × bound | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in found:
        t = row["times"]
        met = {True: "met", False: "**not met**", None: "not measured"}[row["met"]]
        lines.append(
            f"| {row['workload']} | {_fmt(t.get(HAND))} | {_fmt(t.get(AUTO))} | "
            f"{_fmt(t.get(TORCH))} | {_fmt(row['speed_vs_pytorch'], '{:.2f}×')} | "
            f"{_fmt(row['x_bound'], '{:.2f}')} | ≥ {row['target']}× | {met} |"
        )
    machines = sorted({row["machine"] for row in found})
    lines += ["", "Measured on: " + " / ".join(machines) + "."]
    return "\n".join(lines)


def update_docs(path: str, table: str, start: str = START, end: str = END) -> bool:
    """Replace what stands between the markers ``start`` and ``end`` in ``path`` by ``table``;
    False if the file lacks them."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    if start not in text or end not in text:
        return False
    new = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{table}\n{end}",
                 text, flags=re.S)  # fmt: skip
    with open(path, "w", encoding="utf-8") as file:
        file.write(new)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="bench")
    parser.add_argument("--docs", default="docs/performance.md")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    found = rows(args.dir)
    table = markdown(found)
    print(table)
    with open(os.path.join(args.dir, "table.json"), "w", encoding="utf-8") as file:
        json.dump(found, file, indent=2)
    if not args.no_docs and not update_docs(args.docs, table):
        print(f"(no {START} … {END} markers in {args.docs}: docs not updated)")


if __name__ == "__main__":
    main()
