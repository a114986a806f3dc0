"""``make bench`` (generative part): one training epoch of the autoencoder, the VAE and the
GAN on Fashion-MNIST — jaxnn with the hand-derived backward, jaxnn with jax.grad, and
PyTorch eager with the same network — in one run.

Each model is jaxnn's ``models.build(name, (784,), 10, hidden=...)`` with its training
defaults (``jaxnn.models.TRAINING_DEFAULTS``: optimizer, lr, β₁, batch size, hidden
activation), so the networks are those ``jaxnn train --model NAME --dataset fashion_mnist``
trains:

- autoencoder 784-256-32-256-784, ReLU, sigmoid output + BCE; Adam 1e-3, batch 128;
- VAE 784-400-(20 μ + 20 log σ²) | 20-400-784, ReLU, Bernoulli decoder on pixels
  binarised afresh each step, −ELBO with one ε; Adam 1e-3, batch 100;
- GAN G 64-256-512-784 (sigmoid), D 784-512-256-1, tanh; one D step on
  BCE(real = 1, fake = 0), then one G step on the non-saturating loss through the updated D,
  each player with its own Adam (2e-4, β₁ 0.5); batch 128.

PyTorch builds the same layers (``torch.nn.Linear``, weights copied from the jaxnn params),
trains with ``torch.optim.Adam`` at the same settings, on the same minibatch order, and uses
the same noise as jaxnn: the VAE's binarisation uniforms and ε, and the GAN's two noise
batches per step, are drawn with jaxnn's keys before the timer starts (jaxnn draws them
inside its compiled epoch, so its time includes them; ``noise_draw_seconds`` in PyTorch's
row is what ``torch.rand``/``torch.randn`` of the same shapes costs for one epoch, measured
apart). PyTorch's timed epoch follows three untimed steps (``warm_up_seconds``: its thread
pool and kernels set up), as jaxnn's compilation is timed apart (``compile_seconds``).
Because the three start from the same weights and see the same data and noise,
their per-step costs and final costs must agree to float32 rounding: each row reports its
largest per-step cost difference from jaxnn (hand) and its final cost on the test split
(every implementation's trained weights evaluated by the same jaxnn function, with one
fixed key). Rounds are interleaved, medians reported. Results:
bench/generative_results.json (``--out`` to change).

Usage: python bench/generative_bench.py [--rounds 3] [--m 60000] [--models autoencoder,vae,gan]
       [--dataset fashion_mnist|random]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from timing import flop_bound, jaxnn_epoch, median_rows, write_result

from jaxnn import data, models, train
from jaxnn.errors import JaxnnError
from jaxnn.models import defaults

FAMILIES = ("autoencoder", "vae", "gan")
N_X = 784
WARM_UP = 3  # untimed PyTorch steps before its timed epoch


def setup(name: str, **options):
    """``(model, settings, optimizer)``: the model as ``jaxnn train`` builds it on
    Fashion-MNIST (its default hidden activation; ``options`` override the builder's)."""
    settings = defaults.for_model(name, "fashion_mnist")
    model = models.build(name, (N_X,), 10, **{"hidden": settings["hidden"], **options})
    optimizer = train.make_optimizer(
        settings["lr"], name=settings["optimizer"], clip_norm=settings["clip_norm"],
        beta1=settings["beta1"],
    )  # fmt: skip
    return model, settings, optimizer


def batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """The epoch's minibatches as ``train.make_epoch`` cuts them: full ones, then the rest."""
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _draw(kind: str, rows: int, m: int, key, i):
    """Step ``i``'s noise from ``fold_in(key, i)`` split in two, as the models draw it."""
    k1, k2 = jax.random.split(jax.random.fold_in(key, i))
    first = (jax.random.uniform(k1, (N_X, m), jnp.float32) if kind == "vae"
             else jax.random.normal(k1, (rows, m), jnp.float32))  # fmt: skip
    return first, jax.random.normal(k2, (rows, m), jnp.float32)


def jax_noise(model, key, steps: list[np.ndarray]) -> list[tuple]:
    """The noise jaxnn's compiled epoch draws at each step (step i: ``fold_in(key, i)``), as
    numpy arrays with one example per row: VAE ``(U, ε)`` — the uniforms of
    ``jax.random.bernoulli`` (x = [U < pixel]) and ε; GAN ``(z_D, z_G)``."""
    rows = model.options["latent" if model.name == "vae" else "noise"]
    return [tuple(np.ascontiguousarray(np.asarray(a).T)
                  for a in _draw(model.name, rows, len(index), key, i))
            for i, index in enumerate(steps)]  # fmt: skip


# ----------------------------------------------------------------------------- PyTorch
def torch_stack(stack_params: dict, hidden: str, last=None):
    """A ``torch.nn.Sequential`` of a jaxnn dense stack (``fc1 … fcL``, ``hidden`` between
    them, ``last`` after fcL), its weights copied: W (n_out, n_in) is torch's layout."""
    import torch

    activation = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
    if hidden not in activation:
        raise SystemExit(f"generative_bench: no PyTorch twin for hidden={hidden!r}")
    names = sorted(stack_params, key=lambda n: int(n[2:]))
    layers = []
    for index, name in enumerate(names):
        W = np.asarray(stack_params[name]["W"])
        linear = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(W))
            linear.bias.copy_(torch.tensor(np.asarray(stack_params[name]["b"])[:, 0]))
        layers.append(linear)
        if index < len(names) - 1:
            layers.append(activation[hidden]())
    if last is not None:
        layers.append(last)
    return torch.nn.Sequential(*layers)


