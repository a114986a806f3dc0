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


def matmul_rate(repeats: int = 5) -> float:
    """FLOP/s of a 2048×2048 float32 matmul compiled by XLA on this machine."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((2048, 2048), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * 2048**3 / min(times)


def flop_bound(model, optimizer, params, X_rows, Y_rows, batch_size, key=None,
               flops_per_step: float | None = None) -> dict:  # fmt: skip
    """An epoch's lower bound: the floating-point operations of one training step times the
    epoch's ``m / batch_size`` steps, at the rate of a 2048² float32 matmul on this machine
    (``matmul_rate``). The step's operations: ``flops_per_step`` when the bench states them,
    else what XLA counts in the compiled ``jax.grad`` step on a minibatch of ``batch_size``
    rows (its cost analysis: matmuls, elementwise work, the optimizer). XLA counts a loop's
    body once, not once per trip: a model with a scan over time (the LSTM) must state its
    own."""
    import jax
    import numpy as np

    if flops_per_step is None:
        init_opt_state, step = train.model_step(model, "autodiff", optimizer)
        take = train.minibatch_taker(None, model.example_axis)
        X, Y = take(np.arange(batch_size), X_rows, Y_rows)
        step_key = None if key is None else jax.random.fold_in(key, 0)
        analysis = (jax.jit(step).lower(params, init_opt_state(params), X, Y, step_key)
                    .compile().cost_analysis())  # fmt: skip
        analysis = analysis[0] if isinstance(analysis, list | tuple) else analysis
        flops_per_step = float(analysis["flops"])
    flops, rate = flops_per_step, matmul_rate()
    m = X_rows.shape[0]
    return {"flops_per_step": flops, "matmul_gflops": rate / 1e9,
            "lower_bound_seconds": flops * m / batch_size / rate}  # fmt: skip


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
