"""Does the notes' "two-layer network in about 20 lines" train, and is its hand-written
backward pass right? N, D_in, H, D_out = 64, 1000, 100, 10; random data; row convention as
printed (h = relu(x W1), ŷ = h W2); loss Σ(ŷ − y)²; plain gradient descent. The hand
backward is compared with jax.grad at every step."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import compat, data, experiment, gradcheck


@dataclasses.dataclass(frozen=True)
class Config:
    N: int = 64
    D_in: int = 1000
    H: int = 100
    D_out: int = 10
    lr: float = 1e-6
    iterations: int = 500
    seed: int = 0


def loss(params, x, y):
    """L = ‖relu(x W1) W2 − y‖² (sum of squares, as printed). Rows are examples."""
    h = jnp.maximum(x @ params["W1"], 0)
    return jnp.sum((h @ params["W2"] - y) ** 2)


def hand_backward(params, x, y):
    """The printed backward pass (row convention)."""
    z1 = x @ params["W1"]
    h = jnp.maximum(z1, 0)
    y_pred = h @ params["W2"]
    grad_y_pred = 2.0 * (y_pred - y)
    grad_W2 = h.T @ grad_y_pred
    grad_h = grad_y_pred @ params["W2"].T
    grad_z1 = grad_h * (z1 > 0)
    grad_W1 = x.T @ grad_z1
    return {"W1": grad_W1, "W2": grad_W2}


def main(config: Config, out_dir: str) -> dict:
    x, y = data.synthetic.random_regression(config.N, config.D_in, config.D_out, config.seed)
    rng = np.random.default_rng(config.seed + 1)
    with compat.enable_x64(True):  # float64, as numpy's randn in the notes
        params = {"W1": jnp.asarray(rng.standard_normal((config.D_in, config.H))),
                  "W2": jnp.asarray(rng.standard_normal((config.H, config.D_out)))}  # fmt: skip
        x, y = jnp.asarray(x), jnp.asarray(y)

        @jax.jit
        def step(params, _):
            hand = hand_backward(params, x, y)
            auto = jax.grad(loss)(params, x, y)
            error = jnp.max(jnp.stack([
                jnp.linalg.norm(hand[k] - auto[k]) / (jnp.linalg.norm(hand[k]) +
                                                      jnp.linalg.norm(auto[k]))
                for k in hand]))  # fmt: skip
            new = {k: params[k] - config.lr * hand[k] for k in params}
            return new, (loss(params, x, y), error)

        params, (losses, errors) = jax.lax.scan(step, params, None, length=config.iterations)
        losses, errors = np.asarray(losses), np.asarray(errors)
        final = float(loss(params, x, y))
        check = gradcheck.relative_error(hand_backward(params, x, y),
                                         jax.grad(loss)(params, x, y))  # fmt: skip
    fig, ax = experiment.figure()
    ax.plot(losses)
    ax.set(yscale="log", xlabel="iteration", ylabel="loss Σ(ŷ − y)²",
           title="the notes' 20-line two-layer net")  # fmt: skip
    experiment.save(fig, out_dir, "loss.png")
    return {"initial_loss": float(losses[0]), "final_loss": final,
            "loss_reduction": float(losses[0] / final),
            "max_hand_vs_autodiff_relative_error": float(errors.max()),
            "final_hand_vs_autodiff_relative_error": check}  # fmt: skip


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
