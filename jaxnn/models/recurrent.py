"""Recurrent networks as ``jaxnn.models.Model``: a tanh RNN (``rnn``), an LSTM (``lstm``) and
a GRU (``gru``).

A recurrent layer (``jaxnn.layers.rnn`` / ``lstm`` / ``gru``, BPTT derived there) reads a
sequence and a dense read-out turns hidden states into outputs. Three tasks, chosen by the
data:

* **many-to-one classification** (vectors ``X (T, n_x, m)``, e.g. an image read row by row:
  T = 28 rows of 28 pixels): ``ŷ = softmax(W_hy h_T + b_y)``, the MLP's cost
  (``jaxnn.models.mlp.cost_from_logits``) on the last hidden state; ``dZ = (ŷ − Y)/m`` and
  ``∂J/∂h_T = W_hyᵀ dZ``, every other ``∂J/∂h_t`` through the outputs zero.
* **many-to-one regression** (``output="linear"``, the adding problem): ``ŷ = W_hy h_T + b_y``
  with ``J = (1/m) Σ ½‖ŷ − y‖²``; ``dZ = (ŷ − Y)/m``. Reported: ``mse = (1/m) Σ ‖ŷ − y‖²``.
* **many-to-many language model** (token ids ``X (T, m)``, targets the next ids
  ``Y (T, m)``, < 0 padding): an embedding ``E (n_e, V)`` feeds the layer, every step is read
  out, ``J`` the mean cross-entropy per unmasked token (``jaxnn.layers.temporal``); reported
  also in bits per character (``J / ln 2``).

The hand-derived gradient composes the modules' backwards in reverse: loss → read-out →
BPTT → (embedding scatter-add). ``autodiff_cost_and_grads`` is ``jax.grad`` of the same cost.
Gradient clipping (``--clip-norm``) belongs to the optimizer: gradient checks see the
unclipped gradients.

Params: ``W_xh (n_h, n_x)``, ``W_hh (n_h, n_h)``, ``b_h (n_h, 1)`` (rnn) or ``W_x (4n_h, n_x)``,
``W_h (4n_h, n_h)``, ``b (4n_h, 1)`` (lstm, gates i, f, o, g; the forget gate's bias starts at
1 so that early training remembers) or ``W_x (3n_h, n_x)``, ``W_h (3n_h, n_h)``, ``b (3n_h, 1)``
(gru, blocks z, r, n), ``W_hy (n_y, n_h)``, ``b_y (n_y, 1)``, and ``E (n_e, V)``
for tokens. Input weights Glorot-uniform, recurrent weights orthogonal (``W_hh``'s
eigenvalues on the unit circle: neither vanishing nor exploding at the start).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnn import losses, validate
from jaxnn.errors import ConfigError, ShapeError
from jaxnn.initializers import glorot_uniform
from jaxnn.layers import gru as gru_layer
from jaxnn.layers import lstm as lstm_layer
from jaxnn.layers import rnn as rnn_layer
from jaxnn.layers import temporal
from jaxnn.models import Model
from jaxnn.models.mlp import cost_from_logits

Array = jax.Array

CELLS = ("rnn", "lstm", "gru")
GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}  # blocks of n_h rows in W_x, W_h, b
OUTPUTS = ("softmax", "sigmoid", "linear")


def _check_size(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer ≥ {low}; got {value!r}")
    return value


EMBED = 32  # a language model's token embedding, when --option embed is not given


def recurrent(cell: str, input_shape, num_outputs: int, hidden_size: int = 128,
              output: str = "softmax", embed: int | None = None,
         remat: bool = False) -> Model:  # fmt: skip
    """The ``Model`` of ``_recurrent`` (same arguments)."""
    return _recurrent(cell, input_shape, num_outputs, hidden_size, output, embed, remat)[0]


def _recurrent(cell: str, input_shape, num_outputs: int, hidden_size: int = 128,
               output: str = "softmax", embed: int | None = None, remat: bool = False):  # fmt: skip
    """``(model, backward, data_cost)``: a ``cell`` ("rnn", "lstm" or "gru") network for
    sequences of ``input_shape``: ``(T, n_x)`` vectors (many-to-one, ``num_outputs``
    classes or, with ``output="linear"``, values) or ``(T,)`` token ids (a language model
    over a vocabulary of ``num_outputs``, embedded in ``embed`` dimensions, default
    ``EMBED``; vector sequences take no ``embed``). ``remat``
    (LSTM, GRU): recompute the gates in the backward pass instead of storing them (see
    ``jaxnn.layers.lstm``). ``backward(params, X, dZ, saved) -> (grads, dh)`` and
    ``data_cost(params, X, Y) -> (J, dZ, saved)`` are the pieces ``cost_and_grads``
    composes (``hidden_gradient_norms`` reads dh)."""
    if cell not in CELLS:
        raise ConfigError(f"unknown cell {cell!r}; choose one of: {', '.join(CELLS)}")
    if output not in OUTPUTS:
        raise ConfigError(f"--output {output!r}: choose softmax, sigmoid or linear (regression)")
    n_h = _check_size("hidden_size", hidden_size)
    input_shape = tuple(int(n) for n in input_shape)
    if len(input_shape) not in (1, 2) or min(input_shape, default=0) < 1:
        raise ShapeError(
            f"a recurrent model reads sequences of (T, n_x) vectors or (T,) token ids; got "
            f"examples of shape {input_shape}"
        )
    tokens = len(input_shape) == 1
    T = input_shape[0]
    if not tokens and embed is not None:
        raise ConfigError(f"--option embed sizes a language model's token embedding; these "
                          f"sequences are vectors of {input_shape[1]}: drop it")  # fmt: skip
    n_e = _check_size("embed", EMBED if embed is None else embed) if tokens else None
    n_x = n_e if tokens else input_shape[1]
    if tokens and output != "softmax":
        raise ConfigError("a language model over token ids predicts the next token: --output "
                          "softmax")  # fmt: skip
    n_y = 1 if output == "sigmoid" else _check_size("the number of outputs", num_outputs)
    if not isinstance(remat, bool):
        raise ConfigError(f"remat must be true or false; got {remat!r}")
    gate_rows = GATE_BLOCKS[cell] * n_h
    names = ("W_xh", "W_hh", "b_h") if cell == "rnn" else ("W_x", "W_h", "b")

    def init(key, dtype=jnp.float32):
        validate.dtype_available(dtype)
        k_x, k_h, k_y, k_e = jax.random.split(key, 4)
        orthogonal = jax.nn.initializers.orthogonal()
        W_h = jnp.concatenate([orthogonal(k, (n_h, n_h), dtype)
                               for k in jax.random.split(k_h, gate_rows // n_h)])  # fmt: skip
        b = jnp.zeros((gate_rows, 1), dtype)
        if cell == "lstm":
            b = b.at[n_h : 2 * n_h].set(1.0)  # forget gate open at the start
        params = {
            names[0]: glorot_uniform(k_x, (gate_rows, n_x), dtype, fans=(n_h, n_x)),
            names[1]: W_h, names[2]: b,
            "W_hy": glorot_uniform(k_y, (n_y, n_h), dtype),
            "b_y": jnp.zeros((n_y, 1), dtype),
        }  # fmt: skip
        if tokens:
            params["E"] = jax.random.normal(k_e, (n_e, num_outputs), dtype) * 0.1
        return params

    def check(X, Y=None):
        if tokens:
            if X.ndim != 2 or X.shape[0] != T or not jnp.issubdtype(X.dtype, jnp.integer):
                raise ShapeError(f"the language model takes token ids X (T, m) = ({T}, m), "
                                 f"integers; got {tuple(X.shape)} {X.dtype}")  # fmt: skip
        elif X.ndim != 3 or tuple(X.shape[:2]) != (T, n_x):
            raise ShapeError(f"{cell} takes sequences X (T, n_x, m) = ({T}, {n_x}, m), step t "
                             f"the columns X[t]; got {tuple(X.shape)}")  # fmt: skip
        if Y is not None:
            m = X.shape[-1]
            want = (T, m) if tokens else (n_y, m)
            if tuple(Y.shape) != want:
                what = "next token ids" if tokens else "one column per example"
                raise ShapeError(f"Y must be {want} ({what}); got {tuple(Y.shape)}")
            if not tokens:
                validate.targets(Y, output)

    def hidden_states(params, X):
        """``(H, cache, X_in)``: the layer's states for X (embedded first for tokens)."""
        X_in = temporal.embedding_forward(X, params["E"]) if tokens else X
        dtype = params[names[0]].dtype
        X_in = X_in.astype(dtype)
        h0 = jnp.zeros((n_h, X.shape[-1]), dtype)
        if cell == "rnn":
            H = rnn_layer.rnn_forward(X_in, h0, params["W_xh"], params["W_hh"], params["b_h"])
            return H, None, X_in
        if cell == "gru":
            H, cache = gru_layer.gru_forward(X_in, h0, params["W_x"], params["W_h"],
                                             params["b"], remat)  # fmt: skip
            return H, cache, X_in
        H, cache = lstm_layer.lstm_forward(X_in, h0, h0, params["W_x"], params["W_h"],
                                           params["b"], remat)  # fmt: skip
        return H, cache, X_in

    def logits(params, X):
        H, cache, X_in = hidden_states(params, X)
        if tokens:
            return temporal.readout_forward(H, params["W_hy"], params["b_y"]), (H, cache, X_in)
        return params["W_hy"] @ H[-1] + params["b_y"], (H, cache, X_in)

    def forward(params, X):
        """Softmax probabilities ``(n_y, m)`` (``(T, V, m)`` for tokens), sigmoid, or ŷ."""
        check(X)
        Z, _ = logits(params, X)
        if output == "linear":
            return Z
        return jax.nn.softmax(Z, axis=-2) if output == "softmax" else jax.nn.sigmoid(Z)

    def data_cost(params, X, Y):
        """``(J, dZ, saved)``: the cost without L2 and its gradient at the logits."""
        check(X, Y)
        Z, saved = logits(params, X)
        if tokens:
            J, dZ, _ = temporal.softmax_cross_entropy(Z, Y)
            return J, dZ, saved
        A = Z if output == "linear" else (jax.nn.softmax(Z, axis=0) if output == "softmax"
                                          else jax.nn.sigmoid(Z))  # fmt: skip
        return cost_from_logits(Z, Y, output), (A - Y) / Y.shape[1], saved

    def cost(params, X, Y, l2=0.0):
        return data_cost(params, X, Y)[0] + losses.l2_penalty(params, l2)

    def backward(params, X, dZ, saved, need_dh=False):
        """Read-out, BPTT and embedding backwards: ``(grads, dh or None)``."""
        H, cache, X_in = saved
        dH = dh_last = None
        if tokens:
            dH, dW_hy, db_y = temporal.readout_backward(dZ, H, params["W_hy"])
        else:  # only h_T is read out: BPTT starts from ∂J/∂h_T = W_hyᵀ dZ
            dW_hy, db_y = dZ @ H[-1].T, jnp.sum(dZ, axis=1, keepdims=True)
            dh_last = params["W_hy"].T @ dZ
        h0 = jnp.zeros_like(H[0])
        if cell == "rnn":
            back = rnn_layer.rnn_backward(dH, X_in, H, h0, params["W_xh"], params["W_hh"],
                                          tokens, dh_last, need_dh)  # fmt: skip
        elif cell == "gru":
            back = gru_layer.gru_backward(dH, X_in, H, cache, h0, params["W_x"], params["W_h"],
                                          params["b"], tokens, dh_last, need_dh)  # fmt: skip
        else:
            back = lstm_layer.lstm_backward(dH, X_in, H, cache, h0, h0, params["W_x"],
                                            params["W_h"], params["b"], tokens, dh_last,
                                            need_dh)  # fmt: skip
        grads = {name: back["d" + name] for name in names}
        grads.update(W_hy=dW_hy, b_y=db_y)
        if tokens:
            grads["E"] = temporal.embedding_backward(back["dX"], X, num_outputs)
        return grads, back.get("dh")

    def cost_and_grads(params, X, Y, l2=0.0):
        J, dZ, saved = data_cost(params, X, Y)
        grads, _ = backward(params, X, dZ, saved)
        if not losses.l2_is_zero(l2):
            J = J + losses.l2_penalty(params, l2)
            grads = jax.tree.map(jnp.add, grads, losses.l2_penalty_grad(params, l2))
        return J, grads

    def autodiff_cost_and_grads(params, X, Y, l2=0.0):
        return jax.value_and_grad(cost)(params, X, Y, l2)

    def metrics(params, X, Y, l2=0.0):
        J, _, (H, _, _) = data_cost(params, X, Y)
        result = {"cost": J + losses.l2_penalty(params, l2)}
        if tokens:
            result["bits_per_char"] = J / math.log(2)
            Z = temporal.readout_forward(H, params["W_hy"], params["b_y"])
            mask = Y >= 0
            hits = (jnp.argmax(Z, axis=1) == Y) & mask
            result["accuracy"] = jnp.sum(hits) / jnp.maximum(jnp.sum(mask), 1)
        elif output == "linear":
            Z = params["W_hy"] @ H[-1] + params["b_y"]
            result["mse"] = jnp.sum((Z - Y) ** 2) / Y.shape[1]
        else:
            Z = params["W_hy"] @ H[-1] + params["b_y"]
            predicted = jnp.argmax(Z, axis=0) if output == "softmax" else (Z >= 0).astype(int)
            truth = jnp.argmax(Y, axis=0) if output == "softmax" else Y
            result["accuracy"] = jnp.mean(predicted == truth)
        return result

    def example(key, m, dtype=jnp.float32):
        key_x, key_y, key_mask = jax.random.split(key, 3)
        if tokens:
            X = jax.random.randint(key_x, (T, m), 0, num_outputs)
            Y = jax.random.randint(key_y, (T, m), 0, num_outputs)
            return X, jnp.where(jax.random.bernoulli(key_mask, 0.8, (T, m)), Y, -1)
        X = jax.random.normal(key_x, (T, n_x, m), dtype)
        if output == "linear":
            return X, jax.random.normal(key_y, (n_y, m), dtype)
        if output == "sigmoid":
            return X, jax.random.bernoulli(key_y, 0.5, (1, m)).astype(dtype)
        labels = jax.random.randint(key_y, (m,), 0, n_y)
        return X, jax.nn.one_hot(labels, n_y, dtype=dtype).T

    shape = f"{T} tokens (vocab {num_outputs}, embed {n_e})" if tokens else f"{T}×{n_x}"
    describe = f"{cell} {shape} -> {n_h} -> {'per step ' if tokens else ''}{n_y}"
    model = Model(
        cell, describe, input_shape, 1 if tokens else 2, n_y, output, init, forward, cost,
        cost_and_grads, autodiff_cost_and_grads,
        input_dtype="int32" if tokens else "float32",
        targets="given" if tokens or output == "linear" else "labels",
        metrics=metrics, example=example,
        options={"hidden_size": n_h, "embed": n_e, "remat": remat},
    )  # fmt: skip
    return model, backward, data_cost


