"""``jaxnn demo`` (what ``make demo`` runs): an MLP trained on the bundled digits in seconds, then
the gradient-check summary of every family."""

from __future__ import annotations

import os
import shutil

from jaxnn.cli.gradcheck import print_gradcheck_summary
from jaxnn.cli.train import summary_line
from jaxnn.errors import GradcheckError


def cmd_demo(args) -> int:
    """Train an MLP on the bundled digits in seconds, then the gradient-check summary."""
    from jaxnn.run import TrainConfig, train_and_evaluate

    out_dir = args.out
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)  # the demo's own folder: each `make demo` starts afresh
    config = TrainConfig(dataset="digits", layers=(64, 64, 10), batch_size=32, lr=0.1,
                         epochs=20, seed=0)  # fmt: skip
    print("Training a 64-64-10 ReLU MLP (hand-derived backprop, SGD via optax) on the bundled")
    print("8x8 digits: batch 32, lr 0.1, 20 epochs, seed 0")
    metrics = train_and_evaluate(config, out_dir, resume=False, progress=True)
    print(summary_line(metrics, out_dir))
    print("plots: " + ", ".join(metrics.get("plots", [])))
    print()
    ok = print_gradcheck_summary(x64=True)
    if not ok:
        raise GradcheckError("some hand-derived gradients disagree with jax.grad (see table)")
    return 0


def add_parser(sub) -> None:
    """The subcommand's arguments, on ``jaxnn``'s parser."""
    p = sub.add_parser("demo", help="what `make demo` runs")
    p.add_argument("--out", default="runs/demo")
    p.set_defaults(func=cmd_demo)
