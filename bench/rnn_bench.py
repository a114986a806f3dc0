"""``make bench`` (recurrent part): one LSTM training epoch of row-by-row MNIST — jaxnn with
the hand-derived BPTT, jaxnn with jax.grad, and PyTorch eager (``torch.nn.LSTM`` +
``torch.nn.Linear``, the same sizes, weights, minibatch order and Adam settings) in one run.

Each image is 28 steps of 28 pixels; LSTM 128 hidden units, softmax over 10 classes; batch
128 (469 steps, the last one partial), Adam lr 1e-3. Rounds are interleaved and medians
reported, with the test accuracy after each implementation's epoch (all start from the
same weights, so the three should agree closely). On a GPU (jax's default device and
``torch.cuda``) both run there. Results: bench/rnn_results.json (``--out`` to change).

Usage: python bench/rnn_bench.py [--rounds 3] [--dataset mnist --manual-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from timing import flop_bound, jaxnn_epoch, median_rows, write_result

from jaxnn import data, models, train

HIDDEN, BATCH, LR = 128, 128, 1e-3


def torch_epoch(params, X_seq, labels, order, device):
    """``X_seq (T, m, n_x)``: torch's (seq, batch, feature) layout."""
    import torch

    lstm = torch.nn.LSTM(28, HIDDEN).to(device)
    head = torch.nn.Linear(HIDDEN, 10).to(device)
    with torch.no_grad():  # jaxnn's gates are stacked i, f, o, g; torch's i, f, g, o
        i, f, o, g = np.split(np.asarray(params["W_x"]), 4)
        lstm.weight_ih_l0.copy_(torch.from_numpy(np.concatenate([i, f, g, o])))
        i, f, o, g = np.split(np.asarray(params["W_h"]), 4)
        lstm.weight_hh_l0.copy_(torch.from_numpy(np.concatenate([i, f, g, o])))
        i, f, o, g = np.split(np.asarray(params["b"])[:, 0], 4)
        lstm.bias_ih_l0.copy_(torch.from_numpy(np.concatenate([i, f, g, o])))
        lstm.bias_hh_l0.zero_()
        head.weight.copy_(torch.from_numpy(np.asarray(params["W_hy"])))
        head.bias.copy_(torch.from_numpy(np.asarray(params["b_y"])[:, 0]))
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = [torch.from_numpy(order[k : k + BATCH].astype(np.int64)).to(device)
               for k in range(0, len(order), BATCH)]  # fmt: skip
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for index in batches:
        optimizer.zero_grad(set_to_none=True)
        out, _ = lstm(X_seq[:, index])
        loss_fn(head(out[-1]), labels[index]).backward()
        optimizer.step()
    sync()
    return (lstm, head), time.perf_counter() - start


def lstm_flops(T: int, n_x: int, n_h: int, n_y: int) -> int:
    """The matmul FLOPs of one example's training step (XLA's cost analysis counts the scan
    over time once): per time step the gates' forward ``W [h; x]`` (4n_h × (n_h + n_x)),
    their weight gradient (the same size) and the gradient to ``h_prev`` (4n_h × n_h; none to
    the input x); the output layer's forward, dW and dA once."""
    gates = 2 * 4 * n_h * (n_h + n_x)
    return T * (2 * gates + 2 * 4 * n_h * n_h) + 3 * 2 * n_h * n_y


def one_round(ds, params, order, have_torch) -> dict:
    model = models.build("lstm", (28, 28), 10, hidden_size=HIDDEN)
    X = data.in_layout(ds.X_train, model.input_shape, 2)
    X_rows, Y_rows = train.device_rows(X, data.one_hot(ds.labels_train, 10), 2)
    X_test = jnp.asarray(data.in_layout(ds.X_test, model.input_shape, 2))
    Y_test = jnp.asarray(data.one_hot(ds.labels_test, 10))
    accuracy = jax.jit(lambda p, X, Y: models.accuracy(model, p, X, Y))
    out = {}
    for grads in ("hand", "autodiff"):
        trained, seconds, compile_seconds = jaxnn_epoch(model, grads, params, X_rows, Y_rows,
                                                        order, optax.adam(LR), BATCH)  # fmt: skip
        test_accuracy = float(accuracy(trained, X_test, Y_test))
        out[f"jaxnn ({grads})"] = {"epoch_seconds": seconds, "compile_seconds": compile_seconds,
                                   "test_accuracy": test_accuracy}  # fmt: skip
    stated = BATCH * lstm_flops(28, 28, HIDDEN, 10)
    out["jaxnn (hand)"].update(flop_bound(model, optax.adam(LR), params, X_rows, Y_rows, BATCH,
                                          flops_per_step=stated))  # fmt: skip
    if have_torch:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.set_num_threads(os.cpu_count() or 1)
        X_seq = torch.from_numpy(np.ascontiguousarray(np.asarray(X_rows).transpose(1, 0, 2)))
        labels = torch.from_numpy(ds.labels_train.astype(np.int64)).to(device)
        (lstm, head), seconds = torch_epoch(params, X_seq.to(device), labels, order, device)
        with torch.no_grad():
            test = torch.from_numpy(np.ascontiguousarray(np.asarray(X_test).transpose(0, 2, 1)))
            scores = head(lstm(test.to(device))[0][-1]).argmax(1).cpu().numpy()
        out["pytorch eager"] = {"epoch_seconds": seconds, "compile_seconds": 0.0,
                                "test_accuracy": float((scores == ds.labels_test).mean()),
                                "device": device}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--manual-dir", default=None)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "rnn_results.json"))  # fmt: skip
    args = parser.parse_args()
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        print("torch is not installed (pip install -e '.[bench]'): jaxnn only", file=sys.stderr)
        have_torch = False
    ds = data.load(args.dataset, manual_dir=args.manual_dir)
    params = models.build("lstm", (28, 28), 10, hidden_size=HIDDEN).init(jax.random.PRNGKey(0))
    order = train.epoch_order(jax.random.PRNGKey(1), 0, ds.X_train.shape[1])
    rounds = []
    for index in range(args.rounds):
        rounds.append(one_round(ds, params, order, have_torch))
        print(f"round {index + 1}: " + ", ".join(f"{name} {row['epoch_seconds']:.2f}s"
                                                for name, row in rounds[-1].items()))  # fmt: skip
    rows = median_rows(rounds, "epoch_seconds")
    write_result(
        args.out,
        f"one LSTM epoch of row-by-row {args.dataset} (28 steps x 28, hidden {HIDDEN}, batch "
        f"{BATCH}, Adam {LR}), median of {args.rounds} interleaved rounds",
        rows, "epoch_seconds", have_torch,
    )  # fmt: skip


if __name__ == "__main__":
    main()