def jaxnn_params(net) -> dict:
    """The jaxnn params ``{"fc1": {"W", "b"}, …}`` of a ``torch_stack``'s trained layers."""
    import torch

    linears = [layer for layer in net if isinstance(layer, torch.nn.Linear)]
    return {f"fc{k}": {"W": jnp.asarray(layer.weight.detach().numpy()),
                       "b": jnp.asarray(layer.bias.detach().numpy()[:, None])}
            for k, layer in enumerate(linears, start=1)}  # fmt: skip


def torch_epoch(model, settings, params, X, steps, noise):
    """One epoch of PyTorch eager: ``(trained jaxnn params, seconds, per-step costs)``.
    ``X`` (m, 784) a torch tensor; ``steps`` the minibatch indices; ``noise`` jax_noise's."""
    import torch
    import torch.nn.functional as F

    hidden, o = model.options["hidden"], model.options
    adam = {"lr": settings["lr"], "betas": (settings["beta1"] or 0.9, 0.999), "eps": 1e-8}
    index = [torch.from_numpy(i.astype(np.int64)) for i in steps]
    noise = [tuple(torch.from_numpy(a) for a in draws) for draws in noise]
    costs = torch.zeros(len(steps))

    def bce_sum(logits, targets):
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")

    if model.name in ("autoencoder", "vae"):
        if model.name == "autoencoder" and o["loss"] != "bce":
            raise SystemExit("generative_bench: the PyTorch autoencoder is the bce one")
        encoder = torch_stack(params["encoder"], hidden)
        decoder = torch_stack(params["decoder"], hidden)
        nets = {"encoder": encoder, "decoder": decoder}
        optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], **adam)
        J = o.get("latent")
        start = time.perf_counter()
        for i, rows in enumerate(index):
            x = X[rows]
            m = x.shape[0]
            if model.name == "autoencoder":
                loss = bce_sum(decoder(encoder(x)), x) / m
            else:
                U, eps = noise[i]
                x = (U < x).float()  # the Bernoulli draw of jax.random.bernoulli
                out = encoder(x)
                mu, logvar = out[:, :J], out[:, J:]
                logits = decoder(mu + torch.exp(0.5 * logvar) * eps)
                kl = 0.5 * torch.sum(mu**2 + torch.exp(logvar) - 1 - logvar)
                loss = (bce_sum(logits, x) + kl) / m
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            costs[i] = loss.detach()
        seconds = time.perf_counter() - start
    else:
        if o["loss"] != "non_saturating":
            raise SystemExit("generative_bench: the PyTorch GAN is the non-saturating one")
        generator = torch_stack(params["generator"], hidden, torch.nn.Sigmoid())
        discriminator = torch_stack(params["discriminator"], hidden)
        nets = {"generator": generator, "discriminator": discriminator}
        opt_g = torch.optim.Adam(generator.parameters(), **adam)
        opt_d = torch.optim.Adam(discriminator.parameters(), **adam)
        ones = {len(i): torch.ones(len(i), 1) for i in steps}
        zeros = {len(i): torch.zeros(len(i), 1) for i in steps}
        start = time.perf_counter()
        for i, rows in enumerate(index):
            x = X[rows]
            m = x.shape[0]
            z_d, z_g = noise[i]
            with torch.no_grad():  # D's step: G's samples are constants
                fake = generator(z_d)
            logits = discriminator(torch.cat([x, fake]))
            loss_d = (bce_sum(logits[:m], ones[m]) + bce_sum(logits[m:], zeros[m])) / m
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            discriminator.requires_grad_(False)  # G's step: only G's gradients (as jaxnn's)
            loss_g = bce_sum(discriminator(generator(z_g)), ones[m]) / m
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            discriminator.requires_grad_(True)
            costs[i] = loss_d.detach()
        seconds = time.perf_counter() - start
    trained = {name: jaxnn_params(net) for name, net in nets.items()}
    return trained, seconds, costs.numpy()