def rnn(input_shape=(28, 28), num_classes: int = 10, hidden_size: int = 128,
        output: str = "softmax", embed: int | None = None) -> Model:  # fmt: skip
    """The tanh RNN (``jaxnn.layers.rnn``); see ``recurrent``."""
    return recurrent("rnn", input_shape, num_classes, hidden_size, output, embed)


def lstm(input_shape=(28, 28), num_classes: int = 10, hidden_size: int = 128,
         output: str = "softmax", embed: int | None = None,
         remat: bool = False) -> Model:  # fmt: skip
    """The LSTM (``jaxnn.layers.lstm``); see ``recurrent``."""
    return recurrent("lstm", input_shape, num_classes, hidden_size, output, embed, remat)


def gru(input_shape=(28, 28), num_classes: int = 10, hidden_size: int = 128,
        output: str = "softmax", embed: int | None = None,
        remat: bool = False) -> Model:  # fmt: skip
    """The GRU (``jaxnn.layers.gru``, Cho et al. 2014); see ``recurrent``."""
    return recurrent("gru", input_shape, num_classes, hidden_size, output, embed, remat)


def hidden_gradient_norms(cell: str, params: dict, X: Array, Y: Array, **options) -> Array:
    """``‖∂J/∂h_t‖`` for t = 1..T (Frobenius norm over the batch's columns), from the
    hand-derived BPTT: how much of the cost's gradient reaches each step — the vanishing
    gradient, measured. Options as ``recurrent`` (input shape and outputs from X and Y)."""
    input_shape = X.shape[:1] if X.ndim == 2 else X.shape[:2]
    num_outputs = params["W_hy"].shape[0]
    if X.ndim == 2:
        num_outputs = params["E"].shape[1]
    _, backward, data_cost = _recurrent(cell, input_shape, num_outputs, params["W_hy"].shape[1],
                                       **options)  # fmt: skip
    _, dZ, saved = data_cost(params, X, Y)
    _, dh = backward(params, X, dZ, saved, need_dh=True)
    return jnp.sqrt(jnp.sum(dh * dh, axis=(1, 2)))


