# ---
# jupyter:
#   jaxnn:
#     tier: 2
#     why: three float64 BPTT checks and three cells trained, about 15 s of CPU
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Recurrent networks: the tanh RNN, the LSTM and the GRU
#
# The notes' outline names recurrent networks for sequences and prints no formulas; jaxnn
# derives backpropagation through time (BPTT) for each cell — the derivations, the LSTM's
# backward and the measured results are in [recurrent networks](../docs/recurrent.md) and, for the
# GRU, [attention, the Transformer and the GRU](../docs/attention.md#the-gru). Here: the three
# cells checked three ways, trained on the adding problem, and the picture behind "vanishing
# gradients": how much of the cost's gradient reaches each time step.
#
# The tanh RNN, $h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b_h)$, many-to-one (the output reads
# $h_T$). BPTT carries $dh_{next}$ backwards:
#
# $$dh_t = dH_t + dh_{next}, \qquad da_t = (1 - h_t^2) \odot dh_t, \qquad
#   dh_{next} \leftarrow W_{hh}^\top da_t,$$
#
# so $\partial J / \partial h_t$ is a product of $T - t$ factors
# $W_{hh}^\top \operatorname{diag}(1 - h^2)$:
# it shrinks (or grows) geometrically with the distance from the output. The LSTM's cell
# carries its gradient along $dc_{next} \leftarrow dc \odot f$ instead, a product of forget
# gates it can learn to hold near 1.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import gradcheck, train
from jaxnn.data import sequences
from jaxnn.models import recurrent

print("jaxnn from", jaxnn.__file__)
CELLS = ("rnn", "lstm", "gru")

# %% [markdown]
# ## BPTT, checked three ways
#
# Each cell's hand-derived BPTT against `jax.grad` and finite differences, float64, at its
# small default size (7 steps of 3 inputs, 5 hidden units, 4 classes):

# %%
for cell in CELLS:
    report = gradcheck.check_model(cell)
    print(f"{cell}\n{report.format()}\n")
    assert report.ok

# %% [markdown]
# ## The adding problem
#
# Each sequence holds $T$ (value, marker) pairs, values uniform in $[0, 1]$, two markers set
# — one in each half; the target is the sum of the two marked values. Always answering the
# mean, 1, scores a mean squared error of $1/6$: a network below that line has learned to
# carry a value across up to $T$ steps. $T = 40$, 2 000 training sequences, 16 hidden units,
# Adam (learning rate 0.01, gradients clipped to norm 1), batch 100, 15 epochs, the
# hand-derived BPTT; the model's cost is $\frac12$ the squared error.

# %%
T, HIDDEN, EPOCHS = 40, 16, 15
X_rows, targets = sequences.adding_problem(T, 2000, seed=0)
X_test_rows, test_targets = sequences.adding_problem(T, 1000, seed=1)
X = jnp.asarray(X_rows.transpose(1, 2, 0))  # (T, n_x, m): step t is the columns X[t]
X_test = jnp.asarray(X_test_rows.transpose(1, 2, 0))
Y, Y_test = jnp.asarray(targets[None, :]), jnp.asarray(test_targets[None, :])
print("X", X.shape, "Y", Y.shape)

runs = {}
for cell in CELLS:
    model = jaxnn.models.build(cell, (T, 2), 1, hidden_size=HIDDEN, output="linear")
    initial = model.init(jax.random.PRNGKey(0))
    params, history = train.fit(
        initial,
        X,
        Y,
        model.cost_and_grads,
        train.make_optimizer(0.01, name="adam", clip_norm=1.0),
        EPOCHS,
        batch_size=100,
        key=jax.random.PRNGKey(1),
        example_axis=2,
    )
    mse = float(jnp.mean((model.forward(params, X_test) - Y_test) ** 2))
    runs[cell] = {"initial": initial, "trained": params, "history": history, "mse": mse}
    print(f"{cell:4s}: test MSE {mse:.4f} (answering 1: {1 / 6:.4f})")

# %% [markdown]
# ## How much gradient reaches each step
#
# `recurrent.hidden_gradient_norms` reads $dh_t$ out of the hand-derived BPTT:
# $\lVert \partial J / \partial h_t \rVert$ for $t = 1 \dots T$ (over the 1 000 test
# sequences), at the initial and the trained parameters. Left: the training cost; right:
# the norms, on a log scale, against the step.

# %%
fig, (ax_cost, ax_norm) = plt.subplots(1, 2, figsize=(12, 3.8))
norms = {}
for color, cell in zip(("C0", "C1", "C2"), CELLS, strict=True):
    ax_cost.plot(2 * np.asarray(runs[cell]["history"]), color=color, label=cell)
    for stage, style in (("initial", ":"), ("trained", "-")):
        values = np.asarray(
            recurrent.hidden_gradient_norms(
                cell, runs[cell][stage], X_test, Y_test, output="linear"
            )
        )
        norms[cell, stage] = values
        ax_norm.plot(np.arange(1, T + 1), values, style, color=color, label=f"{cell}, {stage}")
ax_cost.axhline(1 / 6, color="gray", linestyle="--", label="answer 1 (1/6)")
ax_cost.set(xlabel="epoch", ylabel="training MSE", yscale="log", title=f"adding problem, T = {T}")
ax_norm.set(xlabel="step t", ylabel="‖∂J/∂h_t‖", yscale="log", title="gradient reaching step t")
ax_cost.legend(fontsize=8)
ax_norm.legend(fontsize=7, ncol=3)
fig.tight_layout()
plt.show()
for (cell, stage), values in norms.items():
    print(f"{cell:4s} {stage:8s} ‖∂J/∂h_1‖ / ‖∂J/∂h_T‖ = {values[0] / values[-1]:.1e}")

# %% [markdown]
# At the initial parameters the gradient at the first step is orders of magnitude below the
# last step's for every cell: the tanh RNN's product of $W_{hh}^\top \operatorname{diag}(1 -
# h^2)$ factors, and for the gated cells products of gates near $1/2$ (the GRU's direct path
# $dh_{t-1} \leftarrow z \odot dh_t$ starts with $z \approx 1/2$: the smallest of the three).
# Training is what separates them: the gated cells learn to keep their path open, and the
# early steps — where the first marked value sits — receive gradient again (a ratio of
# order 0.1–1); the tanh RNN, whose error stays near the 1/6 line, ends with less gradient
# reaching its first step than either gated cell. (Its exact ratio varies from one run to
# another — XLA's compile options alone moved it between 2e-5 and 7e-2 here: training a
# tanh RNN over 40 steps is that sensitive.) (The measured runs at $T = 200$,
# where the tanh RNN never leaves the 1/6 line, are in
# [recurrent networks](../docs/recurrent.md#results).)

# %%
assert all(norms[cell, "initial"][0] < norms[cell, "initial"][-1] for cell in CELLS)
assert max(runs["lstm"]["mse"], runs["gru"]["mse"]) < 0.05 < 0.1 < runs["rnn"]["mse"]
ratio = {cell: norms[cell, "trained"][0] / norms[cell, "trained"][-1] for cell in CELLS}
assert ratio["rnn"] < min(ratio["lstm"], ratio["gru"]) and min(ratio["lstm"], ratio["gru"]) > 0.1
