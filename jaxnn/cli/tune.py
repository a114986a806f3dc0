"""``jaxnn tune``: measure (or read from the cache) each conv/pool layer's forms for a model at
a batch size, and show what was chosen and how long each candidate took.

Training does the same on its own the first time a shape is compiled
(``jaxnn.layers.autotune``); this command shows the choices, fills the cache ahead of a run,
and with ``--remeasure`` times again, ignoring the cache (e.g. after a change of machine load).
"""

from __future__ import annotations

import argparse
import inspect

import jax
import jax.numpy as jnp

from jaxnn import models
from jaxnn.errors import ConfigError
from jaxnn.layers import autotune


def add_parser(sub) -> None:
    p = sub.add_parser("tune", help="conv/pool forms measured per device and shape, and why")
    p.add_argument("--model", default="lenet5", choices=models.IMAGE_MODELS)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--input-shape", default=None, metavar="H,W,C",
                   help="default: the model's (28,28,1 for lenet5, else 224,224,3)")  # fmt: skip
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier")
    p.add_argument("--remeasure", action="store_true", help="time again, ignoring the cache")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    from jaxnn.flags import parse_shape
    from jaxnn.models import convnet

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be ≥ 1; got {args.batch_size}")
    shape = parse_shape(args.input_shape) or convnet.DEFAULT_INPUT.get(args.model, (32, 32, 3))
    classes = convnet.DEFAULT_CLASSES.get(args.model, 10)
    # The ResNets are built with the fixed forms (conv_backward="fast") unless asked: build
    # the model as `--conv-backward auto` would, so its conv and pool layers are measured
    # (before, the table of a ResNet was empty: nothing had asked to be tuned).
    default = inspect.signature(models._builders()[args.model]).parameters.get("conv_backward")
    fixed = default is not None and default.default != "auto"
    options = {"conv_backward": "auto"} if fixed else {}
    model = models.build(args.model, shape, classes, width=args.width, **options)
    autotune.REMEASURE = args.remeasure
    autotune.clear()  # the table lists this model's parts only
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    X = jax.ShapeDtypeStruct((args.batch_size, *shape), jnp.float32)
    Y = jax.ShapeDtypeStruct((classes, args.batch_size), jnp.float32)
    jax.jit(model.cost_and_grads).lower(params, X, Y)  # tracing makes every choice
    print(f"{model.describe}, batch {args.batch_size}, on {autotune.device_kind()}; "
          f"cache: {autotune.cache_path() or 'off'}")  # fmt: skip
    if fixed:
        print(f"{args.model} trains with conv_backward={default.default!r} (fixed forms) by "
              "default; these are the forms `jaxnn train --conv-backward auto` uses")  # fmt: skip
    records = autotune.records()
    if not records:
        print(f"nothing to tune: {args.model} has no conv or pool layer built to be measured")
    print(format_records(records))
    return 0


def format_records(records) -> str:
    """One line per part: what it is, the chosen form, each candidate's median time."""
    lines = []
    for record in records:
        part = record.key.split("|", 2)[2]
        times = ", ".join(f"{name} {seconds * 1e3:.2f} ms" for name, seconds in
                          sorted(record.seconds.items(), key=lambda item: item[1]))  # fmt: skip
        lines.append(
            f"{part}\n    -> {record.choice} ({record.source}{'; ' + times if times else ''})"
        )
    return "\n".join(lines)
