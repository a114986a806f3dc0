"""The shared shell of ``experiments/*.py``: a frozen dataclass ``Config`` with defaults,
``argparse`` overrides generated from its fields, and ``config.json`` / ``metrics.json`` /
PNG plots written to ``--out``. Each experiment's ``main(config, out_dir) -> metrics``
holds only its question. The helpers several experiments share (the bundled digits as
device arrays, a softmax MLP trained on them) live here too, so they are tested."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from jaxnn import data, mlp, train  # noqa: E402


def _parser_type(field_type):
    text = str(field_type)
    if text.startswith("tuple"):
        item = float if "float" in text else int if "int" in text else str
        return lambda value: tuple(item(part) for part in value.split(",") if part)
    return {"int": int, "float": float, "bool": lambda v: v.lower() in ("1", "true", "yes")}.get(
        text, str
    )


def parse(config_cls, description: str, argv=None, default_out: str = "runs/experiment"):
    """``(config, out_dir)`` from the command line: one ``--flag`` per Config field.
    Turns on XLA's persistent compilation cache, as the ``jaxnn`` command does."""
    from jaxnn import compilation_cache

    compilation_cache.enable()
    parser = argparse.ArgumentParser(description=description)
    for field in dataclasses.fields(config_cls):
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=_parser_type(field.type),
            default=field.default,
            help=f"(default: {field.default})",
        )
    parser.add_argument("--out", default=default_out, help="folder for the results")
    args = vars(parser.parse_args(argv))
    out_dir = args.pop("out")
    return config_cls(**args), out_dir


def write_json(path: str, payload) -> None:
    with open(path, "w") as file:
        json.dump(payload, file, indent=2, default=float)
        file.write("\n")


def save(fig, out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(config_cls, main: Callable, doc: str, argv=None) -> dict:
    """Parse flags, write ``config.json``, call ``main(config, out_dir)``, write
    ``metrics.json`` (with ``seconds``), print the metrics."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    config, out_dir = parse(config_cls, doc.strip().split("\n\n")[0], argv, f"runs/{name}")
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "config.json"), dataclasses.asdict(config))
    start = time.perf_counter()
    metrics = main(config, out_dir)
    metrics["seconds"] = time.perf_counter() - start
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    print(json.dumps(metrics, indent=2, default=float))
    return metrics


def figure(*shape, size=(5, 3.5)):
    return plt.subplots(*shape, figsize=size)


def digits_arrays():
    """The bundled digits as device arrays: (X, Y one-hot, X_test, Y_test)."""
    ds = data.load("digits")
    return (jnp.asarray(ds.X_train), jnp.asarray(data.one_hot(ds.labels_train, 10)),
            jnp.asarray(ds.X_test), jnp.asarray(data.one_hot(ds.labels_test, 10)))  # fmt: skip


def train_digits(layers, hidden="relu", scheme="glorot", l2=0.0, lr=0.05, batch_size=32,
                 epochs=30, seed=0, train_examples=None) -> dict:  # fmt: skip
    """Train a softmax MLP on the digits; returns accuracies, costs and the cost history."""
    X, Y, X_test, Y_test = digits_arrays()
    if train_examples is not None:
        X, Y = X[:, :train_examples], Y[:, :train_examples]
    params = mlp.init(jax.random.PRNGKey(seed), list(layers), scheme)
    params, history = train.fit(
        params, X, Y, train.make_cost_and_grads("hand", hidden, "softmax", l2),
        train.make_optimizer(lr), epochs, batch_size, jax.random.PRNGKey(seed + 1),
    )  # fmt: skip
    return {
        "train_accuracy": float(mlp.accuracy(params, X, Y, hidden)),
        "test_accuracy": float(mlp.accuracy(params, X_test, Y_test, hidden)),
        "final_train_cost": float(mlp.cost(params, X, Y, hidden)),
        "final_test_cost": float(mlp.cost(params, X_test, Y_test, hidden)),
        "history": history,
        "params": params,
    }
