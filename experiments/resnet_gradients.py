"""Why shortcuts help (He et al. 2016): the gradient norm of every weight at initialisation,
plain vs residual nets of two depths, on one minibatch of Fashion-MNIST padded to 32×32.
Through the identity shortcuts the gradient reaches the first layers undiminished; in the
plain nets it has to pass every layer's Jacobian."""

from __future__ import annotations

import dataclasses

import jax
from helpers.resnet_runs import padded_32, weight_gradient_norms

from jaxnn import experiment
from jaxnn.models import resnet


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "fashion_mnist"
    depths: tuple[int, ...] = (20, 56)
    width: float = 1.0
    batch_size: int = 128
    seed: int = 0


def main(config: Config, out_dir: str) -> dict:
    X, Y, _, _ = padded_32(config.dataset, config.batch_size, 1)
    fig, ax = experiment.figure()
    metrics = {}
    for depth in config.depths:
        for kind, style in (("plain", "--"), ("resnet", "-")):
            name = f"{kind}{depth}"
            model = resnet.resnet(X.shape[1:], Y.shape[0], depth, kind == "resnet",
                                  width=config.width)  # fmt: skip
            variables = model.init(jax.random.PRNGKey(config.seed))
            norms = weight_gradient_norms(model, variables, X, Y)
            metrics[name] = {path: norm for path, norm in norms}
            ax.plot(range(1, len(norms) + 1), [n for _, n in norms], style, label=name)
    ax.set(xlabel="weighted layer (input → output)", ylabel="‖dW‖ at initialisation",
           yscale="log", title="gradient norms per layer, Fashion-MNIST 32×32")  # fmt: skip
    ax.legend(fontsize=7)
    experiment.save(fig, out_dir, "gradient_norms.png")
    return metrics


if __name__ == "__main__":
    experiment.run(Config, main, __doc__)
