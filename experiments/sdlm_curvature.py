"""How good is the paper's second-derivative approximation? The diagonal second derivatives
LeNet-5 (1998) backpropagates by hand (LeCun et al. 1998, Appendix C; ``Model.curvature``)
against the exact Gauss–Newton diagonal from JAX (split at F6's output, Eq. 9), per layer,
on a few MNIST digits, at the paper's initialisation; and, on a small net of the same layers
(8×8 input, 1,500 parameters), against the exact Hessian diagonal too.

    python experiments/sdlm_curvature.py --manual-dir DIR --out runs/sdlm_curvature

Prints per layer the ratio (exact ÷ paper) of the mean second derivative and the share of
parameters whose step ``η / (μ + h)`` is set by μ rather than by h (h < μ = 0.02).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import data, experiment, layers, models
from jaxnn.layers import lenet1998
from jaxnn.models.convnet import from_layers
from jaxnn.optim import sdlm


@dataclasses.dataclass(frozen=True)
class Config:
    manual_dir: str = ""
    examples: int = 8
    seed: int = 0


def per_layer(paper, exact) -> dict:
    out = {}
    for layer in paper:
        for name in paper[layer]:
            a = np.asarray(paper[layer][name]).ravel()
            b = np.asarray(exact[layer][name]).ravel()
            out[f"{layer}.{name}"] = {
                "paper_mean": float(a.mean()), "exact_mean": float(b.mean()),
                "ratio_of_means": float(b.mean() / a.mean()),
                "relative_difference": float(np.linalg.norm(b - a) / (np.linalg.norm(a)
                                                                      + np.linalg.norm(b))),
                "share_below_mu": float(np.mean(a < sdlm.MU)),
            }  # fmt: skip
    return out


def small_net():
    table = ((0, 1), (1, 2), (2, 0), (0, 1, 2))
    return (("normalise", lenet1998.normalise_input()),
            ("C1", layers.conv2d(3, 3, 1, "valid", "lecun98", backward="fast")),
            ("C1_squash", layers.activation("squash")), ("S2", lenet1998.subsample(2)),
            ("S2_squash", layers.activation("squash")),
            ("C3", lenet1998.partial_conv(2, table)), ("C3_squash", layers.activation("squash")),
            ("flatten", layers.flatten()), ("F6", layers.dense(84, "lecun98")),
            ("F6_squash", layers.activation("squash")), ("output", lenet1998.rbf(3)))  # fmt: skip


def main(config: Config, out_dir: str) -> dict:
    jax.config.update("jax_enable_x64", True)
    dataset = data.load("mnist" if config.manual_dir else "digits",
                        manual_dir=config.manual_dir or None)  # fmt: skip
    m = config.examples
    X = data.in_layout(dataset.X_train[:, :m], dataset.image_shape, 0).astype(np.float64)
    lo = (32 - X.shape[1]) // 2
    hi = 32 - X.shape[1] - lo
    X = jnp.pad(jnp.asarray(X), ((0, 0), (lo, hi), (lo, hi), (0, 0)))
    Y = jnp.asarray(data.one_hot(dataset.labels_train[:m], 10), jnp.float64)
    model = models.build("lenet5_1998", (32, 32, 1), 10)
    params = model.init(jax.random.PRNGKey(config.seed), jnp.float64)
    paper = model.curvature(params, X, Y)
    _, gauss_newton = sdlm.exact_diagonals(model, params, X, Y, hessian=False)
    lenet = per_layer(paper, gauss_newton)

    small = from_layers("small", small_net(), (8, 8, 1), "rbf")
    key_x, key_y, key_p = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    Xs = jax.random.uniform(key_x, (4, 8, 8, 1), jnp.float64)
    Ys = jax.nn.one_hot(jax.random.randint(key_y, (4,), 0, 3), 3, dtype=jnp.float64).T
    params_small = small.init(key_p, jnp.float64)
    paper_small = small.curvature(params_small, Xs, Ys)
    hessian, gn_small = sdlm.exact_diagonals(small, params_small, Xs, Ys)
    results = {"lenet5_1998_vs_gauss_newton": lenet,
               "small_vs_gauss_newton": per_layer(paper_small, gn_small),
               "small_gauss_newton_vs_hessian": per_layer(gn_small, hessian)}  # fmt: skip
    for title, table in results.items():
        print(f"\n{title}\n| parameters | paper mean | exact mean | exact ÷ paper | "
              "rel. difference | h < μ |\n|---|---|---|---|---|---|")  # fmt: skip
        for name, row in table.items():
            print(f"| {name} | {row['paper_mean']:.3g} | {row['exact_mean']:.3g} | "
                  f"{row['ratio_of_means']:.2f} | {row['relative_difference']:.3f} | "
                  f"{100 * row['share_below_mu']:.0f} % |")  # fmt: skip
    experiment.write_json(f"{out_dir}/curvature.json", results)
    return {"examples": m, "dataset": dataset.name}


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