def torch_noise_seconds(noise) -> float:
    """What drawing one epoch's noise with torch (``rand``/``randn`` of the same shapes) costs:
    excluded from PyTorch's epoch, which replays jaxnn's draws."""
    import torch

    start = time.perf_counter()
    for draws in noise:
        for a in draws:
            torch.rand(a.shape) if a.shape[1] == N_X else torch.randn(a.shape)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- rounds
def family_round(name, ds, m, have_torch, evaluate_key) -> dict:
    model, settings, optimizer = setup(name)
    batch = settings["batch_size"]
    params = model.init(jax.random.PRNGKey(0))
    order = train.epoch_order(jax.random.PRNGKey(1), 0, m)
    key = train.epoch_key(jax.random.PRNGKey(1), 0) if model.stochastic else None
    X = ds["X_train"][:, :m]
    X_rows, Y_rows = train.device_rows(X, np.zeros((0, m), np.float32), 1)
    metrics = jax.jit(lambda p, X: models.metrics(model, p, X, jnp.zeros((0, X.shape[1])),
                                                  key=evaluate_key))  # fmt: skip
    X_test = jnp.asarray(ds["X_test"])

    def result(trained, seconds, compile_seconds, costs, reference=None):
        final = {k: float(v) for k, v in metrics(trained, X_test).items()}
        row = {"epoch_seconds": seconds, "compile_seconds": compile_seconds,
               "test_cost": final["cost"], "test_metrics": final,
               "first_step_cost": float(costs[0]), "last_step_cost": float(costs[-1])}  # fmt: skip
        if reference is not None:
            row["max_step_cost_diff_vs_hand"] = float(np.max(np.abs(costs - reference)))
        return row

    out = {}
    reference = None
    for grads in ("hand", "autodiff"):
        trained, seconds, compile_seconds, costs = jaxnn_epoch(
            model, grads, params, X_rows, Y_rows, order, optimizer, batch, key, costs=True
        )
        costs = np.asarray(costs)
        out[f"{name}: jaxnn ({grads})"] = result(trained, seconds, compile_seconds, costs,
                                                 reference)  # fmt: skip
        reference = costs if reference is None else reference
    out[f"{name}: jaxnn (hand)"].update(flop_bound(model, optimizer, params, X_rows, Y_rows,
                                                   batch, key))  # fmt: skip
    if have_torch:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        steps = batches(np.asarray(order), batch)
        noise = jax_noise(model, key, steps) if model.stochastic else [() for _ in steps]
        X_torch = torch.tensor(np.asarray(X_rows))
        # untimed, as jaxnn's compilation: PyTorch's first steps in a process set up its
        # thread pool and kernels (seconds on a busy machine)
        warm_up = torch_epoch(model, settings, params, X_torch, steps[:WARM_UP],
                              noise[:WARM_UP])[1]  # fmt: skip
        trained, seconds, costs = torch_epoch(model, settings, params, X_torch, steps, noise)
        row = result(trained, seconds, 0.0, costs, reference)
        row["warm_up_seconds"] = warm_up
        row["noise_draw_seconds"] = torch_noise_seconds(noise)
        out[f"{name}: pytorch eager"] = row
    return out


