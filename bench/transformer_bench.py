"""A decoder-only Transformer's training step, side by side: jaxnn with the hand-derived
backward, jaxnn with jax.grad, and PyTorch eager (the same pre-LN blocks written with
``torch.nn`` layers and ``torch.nn.functional.scaled_dot_product_attention``, causal; the same
weights copied in, the same minibatch, Adam). One compiled jaxnn step, timed apart from its
compilation; rounds interleaved, medians reported, with each implementation's cost at its
first step (the three must agree: the same model).

Shapes (the character LM of docs/attention.md): T = 100 tokens, vocabulary 103, 2 blocks,
d_model 64, 4 heads, d_ff 192, batch 64. Results: bench/transformer_results.json (``--out``).

Usage: python bench/transformer_bench.py [--rounds 5] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import numpy as np
import optax
from timing import flop_bound, write_result

from jaxnn import models, train

T, VOCAB, LAYERS, D_MODEL, HEADS, D_FF, BATCH, LR = 100, 103, 2, 64, 4, 192, 64, 1e-3


def jaxnn_steps(model, grads, params, X, Y, steps):
    """``(seconds per step, first cost, compile seconds)`` for ``steps`` compiled steps."""
    step = jax.jit(train.make_step(train.make_cost_and_grads(grads, model=model),
                                   optax.adam(LR)))  # fmt: skip
    opt_state = optax.adam(LR).init(params)
    start = time.perf_counter()
    compiled = step.lower(params, opt_state, X, Y).compile()
    compile_seconds = time.perf_counter() - start
    params, opt_state, first = compiled(params, opt_state, X, Y)
    first.block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        params, opt_state, J = compiled(params, opt_state, X, Y)
    J.block_until_ready()
    return (time.perf_counter() - start) / steps, float(first), compile_seconds


def torch_model(params):
    """The same network in torch, weights copied from jaxnn's (torch's Linear is (out, in),
    jaxnn's W too; jaxnn's columns are torch's rows)."""
    import torch
    from torch import nn
    from torch.nn import functional

    def tensor(a):
        return torch.from_numpy(np.array(a, np.float32))

    class Block(nn.Module):
        def __init__(self, layer):
            super().__init__()
            p = {name: params[f"{name}.{layer}"] for name in
                 ("gamma_1", "beta_1", "W_Q", "W_K", "W_V", "W_O", "gamma_2", "beta_2", "W_1",
                  "b_1", "W_2", "b_2")}  # fmt: skip
            self.ln_1, self.ln_2 = nn.LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
            self.q, self.k, self.v, self.o = (nn.Linear(D_MODEL, D_MODEL, bias=False)
                                              for _ in range(4))  # fmt: skip
            self.fc_1, self.fc_2 = nn.Linear(D_MODEL, D_FF), nn.Linear(D_FF, D_MODEL)
            with torch.no_grad():
                for ln, g, b in ((self.ln_1, "gamma_1", "beta_1"), (self.ln_2, "gamma_2",
                                                                     "beta_2")):  # fmt: skip
                    ln.weight.copy_(tensor(p[g])[:, 0])
                    ln.bias.copy_(tensor(p[b])[:, 0])
                for lin, name in ((self.q, "W_Q"), (self.k, "W_K"), (self.v, "W_V"),
                                  (self.o, "W_O")):  # fmt: skip
                    lin.weight.copy_(tensor(p[name]))
                self.fc_1.weight.copy_(tensor(p["W_1"]))
                self.fc_1.bias.copy_(tensor(p["b_1"])[:, 0])
                self.fc_2.weight.copy_(tensor(p["W_2"]))
                self.fc_2.bias.copy_(tensor(p["b_2"])[:, 0])

        def forward(self, x):  # (batch, T, d)
            B = x.shape[0]
            a = self.ln_1(x)
            q, k, v = (f(a).view(B, T, HEADS, -1).transpose(1, 2) for f in (self.q, self.k,
                                                                            self.v))  # fmt: skip
            o = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.o(o.transpose(1, 2).reshape(B, T, D_MODEL))
            return x + self.fc_2(functional.gelu(self.fc_1(self.ln_2(x))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.E = nn.Parameter(tensor(params["E"]).T.contiguous())
            self.P = nn.Parameter(tensor(params["P"]).T.contiguous())
            self.blocks = nn.ModuleList(Block(layer) for layer in range(LAYERS))
            self.ln_f, self.head = nn.LayerNorm(D_MODEL), nn.Linear(D_MODEL, VOCAB)
            with torch.no_grad():
                self.ln_f.weight.copy_(tensor(params["gamma_f"])[:, 0])
                self.ln_f.bias.copy_(tensor(params["beta_f"])[:, 0])
                self.head.weight.copy_(tensor(params["W_y"]))
                self.head.bias.copy_(tensor(params["b_y"])[:, 0])

        def forward(self, ids):  # (batch, T)
            x = self.E[ids] + self.P[: ids.shape[1]]
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

    return Net()


def torch_steps(params, X, Y, steps):
    import torch

    net = torch_model(params)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    ids = torch.from_numpy(np.asarray(X).T.astype(np.int64).copy())
    targets = torch.from_numpy(np.asarray(Y).T.astype(np.int64).copy())

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(ids).reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        return loss.item()

    first = step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps, first, 0.0


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "transformer_results.json"))  # fmt: skip
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        have_torch = True
    except ImportError:
        print("torch is not installed (pip install -e '.[bench]'): jaxnn only", file=sys.stderr)
        have_torch = False
    model = models.build("transformer", (T,), VOCAB, n_layers=LAYERS, d_model=D_MODEL,
                         heads=HEADS, d_ff=D_FF)  # fmt: skip
    params = model.init(jax.random.PRNGKey(0))
    key_x, key_y = jax.random.split(jax.random.PRNGKey(1))
    X = jax.random.randint(key_x, (T, BATCH), 0, VOCAB)
    Y = jax.random.randint(key_y, (T, BATCH), 0, VOCAB)
    runners = {"jaxnn (hand)": lambda: jaxnn_steps(model, "hand", params, X, Y, args.steps),
               "jaxnn (autodiff)": lambda: jaxnn_steps(model, "autodiff", params, X, Y,
                                                       args.steps)}  # fmt: skip
    if have_torch:
        runners["pytorch eager"] = lambda: torch_steps(params, X, Y, args.steps)
    rounds = {name: [] for name in runners}
    first, compile_seconds = {}, {}
    for index in range(args.rounds):
        for name, run in runners.items():
            seconds, first[name], compile_seconds[name] = run()
            rounds[name].append(seconds)
        print(f"round {index + 1}: " + ", ".join(f"{name} {values[-1] * 1e3:.1f} ms"
                                                for name, values in rounds.items()))  # fmt: skip
    rows = {name: {"step_seconds": statistics.median(values), "step_seconds_all": values,
                   "first_cost": first[name], "compile_seconds": compile_seconds[name]}
            for name, values in rounds.items()}  # fmt: skip
    # one step's bound: the batch as the "epoch" (rows: examples first)
    rows["jaxnn (hand)"].update(flop_bound(model, optax.adam(LR), params, X.T, Y.T, BATCH))
    return write_result(
        args.out,
        f"one Transformer training step (T {T}, vocab {VOCAB}, {LAYERS} blocks, d_model "
        f"{D_MODEL}, {HEADS} heads, d_ff {D_FF}, batch {BATCH}, Adam {LR}), median over "
        f"{args.rounds} interleaved rounds of {args.steps} steps",
        rows, "step_seconds", have_torch,
    )  # fmt: skip


if __name__ == "__main__":
    main()
