"""How does the memory of a Transformer's backward pass grow with the context length T?
XLA's own account of each compiled training-gradient program (``memory_analysis``: the
temporary buffers beside inputs and outputs) for the decoder-only Transformer on sequences of
T tokens: the hand-derived backward storing every head's attention weights P (H·T² numbers
per example and block), the same recomputing P from Q and K (``remat``), and jax.grad.
Nothing runs: the programs are compiled and measured, so this is cheap on any machine.

    python experiments/attention_memory.py --out runs/experiments/attention_memory
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxnn import experiment, models


@dataclasses.dataclass(frozen=True)
class Config:
    lengths: str = "64,128,256,512,1024"
    layers: int = 2
    d_model: int = 64
    heads: int = 4
    d_ff: int = 192
    vocabulary: int = 103
    batch: int = 16


def temp_bytes(config: Config, T: int, grads: str, remat: bool) -> int:
    model = models.build("transformer", (T,), config.vocabulary, n_layers=config.layers,
                         d_model=config.d_model, heads=config.heads, d_ff=config.d_ff,
                         remat=remat)  # fmt: skip
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    ids = jax.ShapeDtypeStruct((T, config.batch), jnp.int32)
    fn = model.cost_and_grads if grads == "hand" else model.autodiff_cost_and_grads
    compiled = jax.jit(fn).lower(params, ids, ids).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def main(config: Config, out_dir: str) -> dict:
    lengths = [int(t) for t in config.lengths.split(",")]
    variants = [("hand", False), ("hand", True), ("autodiff", False)]
    table = {}
    for grads, remat in variants:
        label = f"{grads}{' + remat' if remat else ''}"
        table[label] = [temp_bytes(config, T, grads, remat) for T in lengths]
    # what the stored attention weights alone take: layers · H · T² · m float32 numbers
    weights = [4 * config.layers * config.heads * T * T * config.batch for T in lengths]
    fig, ax = experiment.figure()
    for label, values in table.items():
        ax.plot(lengths, [v / 2**20 for v in values], marker="o", label=label)
    ax.plot(lengths, [w / 2**20 for w in weights], "k--", label="P alone (N·H·T²·m·4 B)")
    ax.set(xlabel="context length T", ylabel="XLA temporary buffers (MiB)", xscale="log",
           yscale="log", title=f"Transformer {config.layers}×d{config.d_model}, "
           f"{config.heads} heads, batch {config.batch}")  # fmt: skip
    ax.legend()
    experiment.save(fig, out_dir, "memory.png")
    return {"settings": dataclasses.asdict(config), "lengths": lengths, "temp_bytes": table,
            "attention_weight_bytes": weights,
            "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}"}  # fmt: skip


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
