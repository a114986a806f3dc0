"""What the benches share: one compiled training epoch of a jaxnn model, timed apart from its
compilation, and the medians of interleaved rounds."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

from jaxnn import provenance, train


def jaxnn_epoch(
    model, grads, params, X_rows, Y_rows, order, optimizer, batch_size, key=None, costs=False
):
    """One epoch of ``model`` (``grads``: hand or autodiff) with ``optimizer`` through the
    training path's step (``train.model_step``: a GAN's two players), ``key`` the epoch's key
    of a model whose cost draws noise: ``(trained params, epoch seconds, compile seconds)``,
    and the per-step costs after them when ``costs``."""
    init_opt_state, step = train.model_step(model, grads, optimizer)
    epoch = train.make_epoch(step, X_rows.shape[0], batch_size, example_axis=model.example_axis)
    opt_state = init_opt_state(params)
    start = time.perf_counter()
    compiled = epoch.lower(params, opt_state, order, X_rows, Y_rows, key).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    params, _, step_costs = compiled(params, opt_state, order, X_rows, Y_rows, key)
    step_costs.block_until_ready()
    seconds = time.perf_counter() - start
    return (params, seconds, compile_seconds) + ((step_costs,) if costs else ())


def median_rows(rounds: list[dict], key: str) -> dict:
    """Each implementation's last round with ``key`` replaced by its median over the rounds
    (all of them in ``key_all``)."""
    rows = {}
    for name in rounds[0]:
        values = [r[name][key] for r in rounds]
        rows[name] = {**rounds[-1][name], key: statistics.median(values), f"{key}_all": values}
    return rows


def write_result(path: str, what: str, rows: dict, key: str, have_torch: bool) -> dict:
    """The benchmark's JSON (what was timed, the device, machine, versions with the CPU's
    model and vector flags (``provenance.versions``), the median ``rows``, and each row's
    speed relative to PyTorch eager's ``key`` time when it ran), written to ``path`` and
    printed."""
    import jax

    device = jax.devices()[0]
    result = {
        "what": what,
        "jax_device": f"{device.platform}: {device.device_kind}",
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "versions": {**provenance.versions(), "torch": __import__("torch").__version__
                     if have_torch else None},  # with the CPU's vector flags (cpu_simd)
        "results": rows,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip
    if "pytorch eager" in rows:
        torch_seconds = rows["pytorch eager"][key]
        result["speed_vs_pytorch"] = {name: torch_seconds / row[key]
                                      for name, row in rows.items()}  # fmt: skip
    with open(path, "w") as file:
        json.dump(result, file, indent=2)
        file.write("\n")
    print(json.dumps(result, indent=2))
    return result