def sample(params: dict, key: Array, prime: Array, length: int, temperature: float = 1.0,
           cell: str = "lstm") -> Array:  # fmt: skip
    """``length`` token ids drawn one at a time from a trained language model, after feeding
    ``prime`` (ids, at least one): each step's softmax(s_t / temperature) is sampled and fed
    back. Returns the ``(length,)`` ids drawn (one sequence; ``lax.scan``)."""
    if not (temperature > 0):
        raise ConfigError(f"temperature must be > 0; got {temperature}")
    E, W_hy, b_y = params["E"], params["W_hy"], params["b_y"]
    n_h = W_hy.shape[1]
    W_x, W_h, b = ((params["W_x"], params["W_h"], params["b"]) if cell != "rnn"
                   else (params["W_xh"], params["W_hh"], params["b_h"]))  # fmt: skip

    def advance(state, token):
        h, c = state
        if cell == "gru":
            z, r, n = gru_layer.gates(W_x @ E[:, token][:, None] + b, h, W_h)
            h = z * h + (1.0 - z) * n
            return (h, c), (W_hy @ h + b_y)[:, 0]
        z = W_x @ E[:, token][:, None] + W_h @ h + b
        if cell == "lstm":
            i, f, o, g = lstm_layer.gates(z)
            c = f * c + i * g
            h = o * jnp.tanh(c)
        else:
            h = jnp.tanh(z)
        return (h, c), (W_hy @ h + b_y)[:, 0]

    zeros = jnp.zeros((n_h, 1), W_hy.dtype)
    state, scores = jax.lax.scan(advance, (zeros, zeros), jnp.asarray(prime))

    def draw(carry, step_key):
        state, s = carry
        token = jax.random.categorical(step_key, s / temperature)
        state, s = advance(state, token)
        return (state, s), token

    _, tokens = jax.lax.scan(draw, (state, scores[-1]), jax.random.split(key, length))
    return tokens
