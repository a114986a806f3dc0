"""``jaxnn train``: one run of any model through ``jaxnn.run.train_and_evaluate``; its flags
become a ``TrainConfig`` (the model's defaults for what is not given, ``jaxnn.models.defaults``;
the build settings resolved in ``jaxnn.models.options``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from jaxnn import models, runlock, signals, supervise
from jaxnn.cli.arguments import (
    MANUAL_DIR_HELP,
    add_distributed_arguments,
    add_input_shape_arguments,
)
from jaxnn.cli.models import format_defaults
from jaxnn.errors import ConfigError
from jaxnn.flags import parse_layers, parse_options, parse_shape


def _config_from_args(args):
    from jaxnn.models import defaults
    from jaxnn.run import TrainConfig

    settings, defaulted = defaults.resolve(  # the model's defaults for what is not given
        args.model, args.dataset, {name: getattr(args, name) for name in defaults.SETTINGS},
        _saved_config(args.out) if args.resume else None,
    )  # fmt: skip
    return TrainConfig(
        dataset=args.dataset, model=args.model, width=args.width, **settings,
        layers=tuple(parse_layers(args.layers)) if args.layers else None,
        options={**parse_options(args.option),
                 **({"conv_backward": args.conv_backward} if args.conv_backward else {})},
        defaulted=defaulted, seed=args.seed, l2=args.l2, validation=args.validation,
        grads=args.grads, decay=args.decay,
        init=args.init, data_dir=args.data_dir, manual_dir=args.manual_dir,
        devices=args.devices, eval_every=args.eval_every, checkpoint_secs=args.checkpoint_secs,
        stream=args.stream, memory_budget=args.memory_budget,
        input_shape=parse_shape(args.input_shape), resize=args.resize,
    )  # fmt: skip


def _saved_config(out_dir: str | None) -> dict | None:
    """The config.json of the run ``--resume`` continues (None if there is none yet)."""
    import json

    path = os.path.join(out_dir or "", "config.json")
    if not out_dir or not os.path.exists(path):
        return None
    try:
        with open(path) as file:
            saved = json.load(file)
    except (OSError, ValueError) as error:
        raise ConfigError(f"--resume: cannot read {path} ({error}); use a new --out") from None
    return saved if isinstance(saved, dict) else None


def summary_line(metrics: dict, out_dir: str) -> str:
    held = "validation" if "validation_cost" in metrics else "test"  # --validation N
    scores = [name[len(held) + 1:] for name in metrics
              if name.startswith(held + "_") and name != held + "_cost"]  # fmt: skip
    shown = ", ".join(
        f"{held} {name.replace('_', ' ')} {metrics[held + '_' + name]:.4f}, train "
        f"{name.replace('_', ' ')} {metrics['train_' + name]:.4f}"
        for name in scores if "train_" + name in metrics
    ) or f"{held} cost {metrics[held + '_cost']:.4f}"  # fmt: skip
    return (
        f"{metrics['dataset']} {metrics['describe']}: {shown}, cost "
        f"{metrics['final_cost']:.4f} after "
        f"{metrics['epochs']} epochs; train {metrics['train_seconds']:.2f}s, compile "
        f"{metrics['compile_seconds']:.2f}s, data {metrics['data_seconds']:.2f}s "
        f"({metrics['device']}) -> {out_dir}"
    )


def request_devices(count: int) -> None:
    """``--devices N`` on a CPU-only machine: ask JAX for N host devices (before any JAX
    operation; ``jax_num_cpu_devices`` only shapes the CPU backend, so GPUs and TPUs are
    untouched). A device count fixed in XLA_FLAGS is left as the user set it."""
    if count <= 1 or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # JAX already started (jaxnn.cli.main called in-process)
        pass


def cmd_train(args) -> int:
    if args.distributed and supervise.wanted():  # the work runs in a supervised child
        return supervise.supervise(args.argv, f"jaxnn {args.command}", args.process_id)
    if not args.distributed:  # distributed: each process has its own devices (one CPU)
        request_devices(args.devices)

    config = _config_from_args(args)
    out_dir = args.out or os.path.join("runs", f"{config.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    args.out = out_dir  # for the --resume hint after Ctrl-C
    if args.distributed:
        from jaxnn import distributed

        distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               args.coordinator_timeout)  # fmt: skip

        def train_everywhere() -> int:  # --devices: the global count (default: all)
            devices = distributed.global_devices(args.devices, args.devices != 1)
            config.validate()  # a bad setting first, then settings that differ
            distributed.same_settings({**dataclasses.asdict(config), "resume": args.resume})
            runlock.prepared_once(config.dataset, config.data_dir, config.manual_dir)
            return _train(dataclasses.replace(config, devices=devices), out_dir, args)

        return distributed.run(train_everywhere, f"jaxnn {args.command}")
    return _train(config, out_dir, args)


def _train(config, out_dir: str, args) -> int:
    from jaxnn.run import train_and_evaluate

    if args.resume:
        _say_if_nothing_to_resume(out_dir, f"jaxnn {args.command}")
    with signals.handled(out_dir, args.distributed):  # SIGTERM: checkpoint, then --resume
        metrics = train_and_evaluate(config, out_dir, resume=args.resume, progress=not args.quiet)
    print(summary_line(metrics, out_dir))
    return 0


def _say_if_nothing_to_resume(out_dir: str, command: str) -> None:
    """--resume with nothing to continue starts a new run, as schedulers that always pass
    --resume expect; one line on stderr says so (a mistyped --out would otherwise go
    unnoticed)."""
    from jaxnn import checkpoint, distributed

    saved = checkpoint.latest_epoch(os.path.join(out_dir, "checkpoints"))
    if saved is not None or not distributed.is_writer():
        return
    held = "no run yet" if not os.path.isdir(out_dir) else "no finished epoch yet"
    print(f"{command}: --resume: {out_dir} holds {held}; starting a new run", file=sys.stderr)


def add_parser(sub) -> None:
    """The subcommand's arguments, on ``jaxnn``'s parser."""
    p = sub.add_parser("train", help="train a model; results, plots, checkpoints in --out",
                       epilog=format_defaults(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--dataset", default="digits", help="digits, mnist, fashion_mnist, ...")
    p.add_argument("--model", default="mlp", help=", ".join(models.MODELS))
    p.add_argument(
        "--option",
        action="append",
        metavar="NAME=VALUE",
        help="a model option (repeatable), e.g. --option hidden_size=128 "
        "(jaxnn models lists each model's)",
    )
    p.add_argument(
        "--width",
        type=float,
        default=None,
        help="convolutional models: multiply channels and hidden units by this (default 1)",
    )
    add_input_shape_arguments(p)
    p.add_argument(
        "--data-dir", default=None, help="TFDS data folder (default ~/tensorflow_datasets)"
    )
    p.add_argument("--manual-dir", default=None, help=MANUAL_DIR_HELP)
    p.add_argument("--layers", default=None, help="layer_dims, e.g. 784,500,10 (default n_x,64,C)")
    per_model = " (default: per model, see below; the MLP's: {})"
    p.add_argument("--hidden", default=None, help="linear, sigmoid, tanh, relu, leaky_relu"
                   + per_model.format("relu"))  # fmt: skip
    p.add_argument("--output", default=None, help="softmax, sigmoid or linear"
                   + per_model.format("softmax"))  # fmt: skip
    p.add_argument("--batch-size", type=int, default=None, help=per_model.format("200")[1:])
    p.add_argument("--lr", type=float, default=None, help=per_model.format("0.1")[1:])
    p.add_argument("--optimizer", default=None, help="sgd (the notes'), momentum (0.9), adam, "
                   "sdlm (LeNet-5's diagonal Levenberg–Marquardt, --lr its first η)"
                   + per_model.format("sgd"))  # fmt: skip
    p.add_argument(
        "--clip-norm",
        type=float,
        default=None,
        metavar="C",
        help="scale each gradient to a global norm of at most C",
    )
    p.add_argument("--beta1", type=float, default=None,
                   help="momentum's μ / Adam's β₁ (default 0.9; GANs: 0.5)")  # fmt: skip
    p.add_argument("--decay", type=float, default=1.0, help="lr factor per epoch (1: constant)")
    p.add_argument("--epochs", type=int, default=None, help=per_model.format("20")[1:])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--l2", type=float, default=0.0, help="λ in J + λ Σ‖W‖²")
    p.add_argument("--validation", type=int, default=0, metavar="N",
                   help="hold out the last N training examples (the same N every seed) and "
                   "evaluate on them instead of the test set, which the run never reads "
                   "(validation_accuracy in metrics.json): for choosing a recipe; 0: train "
                   "on all")  # fmt: skip
    p.add_argument("--init", default=None, help="glorot, he, small, zeros, lecun98 (default: "
                   "the model's: glorot; the ResNets' he, LeNet-5 1998's lecun98)")  # fmt: skip
    p.add_argument("--grads", default="hand", help="hand (derived backprop) or autodiff")
    p.add_argument("--conv-backward", default=None, choices=("auto", "fast", "explicit"),
                   help="conv nets: each conv/pool form measured per machine and shape (auto, "
                   "the default; see jaxnn tune), the fixed choice (fast) or the loops over "
                   "kernel offsets (explicit)")  # fmt: skip
    p.add_argument("--out", default=None, help="run folder (default runs/DATASET-TIME)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--deterministic", action="store_true",
                   help="GPU: bit-identical reruns (XLA's --xla_gpu_deterministic_ops; slower, "
                   "see docs/training.md). CPU runs are deterministic already")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--devices", type=int, default=1, metavar="N",
        help="data-parallel over N devices (on a CPU-only machine: N host devices)",
    )  # fmt: skip
    p.add_argument(
        "--eval-every", type=int, default=1, metavar="N",
        help="evaluate cost and accuracy (train subset, test set) every N epochs; 0: only "
        "after the last (each evaluation costs ~15%% of a Fashion-MNIST epoch)",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint-secs", type=float, default=60.0, metavar="S",
        help="checkpoint after an epoch once S seconds have passed since the last checkpoint "
        "(0: after every epoch); the last epoch, Ctrl-C and divergence always keep the "
        "finished epochs",
    )  # fmt: skip
    p.add_argument("--stream", action="store_true",
                   help="read minibatches from the TFDS files while training (Grain) instead "
                   "of holding the training set on the device (docs/scale.md)")  # fmt: skip
    p.add_argument("--memory-budget", type=float, default=None, metavar="MiB",
                   help="stream when the training set needs more than this (default: half "
                   "of an accelerator's memory; never on a CPU)")  # fmt: skip
    add_distributed_arguments(p)
    p.set_defaults(func=cmd_train)
