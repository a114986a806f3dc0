"""How does the memory of backprop through time grow with the sequence length? XLA's own
account of each compiled training-gradient program (``memory_analysis``: the temporary
buffers beside inputs and outputs) for an LSTM on sequences of T steps, T from 25 to 1600:
the hand-derived BPTT storing every step's gates, the same recomputing them (``remat``),
and jax.grad through ``lax.scan`` with and without ``jax.checkpoint`` on the step.
Nothing runs: the programs are compiled and measured, so this is cheap on any machine.

    python experiments/rnn_memory.py --out runs/experiments/rnn_memory
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxnn import experiment, models


@dataclasses.dataclass(frozen=True)
class Config:
    lengths: str = "25,50,100,200,400,800,1600"
    hidden_size: int = 128
    n_x: int = 28
    batch: int = 128


def temp_bytes(model, params, T: int, batch: int, n_x: int, grads: str) -> int:
    X = jax.ShapeDtypeStruct((T, n_x, batch), jnp.float32)
    Y = jax.ShapeDtypeStruct((10, batch), jnp.float32)
    fn = model.cost_and_grads if grads == "hand" else model.autodiff_cost_and_grads
    compiled = jax.jit(fn).lower(params, X, Y).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def main(config: Config, out_dir: str) -> dict:
    lengths = [int(t) for t in config.lengths.split(",")]
    variants = [("hand", False), ("hand", True), ("autodiff", False), ("autodiff", True)]
    table = {}
    for grads, remat in variants:
        label = f"{grads}{' + remat' if remat else ''}"
        table[label] = []
        for T in lengths:
            model = models.build("lstm", (T, config.n_x), 10, hidden_size=config.hidden_size,
                                 remat=remat)  # fmt: skip
            params = model.init(jax.random.PRNGKey(0))
            table[label].append(temp_bytes(model, params, T, config.batch, config.n_x, grads))
    per_step = {label: (values[-1] - values[0]) / (lengths[-1] - lengths[0])
                for label, values in table.items()}  # fmt: skip
    fig, ax = experiment.figure()
    for label, values in table.items():
        ax.plot(lengths, [v / 2**20 for v in values], marker="o", label=label)
    ax.set(xlabel="sequence length T", ylabel="XLA temporary buffers (MiB)", xscale="log",
           yscale="log", title=f"LSTM {config.hidden_size}, batch {config.batch}")  # fmt: skip
    ax.legend()
    experiment.save(fig, out_dir, "memory.png")
    return {"settings": dataclasses.asdict(config), "lengths": lengths,
            "temp_bytes": table, "bytes_per_step": per_step,
            "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}"}  # fmt: skip


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
