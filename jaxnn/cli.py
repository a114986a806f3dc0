"""The ``jaxnn`` command line. Errors become one line on stderr and an exit code:

0 ok · 1 gradient check failed · 2 bad input or settings · 3 bad data ·
4 dataset unavailable · 5 checkpoint problem · 6 training diverged
"""

from __future__ import annotations

import argparse
import sys

from jaxnn import activations, mlp
from jaxnn.errors import ConfigError, GradcheckError, JaxnnError


def parse_layers(text: str) -> list[int]:
    """'784,500,10' -> [784, 500, 10]."""
    try:
        dims = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--layers {text!r} must be comma-separated integers, e.g. 784,500,10"
        ) from None
    if len(dims) < 2:
        raise ConfigError(f"--layers {text!r} needs at least an input and output size")
    return dims


def cmd_gradcheck(args) -> int:
    from jaxnn import gradcheck

    dims = parse_layers(args.layers)
    report = gradcheck.check_model(
        args.model, dims, args.hidden, args.output, args.seed, args.l2, args.m, args.x64
    )
    print(
        f"gradcheck {args.model} layers={dims} hidden={args.hidden} output={args.output} "
        f"l2={args.l2} seed={args.seed}"
    )
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
    return rows, all(r[-1].ok for r in rows)


def print_gradcheck_summary(x64: bool = True) -> bool:
    rows, ok = gradcheck_summary(x64)
    print(f"Gradient check, {'float64' if x64 else 'float32'}: worst relative error per model")
    print(
        f"{'model':<9}{'hidden':<11}{'output':<9}{'L':>2} "
        f"{'hand~auto':>10}{'hand~num':>10}{'auto~num':>10}  ok"
    )
    for model, hidden, output, depth, report in rows:
        worst = report.worst
        print(
            f"{model:<9}{hidden:<11}{output:<9}{depth:>2} "
            f"{worst['hand_vs_autodiff']:>10.1e}{worst['hand_vs_numeric']:>10.1e}"
            f"{worst['autodiff_vs_numeric']:>10.1e}  {'yes' if report.ok else 'NO'}"
        )
    print(f"{len(rows)} checks, {'all agree' if ok else 'SOME DISAGREE'}")
    return ok


def cmd_demo(args) -> int:
    ok = print_gradcheck_summary(x64=True)
    if not ok:
        raise GradcheckError("some hand-derived gradients disagree with jax.grad (see table)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxnn",
        description="Feed-forward networks of the lecture notes, hand-derived backprop in JAX.",
        epilog=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("gradcheck", help="hand vs jax.grad vs finite differences, per leaf")
    p.add_argument("--model", choices=("logistic", "mlp"), default="mlp")
    p.add_argument("--layers", default="5,4,3", help="layer_dims, e.g. 5,4,3")
    p.add_argument("--hidden", default="tanh", choices=activations.ELEMENTWISE)
    p.add_argument("--output", default="softmax", choices=mlp.OUTPUTS)
    p.add_argument("--l2", type=float, default=0.0)
    p.add_argument("--m", type=int, default=8, help="number of random examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--x64", action="store_true", help="run in float64 (tight tolerances)")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("demo", help="what `make demo` runs")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except JaxnnError as error:
        print(f"jaxnn {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"jaxnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
