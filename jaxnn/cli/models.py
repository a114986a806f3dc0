"""``jaxnn models`` (each model, what it reads, its options and training defaults) and ``jaxnn
summary`` (a layer-built model's table: output shapes, parameters, multiply-adds)."""

from __future__ import annotations

from jaxnn import models
from jaxnn.errors import ConfigError
from jaxnn.flags import parse_options, parse_shape


def format_models() -> str:
    """One line per model: its name, the data layout it reads and its options' defaults."""
    import inspect

    from jaxnn.models import defaults

    reads = {"columns": "vectors (n_x,)", "images": "images (n_H, n_W, n_C)",
             "sequences": "sequences (T, n_x) or token ids (T,); images row by row"}  # fmt: skip
    lines = []
    for name in models.MODELS:
        signature = inspect.signature(models._builders()[name])
        options = ", ".join(
            f"{option}={signature.parameters[option].default!r}"
            for option in models.option_names(name)
        )
        lines.append(f"{name:<12} reads {reads[models.LAYOUTS[name]]}\n{'':<12} options: {options}")
        lines.append(f"{'':<12} trains with: {defaults.describe(name)}")
    return "\n".join(lines)


def format_defaults() -> str:
    """Each model's training defaults (``jaxnn.models.TRAINING_DEFAULTS``), one line each."""
    from jaxnn.models import defaults

    lines = ["each model's defaults, for the settings not given (config.json records them):"]
    lines += [f"  {name:<12} {defaults.describe(name)}" for name in models.MODELS]
    return "\n".join(lines)


def cmd_models(args) -> int:
    print(format_models())
    print("set one with --option NAME=VALUE (jaxnn train, jaxnn gradcheck)")
    return 0


def cmd_summary(args) -> int:
    """The layer table of a model: output shape, parameters, multiply-adds per example."""
    from jaxnn.models import convnet

    if args.model not in models.IMAGE_MODELS:
        raise ConfigError(
            f"summary covers the layer-built models: {', '.join(models.IMAGE_MODELS)} (the "
            "MLP's sizes are its --layers)"
        )
    if args.classes is not None and args.classes < 1:  # not `or`: 0 would mean the default
        raise ConfigError(f"--classes must be ≥ 1; got {args.classes} (leave it out for the "
                          "architecture's own)")  # fmt: skip
    shape = parse_shape(args.input_shape) or convnet.DEFAULT_INPUT.get(args.model, (32, 32, 3))
    classes = args.classes or convnet.DEFAULT_CLASSES.get(args.model, 10)
    from jaxnn.models import options as model_options

    resolved = model_options.resolve(args.model, {"width": args.width},  # the one resolver
                                     parse_options(args.option))  # fmt: skip
    model = models.build(args.model, shape, classes, **resolved)
    print(format_summary(model))
    published = convnet.PUBLISHED.get(args.model)
    if published and (shape, classes, args.width) == (convnet.DEFAULT_INPUT[args.model],
                                                       published[1], 1.0):  # fmt: skip
        total = sum(row.params for row in model.summary())
        print(f"published: {published[0]:,} ({published[2]}): "
              f"{'matches' if total == published[0] else 'DIFFERS'}")  # fmt: skip
    return 0


def format_summary(model) -> str:
    """Keras/torchinfo-style table of ``model.summary()`` rows, with totals."""
    rows = model.summary()
    lines = [f"{model.describe}",
             f"{'layer':<12}{'type':<24}{'output shape':>18}{'params':>14}"
             f"{'mult-adds':>16}"]  # fmt: skip
    lines += [f"{r.name:<12}{r.describe:<24}{str(r.out_shape):>18}{r.params:>14,}{r.macs:>16,}"
              for r in rows]  # fmt: skip
    total_params, total_macs = sum(r.params for r in rows), sum(r.macs for r in rows)
    lines.append(f"{'total':<12}{'':<24}{'':>18}{total_params:>14,}{total_macs:>16,}")
    lines.append(f"{total_params:,} trainable parameters; {total_macs / 1e6:,.2f} M "
                 "multiply-adds per example (forward)")  # fmt: skip
    return "\n".join(lines)


def add_parser(sub) -> None:
    """The subcommand's arguments, on ``jaxnn``'s parser."""
    p = sub.add_parser("models", help="the models, what data they read and their --option's")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("summary", help="layer table: output shapes, parameters, mult-adds")
    p.add_argument("--model", default="lenet5", choices=models.IMAGE_MODELS)
    p.add_argument(
        "--input-shape",
        default=None,
        metavar="H,W,C",
        help="default: the architecture's published input (LeNet-5 28,28,1)",
    )
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--classes", type=int, default=None, help="default: 10 (LeNet-5) or 1000")
    p.add_argument("--option", action="append", metavar="NAME=VALUE",
                   help="a model option (repeatable); see jaxnn models")  # fmt: skip
    p.set_defaults(func=cmd_summary)
