"""``jaxnn gradcheck``: one model checked three ways at a small random point (hand-derived vs
``jax.grad`` vs float64 finite differences), its settings through the one resolver; and the
summary over every family that ``jaxnn demo`` prints."""

from __future__ import annotations

from jaxnn import activations, mlp, models
from jaxnn.errors import ConfigError, GradcheckError
from jaxnn.flags import parse_layers, parse_options, parse_shape


def cmd_gradcheck(args) -> int:
    """Check one model at a small random point; its build settings go through the one
    resolver (``jaxnn.models.options``): a flag or ``--option`` it does not take is refused,
    one it takes is built with, over the check's small defaults (``GRADCHECK_SIZES``,
    ``GRADCHECK_DEFAULTS``; the MLP and the conv nets: tanh hidden units unless the paper fixes
    them)."""
    from jaxnn import gradcheck
    from jaxnn.models import options as model_options

    dims = parse_layers(args.layers)
    options = parse_options(args.option)
    image = args.model in models.IMAGE_MODELS
    flags = {"hidden": args.hidden, "output": args.output, "init": args.init,
             "width": args.width,
             "layers": tuple(dims) if args.model == "mlp" else None}  # fmt: skip
    if args.model == "logistic":
        given = [f"--{k}" for k, v in flags.items() if v is not None and k != "layers"]
        if given or options:
            raise ConfigError(f"logistic regression has no settings to choose: drop "
                              f"{', '.join(given or ['--option'])}")  # fmt: skip
    else:
        if not image and args.input_shape is not None:
            raise ConfigError(f"--input-shape sizes the convolutional models' check; "
                              f"{args.model} takes --option (see jaxnn models)")  # fmt: skip
        model_options.resolve(args.model, flags, options)  # refuses what the model does not take
    given = {k: v for k, v in flags.items() if v is not None and k != "layers"}
    if args.model not in ("logistic", "mlp") and not image:
        report = gradcheck.check_model(args.model, seed=args.seed, l2=args.l2, m=args.m,
                                       x64=args.x64, max_per_leaf=args.max_per_leaf or None,
                                       options={**given, **options})  # fmt: skip
        sizes = " ".join(f"{k}={v}" for k, v in report.sizes.items())
        print(f"gradcheck {args.model} {sizes} l2={args.l2} seed={args.seed} m={args.m}")
        print(report.format())
        if not report.ok:
            raise GradcheckError(
                "hand-derived, autodiff and numeric gradients disagree (see table)"
            )
        return 0
    fixed = gradcheck.PAPER_FIXED.get(args.model, ())
    hidden = args.hidden or (None if "hidden" in fixed else "tanh")  # smooth: no kinks
    output = args.output or (None if "output" in fixed else "softmax")
    if image:
        shape, width = gradcheck.GRADCHECK_SIZES[args.model]
        shape, width = parse_shape(args.input_shape) or shape, args.width or width
        paper_width = "width" in fixed and args.width is None
        sizes = f"input={'x'.join(map(str, shape))}" + ("" if paper_width else f" width={width:g}")
        report = gradcheck.check_model(
            args.model, dims, hidden, output, args.seed, args.l2, args.m, args.x64,
            input_shape=shape, width=None if paper_width else width,
            max_per_leaf=args.max_per_leaf or None, options={**given, **options},
        )  # fmt: skip
    else:
        sizes = f"layers={dims}"
        report = gradcheck.check_model(
            args.model, dims, hidden or "tanh", output or "softmax", args.seed, args.l2, args.m,
            args.x64, init=args.init or "glorot",
        )  # fmt: skip
    settings = " ".join(f"{name}={value}" for name, value in
                        (("hidden", hidden), ("output", output), *options.items())
                        if value is not None) or "hidden/output: the paper's"  # fmt: skip
    print(f"gradcheck {args.model} {sizes} {settings} l2={args.l2} seed={args.seed} m={args.m}")
    if report.sizes:  # e.g. dropout: the mask held fixed
        print("; ".join(f"{name}: {value}" for name, value in report.sizes.items()))
    print(report.format())
    if not report.ok:
        raise GradcheckError("hand-derived, autodiff and numeric gradients disagree (see table)")
    return 0


