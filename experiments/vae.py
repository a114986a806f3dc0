"""How good a density model of binarised MNIST is a one-hidden-layer VAE (Kingma & Welling
2013)? Trains it through `jaxnn train`'s path with the hand-derived negative-ELBO gradient,
for each latent size, then reports the test negative ELBO (nats per image, one sample of ε;
the run's own evaluation) and the importance-weighted estimate of −log p(x) with k samples
on a test subset. Draws samples from the prior, and for a 2-D latent the decoded manifold.

Binarisation: ``--binarize sample`` (default) redraws x ~ Bernoulli(pixel) at every training
step; the test set is one fixed draw (the evaluation key). ``threshold`` fixes pixel > ½.

    python experiments/vae.py --manual-dir /tmp/mnist-real --epochs 10 --out runs/vae
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
from helpers import generative_runs

from jaxnn import experiment, run
from jaxnn.models import vae
from jaxnn.run import TrainConfig, train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    latents: tuple[int, ...] = (20, 2)
    units: tuple[int, ...] = (400,)
    hidden: str = "relu"
    binarize: str = "sample"
    epochs: int = 10
    batch_size: int = 100
    lr: float = 0.001
    optimizer: str = "adam"
    importance_samples: int = 100  # k of the importance-weighted −log p(x)
    importance_examples: int = 2000  # the test subset it is estimated on (0: all)
    seed: int = 0
    grads: str = "hand"
    manual_dir: str | None = None
    data_dir: str | None = None


def manifold(model, params, side: int = 15) -> np.ndarray:
    """The decoder's means on a side×side grid of z at the N(0, 1) quantiles (2-D latent)."""
    quantiles = jax.scipy.special.ndtri(jnp.linspace(0.05, 0.95, side))
    z1, z2 = jnp.meshgrid(quantiles, quantiles[::-1])
    Z = jnp.stack([z1.ravel(), z2.ravel()]).astype(jax.tree.leaves(params)[0].dtype)
    return np.asarray(vae.decode(model, params, Z))


def main(config: Config, out_dir: str) -> dict:
    results = {}
    for latent in config.latents:
        train_config = TrainConfig(
            dataset=config.dataset, model="vae", batch_size=config.batch_size, lr=config.lr,
            optimizer=config.optimizer, epochs=config.epochs, seed=config.seed,
            grads=config.grads, hidden=config.hidden, data_dir=config.data_dir,
            manual_dir=config.manual_dir, checkpoint_secs=0,
            options={"latent": latent, "units": list(config.units), "binarize": config.binarize},
        )  # fmt: skip
        run_dir = os.path.join(out_dir, f"latent{latent}")
        metrics = train_and_evaluate(train_config, run_dir, progress=True)
        model, params, dataset = generative_runs.load_run(train_config, run_dir)
        count = config.importance_examples or dataset.X_test.shape[1]
        eval_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), run.EVAL_KEY_SALT)

        def bound_of(p, X, key, model=model):
            return vae.log_likelihood(model, p, X, key, config.importance_samples)

        bound = jax.jit(bound_of)(params, jnp.asarray(dataset.X_test[:, :count]), eval_key)
        results[f"latent{latent}"] = {
            "describe": metrics["describe"],
            "test_negative_elbo": metrics["test_cost"],
            "test_kl": metrics["test_kl"],
            "test_reconstruction": metrics["test_reconstruction"],
            "train_negative_elbo": metrics["final_cost"],
            f"test{count}_negative_elbo_k{config.importance_samples}_mean": float(bound["elbo"]),
            f"test{count}_nll_iw_k{config.importance_samples}": float(bound["nll"]),
            "train_seconds": metrics["train_seconds"],
        }  # fmt: skip
        samples = np.asarray(vae.sample(model, params, jax.random.PRNGKey(1), 64))
        generative_runs.save_grid(samples, 8, os.path.join(out_dir, f"samples_latent{latent}.png"),
                                  f"VAE samples, latent {latent}")  # fmt: skip
        if latent == 2:
            generative_runs.save_grid(manifold(model, params), 15,
                                      os.path.join(out_dir, "manifold_latent2.png"),
                                      "decoded manifold, z at N(0,1) quantiles")  # fmt: skip
    return results


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
