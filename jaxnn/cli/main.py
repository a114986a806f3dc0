"""``jaxnn``: the parser of every subcommand, and ``main``, which runs one and turns its
errors into one line on stderr and an exit code."""

from __future__ import annotations

import argparse
import os
import sys

from jaxnn import signals, supervise
from jaxnn.cli import data, demo, gradcheck, models, sweep, train, tune, verify_notes
from jaxnn.errors import JaxnnError

EXIT_CODES = """
0 ok · 1 gradient check failed · 2 bad input or settings · 3 bad data ·
4 dataset unavailable · 5 checkpoint problem · 6 training diverged ·
7 distributed run failed
"""


def build_parser() -> argparse.ArgumentParser:
    """``jaxnn``'s parser: each subcommand's module adds its own arguments."""
    parser = argparse.ArgumentParser(
        prog="jaxnn",
        description="The lecture notes' networks (MLPs, conv nets, RNN/LSTM, autoencoders, "
        "VAEs, GANs), hand-derived backprop in JAX.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (gradcheck, train, data, sweep, models, verify_notes, tune, demo):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    supervise.die_with_parent()  # a supervised child goes when its supervisor goes (else no-op)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "deterministic", False):  # before JAX starts its backend
        os.environ["XLA_FLAGS"] = " ".join(
            [os.environ.get("XLA_FLAGS", ""), "--xla_gpu_deterministic_ops=true"]
        ).strip()
    from jaxnn import compilation_cache

    compilation_cache.enable()  # compiled programs are reused by later runs (see README)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return args.func(args)
    except JaxnnError as error:
        print(f"jaxnn {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except signals.Preempted as stop:
        print(f"jaxnn {args.command}: {stop}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print(f"jaxnn {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130


def _resume_hint(args) -> str:
    """After Ctrl-C in ``jaxnn train``: how to continue from the last saved epoch."""
    from jaxnn import checkpoint

    out = getattr(args, "out", None)
    if args.command != "train" or not out:
        return ""
    try:
        saved = checkpoint.latest_epoch(os.path.join(out, "checkpoints"))
    except Exception:  # an unreadable folder: no hint rather than a second traceback
        return ""
    if saved is None:
        return " (no epoch was saved yet)"
    return f"; epoch {saved} is saved: rerun the same command with --resume --out {out}"


BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE (13): the status of a command the reader stopped


def run() -> None:
    """The ``jaxnn`` console script and ``python -m jaxnn.cli``: ``main``, then exit.

    Before the interpreter shuts down, ``gc.freeze()`` moves every live object out of the
    cyclic garbage collector's reach: its passes over JAX's, orbax's and TFDS's module state
    at shutdown took ~0.4 s of each command (measured), for memory the OS reclaims anyway.
    Every file is closed and every background save finished before ``main`` returns.

    A reader that stops early (``jaxnn summary … | head``) closes the pipe: the next write
    raises ``BrokenPipeError``. As the Python docs' recipe (``signal`` module, "Note on
    SIGPIPE") does, stdout is then pointed at ``os.devnull`` — so the flush at shutdown
    cannot raise again — and the command exits quietly with 141 = 128 + SIGPIPE, what the
    shell reports for ``cat`` or ``yes`` stopped the same way: the command did not finish
    (a ``train`` stops at its next print), and ``set -o pipefail`` scripts can tell."""
    import gc

    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = BROKEN_PIPE_EXIT
    gc.freeze()
    sys.exit(code)