def gradcheck_summary(x64: bool = True) -> tuple[list[tuple], bool]:
    """Check every model family × hidden activation × output; return (rows, all_ok)."""
    from jaxnn import gradcheck

    rows = []
    report = gradcheck.check_model("logistic", (6, 1), x64=x64)
    rows.append(("logistic", "—", "sigmoid", 1, report))
    for hidden in activations.ELEMENTWISE:
        for output in mlp.OUTPUTS:
            for depth, dims in ((1, (6, 3)), (3, (6, 5, 4, 3))):
                if depth == 1 and hidden != activations.ELEMENTWISE[0]:
                    continue  # a one-layer net has no hidden activation
                report = gradcheck.check_model("mlp", dims, hidden, output, l2=0.01, x64=x64)
                rows.append(("mlp", hidden if depth > 1 else "—", output, depth, report))
    for name in gradcheck.GRADCHECK_DEFAULTS:  # the other families at their small sizes
        report = gradcheck.check_model(name, x64=x64, l2=0.01)
        rows.append((name, "—", "—", "—", report))
    return rows, all(r[-1].ok for r in rows)


def print_gradcheck_summary(x64: bool = True) -> bool:
    rows, ok = gradcheck_summary(x64)
    print(f"Gradient check, {'float64' if x64 else 'float32'}: worst relative error per model")
    print(
        f"{'model':<12}{'hidden':<11}{'output':<9}{'L':>2} "
        f"{'hand~auto':>10}{'hand~num':>10}{'auto~num':>10}  ok"
    )
    for model, hidden, output, depth, report in rows:
        worst = report.worst
        print(
            f"{model:<12}{hidden:<11}{output:<9}{depth:>2} "
            f"{worst['hand_vs_autodiff']:>10.1e}{worst['hand_vs_numeric']:>10.1e}"
            f"{worst['autodiff_vs_numeric']:>10.1e}  {'yes' if report.ok else 'NO'}"
        )
    print(f"{len(rows)} checks, {'all agree' if ok else 'SOME DISAGREE'}")
    return ok


def add_parser(sub) -> None:
    """The subcommand's arguments, on ``jaxnn``'s parser."""
    p = sub.add_parser("gradcheck", help="hand vs jax.grad vs finite differences, per leaf")
    p.add_argument("--model", choices=("logistic", *models.MODELS), default="mlp")
    p.add_argument(
        "--option",
        action="append",
        metavar="NAME=VALUE",
        help="a model option (repeatable), e.g. hidden_size=8; see jaxnn models",
    )
    p.add_argument("--layers", default="5,4,3", help="MLP layer_dims, e.g. 5,4,3")
    p.add_argument(
        "--input-shape",
        default=None,
        metavar="H,W,C",
        help="convolutional models: input size (default: small, per model)",
    )
    p.add_argument(
        "--width",
        type=float,
        default=None,
        help="convolutional models: channel multiplier (default: small, per model)",
    )
    p.add_argument("--max-per-leaf", type=int, default=40, metavar="K",
                   help="convolutional models: finite differences on K random entries per "
                   "leaf (0: all); hand vs jax.grad always compares every entry")  # fmt: skip
    p.add_argument("--hidden", default=None, choices=activations.ELEMENTWISE,
                   help="the MLP and conv nets (default tanh: smooth, no kinks; LeNet-5 1998: "
                   "the paper's squash)")  # fmt: skip
    p.add_argument("--output", default=None, choices=(*mlp.OUTPUTS, "rbf"),
                   help="default softmax (LeNet-5 1998: the paper's RBF)")  # fmt: skip
    p.add_argument("--init", default=None, help="the weights' scheme (default: the model's)")
    p.add_argument("--l2", type=float, default=0.0)
    p.add_argument("--m", type=int, default=4, help="number of random examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--x64", action="store_true", help="run in float64 (tight tolerances)")
    p.set_defaults(func=cmd_gradcheck)