def load(dataset: str) -> dict:
    """The training and test pixels, columns ``(784, m)`` in [0, 1]: Fashion-MNIST through
    jaxnn.data, or ``random`` (U(0, 1) pixels of the same shape, no download)."""
    if dataset == "random":
        rng = np.random.default_rng(0)
        return {"X_train": rng.random((N_X, 60000), np.float32),
                "X_test": rng.random((N_X, 10000), np.float32),
                "source": "U(0, 1) pixels"}  # fmt: skip
    ds = data.load(dataset)
    return {"X_train": np.asarray(ds.X_train, np.float32),
            "X_test": np.asarray(ds.X_test, np.float32), "source": dataset}  # fmt: skip


def describe(name: str) -> str:
    """``autoencoder 784-256-32-256-784 (bce), adam lr 0.001, batch 128``."""
    model, settings, _ = setup(name)
    beta1 = f" β₁ {settings['beta1']:g}" if settings["beta1"] is not None else ""
    return (f"{model.describe}, {model.options['hidden']} hidden, {settings['optimizer']} lr "
            f"{settings['lr']:g}{beta1}, batch {settings['batch_size']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--m", type=int, default=60000, help="training examples (the first m)")
    parser.add_argument("--models", default=",".join(FAMILIES))
    parser.add_argument("--dataset", default="fashion_mnist", choices=("fashion_mnist", "random"))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "generative_results.json"))  # fmt: skip
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(FAMILIES))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose among {', '.join(FAMILIES)}")
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: run at least one round")
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        print("torch is not installed (pip install -e '.[bench]'): jaxnn only", file=sys.stderr)
        have_torch = False
    batch = max(defaults.for_model(name, "fashion_mnist")["batch_size"] for name in names)
    if args.m < batch:
        parser.error(f"--m {args.m}: the models train with batches of up to {batch}; "
                     f"use --m {batch} or more")  # fmt: skip
    try:
        ds = load(args.dataset)
    except JaxnnError as error:  # e.g. no Fashion-MNIST here: one line, and the way out
        raise SystemExit(f"generative_bench: {error} (or run with --dataset random)") from None
    m = min(args.m, ds["X_train"].shape[1])
    evaluate_key = jax.random.PRNGKey(2)
    rounds = []
    for index in range(args.rounds):
        rounds.append({})
        for name in names:
            rounds[-1].update(family_round(name, ds, m, have_torch, evaluate_key))
        print(f"round {index + 1}: " + ", ".join(f"{name} {row['epoch_seconds']:.2f}s"
                                                for name, row in rounds[-1].items()))  # fmt: skip
    rows = median_rows(rounds, "epoch_seconds")
    for name in names:
        torch_row = rows.get(f"{name}: pytorch eager")
        for label, row in rows.items():
            if torch_row is not None and label.startswith(f"{name}:"):
                row["speed_vs_pytorch"] = torch_row["epoch_seconds"] / row["epoch_seconds"]
    described = "; ".join(describe(name) for name in names)
    write_result(
        args.out,
        f"one training epoch of {m} {ds['source']} examples each: {described}; median of "
        f"{args.rounds} interleaved rounds; test_cost: the trained weights' cost on the "
        "10000 test examples (one fixed key)",
        rows, "epoch_seconds", have_torch,
    )  # fmt: skip


if __name__ == "__main__":
    main()
