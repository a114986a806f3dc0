# ---
# jupyter:
#   jaxnn:
#     tier: 2
#     why: compiling the Transformer's check and training takes tens of seconds
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Attention and the Transformer
#
# A chapter jaxnn adds to the notes: scaled dot-product attention, multi-head self-attention
# and a decoder-only (pre-LN) Transformer language model, every backward derived by hand —
# the softmax Jacobian, layer norm, GELU and the residual forks. The derivations and the
# measured character models are in [attention, the Transformer and the GRU](../docs/attention.md).
# Here: the model checked three ways, a small character model trained in seconds, and what
# its heads attend to.
#
# Per head, with the causal mask $M$ ($0$ where query $t$ may read key $s \le t$, $-\infty$
# elsewhere):
#
# $$S = \frac{QK^\top}{\sqrt{d_k}} + M, \qquad P = \operatorname{softmax}_\text{rows}(S),
#   \qquad O = PV,$$
#
# and backward $dV = P^\top dO$, $dP = dO\,V^\top$, the softmax Jacobian
# $\operatorname{diag}(p) - pp^\top$ row by row,
#
# $$dS = P \odot \bigl(dP - \operatorname{rowsum}(dP \odot P)\bigr), \qquad
#   dQ = dS\,K/\sqrt{d_k}, \qquad dK = dS^\top Q/\sqrt{d_k}.$$
#
# $P$ is the attention map drawn below: row $t$ is how query $t$ spreads its reading over
# the keys.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxnn
from jaxnn import gradcheck, train
from jaxnn.data import sequences
from jaxnn.models import transformer

print("jaxnn from", jaxnn.__file__)

# %% [markdown]
# ## The whole Transformer, checked three ways
#
# A 2-block model at its small check size: every parameter's hand-derived gradient against
# `jax.grad` and float64 finite differences.

# %%
report = gradcheck.check_model("transformer")
print(report.format())
assert report.ok

# %% [markdown]
# ## A character model in seconds
#
# Text that ships with Python (`pydoc_data.topics`, Python's own documentation; its first
# 60 000 characters for training, the next 10 000 held out), cut into sequences of
# $T = 32$ characters; each step predicts the next character. Two blocks of width 32 with 2
# heads and a 64-unit GELU MLP; Adam at 0.003, gradients clipped to norm 5, batch 64, 6
# epochs, the hand-derived backward.

# %%
corpus = sequences.text_corpus()[:70_000]
chars = sequences.vocabulary(corpus)
ids = sequences.encode(corpus, chars)
T, HEADS = 32, 2


def windows(part):  # ids -> X (T, m) and next ids Y (T, m)
    m = (len(part) - 1) // T
    return (
        jnp.asarray(part[: m * T].reshape(m, T).T),
        jnp.asarray(part[1 : m * T + 1].reshape(m, T).T),
    )


(X, Y), (X_test, Y_test) = windows(ids[:60_000]), windows(ids[60_000:])
model = jaxnn.models.build(
    "transformer", (T,), len(chars), n_layers=2, d_model=32, heads=HEADS, d_ff=64
)
params, history = train.fit(
    model.init(jax.random.PRNGKey(0)),
    X,
    Y,
    model.cost_and_grads,
    train.make_optimizer(3e-3, name="adam", clip_norm=5.0),
    6,
    batch_size=64,
    key=jax.random.PRNGKey(1),
)
held_out = float(model.cost(params, X_test, Y_test))
counts = np.bincount(ids[:60_000], minlength=len(chars)) + 1e-9
unigram = float(-np.sum(counts / counts.sum() * np.log(counts / counts.sum())))
print(f"{len(chars)} characters; X {X.shape}; epoch costs {[round(c, 2) for c in history]}")
print(
    f"held out: {held_out / np.log(2):.2f} bits/char; the characters' own entropy "
    f"(no context): {unigram / np.log(2):.2f} bits/char"
)
prime = jnp.asarray(sequences.encode("The ", chars))
text = sequences.decode(
    transformer.sample(params, jax.random.PRNGKey(2), prime, 120, temperature=0.8, heads=HEADS),
    chars,
)
print("sample:", repr("The " + text))

# %% [markdown]
# ## The attention map
#
# Each head of the last block over one held-out line (`logits_and_caches` keeps every head's
# $P$ for pictures): row $t$ is query $t$'s weights over the keys $s \le t$; the causal mask
# leaves the upper triangle empty. Right: the training cost per epoch.

# %%
line = np.asarray(X_test[:, 3])
_, caches = transformer.logits_and_caches(params, jnp.asarray(line)[:, None], HEADS)
P = np.asarray(caches["blocks"][-1]["attention"]["core"]["P"][:, 0])  # (H, T, T)
labels = [repr(chars[i])[1:-1] for i in line]
fig, axes = plt.subplots(
    1, HEADS + 1, figsize=(6 * HEADS + 4, 5.6), gridspec_kw={"width_ratios": [1] * HEADS + [0.7]}
)
for head in range(HEADS):
    ax = axes[head]
    ax.imshow(P[head], cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(T), labels, fontsize=7, family="monospace")
    ax.set_yticks(range(T), labels, fontsize=7, family="monospace")
    ax.set(title=f"last block, head {head}", xlabel="key (read)", ylabel="query")
axes[-1].plot(range(1, len(history) + 1), np.asarray(history) / np.log(2), "o-")
axes[-1].axhline(unigram / np.log(2), color="gray", linestyle="--", label="no context")
axes[-1].set(xlabel="epoch", ylabel="training cost (bits/char)", title="training")
axes[-1].legend()
fig.tight_layout()
plt.show()

# %%
assert np.allclose(np.triu(P, 1), 0) and np.allclose(P.sum(axis=-1), 1, atol=1e-5)
assert held_out < unigram - 0.3  # context helps: below the no-context entropy
