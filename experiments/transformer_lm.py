"""Which character-level language model learns most from the same text in the same CPU
time: a decoder-only Transformer, an LSTM or a GRU, at about the same parameter count?
Each trains on Python's documentation text (pydoc_data.topics, the ``text`` dataset) through
the one training path, one epoch at a time (``--resume``) until its training time passes
the budget, and is scored in held-out bits per character. Then the Transformer writes
(samples), and one of its heads' attention weights over a sampled line are drawn.

    python experiments/transformer_lm.py --out runs/experiments/transformer_lm
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
from jaxnn.models import recurrent, transformer
from jaxnn.run import TrainConfig, train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Config:
    models: str = "transformer,lstm,gru"
    seeds: str = "0"
    budget_seconds: float = 240.0  # training time per model and seed (whole epochs)
    layers: int = 2  # the Transformer: ~103k parameters at these settings
    d_model: int = 64
    heads: int = 4
    d_ff: int = 192
    lstm_hidden: int = 128  # ~99k parameters
    gru_hidden: int = 150  # ~101k parameters
    embed: int = 32
    batch_size: int = 64
    lr: float = 2e-3
    clip_norm: float = 5.0
    grads: str = "hand"
    prime: str = "The "
    sample_length: int = 400
    temperature: float = 0.8


def _options(config: Config, name: str) -> dict:
    if name == "transformer":
        return {"n_layers": config.layers, "d_model": config.d_model, "heads": config.heads,
                "d_ff": config.d_ff}  # fmt: skip
    hidden = config.lstm_hidden if name == "lstm" else config.gru_hidden
    return {"hidden_size": hidden, "embed": config.embed}


def train_for(config: Config, name: str, seed: int, run_dir: str) -> tuple[dict, list]:
    """Whole epochs until the run's training seconds reach the budget; ``(metrics, history)``."""
    epochs, metrics = 0, {"train_seconds": 0.0}
    while metrics["train_seconds"] < config.budget_seconds:
        epochs += 1
        metrics = train_and_evaluate(TrainConfig(
            dataset="text", model=name, options=_options(config, name),
            batch_size=config.batch_size, lr=config.lr, optimizer="adam",
            clip_norm=config.clip_norm, epochs=epochs, seed=seed, grads=config.grads,
            checkpoint_secs=0,
        ), run_dir, resume=epochs > 1, progress=False)  # fmt: skip
    with open(os.path.join(run_dir, "history.jsonl")) as file:
        history = [json.loads(line) for line in file if line.strip()]
    return metrics, history


def attention_picture(params: dict, ids: np.ndarray, chars: str, heads: int, out_dir: str):
    """Every head of the last block over one line: row t is query t's weights over keys."""
    _, caches = transformer.logits_and_caches(params, jnp.asarray(ids)[:, None], heads)
    P = np.asarray(caches["blocks"][-1]["attention"]["core"]["P"][:, 0])  # (H, T, T)
    labels = [repr(chars[i])[1:-1] for i in ids]
    fig, axes = experiment.figure(1, heads, size=(4 * heads, 4.2))
    for head, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(P[head], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(ids)), labels, fontsize=6, family="monospace")
        ax.set_yticks(range(len(ids)), labels, fontsize=6, family="monospace")
        ax.set(title=f"last block, head {head}", xlabel="key (read)", ylabel="query")
    experiment.save(fig, out_dir, "attention.png")


def main(config: Config, out_dir: str) -> dict:
    chars = sequences.vocabulary()
    results, samples = {}, []
    fig, ax = experiment.figure()
    for color, name in enumerate(config.models.split(",")):
        runs = []
        for seed in (int(s) for s in config.seeds.split(",")):
            run_dir = os.path.join(out_dir, f"{name}-seed{seed}")
            metrics, history = train_for(config, name, seed, run_dir)
            ax.plot(np.cumsum([r["seconds"] for r in history]),
                    [r["test_bits_per_char"] for r in history], marker="o", color=f"C{color}",
                    label=name if not runs else None)  # fmt: skip
            params = checkpoint.load(os.path.join(run_dir, "checkpoints"))["params"]
            runs.append({"seed": seed, "epochs": metrics["epochs"],
                         "test_bits_per_char": metrics["test_bits_per_char"],
                         "train_bits_per_char": metrics["train_bits_per_char"],
                         "train_seconds": metrics["train_seconds"],
                         "parameters": int(sum(np.size(v) for v in params.values())),
                         "describe": metrics["describe"]})  # fmt: skip
            if seed != int(config.seeds.split(",")[0]):
                continue
            prime = jnp.asarray(sequences.encode(config.prime, chars))
            key = jax.random.PRNGKey(seed)
            if name == "transformer":
                ids = transformer.sample(params, key, prime, config.sample_length,
                                         config.temperature, config.heads)  # fmt: skip
                line = np.concatenate([np.asarray(prime), np.asarray(ids)])[:48]
                attention_picture(params, line, chars, config.heads, out_dir)
            else:
                ids = recurrent.sample(params, key, prime, config.sample_length,
                                       config.temperature, name)  # fmt: skip
            text = config.prime + sequences.decode(np.asarray(ids), chars)
            samples.append(f"## {name}, temperature {config.temperature}\n\n{text}\n")
        bpc = [run["test_bits_per_char"] for run in runs]
        results[name] = {"runs": runs, "test_bits_per_char_mean": float(np.mean(bpc)),
                         "test_bits_per_char_std": float(np.std(bpc))}  # fmt: skip
    ax.set(xlabel="training seconds", ylabel="held-out bits per character",
           title="pydoc_data text, same time budget")  # fmt: skip
    ax.legend()
    experiment.save(fig, out_dir, "bits_per_char.png")
    with open(os.path.join(out_dir, "samples.md"), "w") as file:
        file.write("\n".join(samples))
    return {"settings": dataclasses.asdict(config), "vocabulary_size": len(chars),
            "results": results}  # fmt: skip


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
