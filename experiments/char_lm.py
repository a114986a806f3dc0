"""A character-level language model of English: an LSTM (and a tanh RNN beside it) reads
Python's own documentation text (the standard library's pydoc_data.topics, in every
install), predicts each next character, and is scored in bits per character on the
held-out last 10%. Then it writes: samples drawn one character at a time.

    python experiments/char_lm.py --out runs/experiments/char_lm
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import checkpoint, experiment
from jaxnn.data import sequences
from jaxnn.models import recurrent
from jaxnn.run import TrainConfig, train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Config:
    cells: str = "lstm,rnn"
    seeds: str = "0,1,2"
    epochs: int = 20
    hidden_size: int = 256
    embed: int = 32
    batch_size: int = 64
    lr: float = 2e-3
    optimizer: str = "adam"
    clip_norm: float = 5.0
    grads: str = "hand"
    prime: str = "The "
    sample_length: int = 600
    temperatures: str = "0.5,1.0"


def main(config: Config, out_dir: str) -> dict:
    chars = sequences.vocabulary()
    results, samples = {}, []
    fig, ax = experiment.figure()
    for color, cell in enumerate(config.cells.split(",")):
        runs = []
        for seed in (int(s) for s in config.seeds.split(",")):
            run_dir = os.path.join(out_dir, f"{cell}-seed{seed}")
            metrics = train_and_evaluate(TrainConfig(
                dataset="text", model=cell,
                options={"hidden_size": config.hidden_size, "embed": config.embed},
                batch_size=config.batch_size, lr=config.lr, optimizer=config.optimizer,
                clip_norm=config.clip_norm, epochs=config.epochs, seed=seed, grads=config.grads,
                checkpoint_secs=0,
            ), run_dir)  # fmt: skip
            with open(os.path.join(run_dir, "history.jsonl")) as file:
                history = [json.loads(line) for line in file if line.strip()]
            ax.plot([r["epoch"] for r in history], [r["test_bits_per_char"] for r in history],
                    color=f"C{color}", label=cell if not runs else None)  # fmt: skip
            runs.append({"seed": seed, "test_bits_per_char": metrics["test_bits_per_char"],
                         "train_bits_per_char": metrics["train_bits_per_char"],
                         "train_seconds": metrics["train_seconds"]})  # fmt: skip
            if seed == int(config.seeds.split(",")[0]):
                params = checkpoint.load(os.path.join(run_dir, "checkpoints"))["params"]
                for temperature in (float(t) for t in config.temperatures.split(",")):
                    ids = recurrent.sample(params, jax.random.PRNGKey(seed),
                                           jnp.asarray(sequences.encode(config.prime, chars)),
                                           config.sample_length, temperature, cell)  # fmt: skip
                    text = config.prime + sequences.decode(np.asarray(ids), chars)
                    samples.append(f"## {cell}, temperature {temperature}\n\n{text}\n")
        bpc = [run["test_bits_per_char"] for run in runs]
        results[cell] = {"runs": runs, "test_bits_per_char_mean": float(np.mean(bpc)),
                         "test_bits_per_char_std": float(np.std(bpc))}  # fmt: skip
    ax.set(xlabel="epoch", ylabel="held-out bits per character", title="pydoc_data text")
    ax.legend()
    experiment.save(fig, out_dir, "bits_per_char.png")
    with open(os.path.join(out_dir, "samples.md"), "w") as file:
        file.write("\n".join(samples))
    return {"settings": dataclasses.asdict(config), "vocabulary_size": len(chars),
            "results": results}  # fmt: skip


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
