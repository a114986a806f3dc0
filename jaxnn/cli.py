"""The ``jaxnn`` command line. Errors become one line on stderr and an exit code:

0 ok · 1 gradient check failed · 2 bad input or settings · 3 bad data ·
4 dataset unavailable · 5 checkpoint problem · 6 training diverged ·
7 distributed run failed
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import time

from jaxnn import activations, mlp, models, runlock, signals, supervise
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


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """'28,28,1' -> (28, 28, 1)."""
    if text is None:
        return None
    try:
        shape = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"--input-shape {text!r} must be three sizes H,W,C ≥ 1, e.g. 32,32,3")
    return shape


def parse_options(pairs: list[str] | None) -> dict:
    """``["hidden_size=128", "cell=lstm"]`` -> ``{"hidden_size": 128, "cell": "lstm"}``: each
    value read as JSON when it is JSON (numbers, true/false, lists), else kept as text."""
    import json

    options = {}
    for pair in pairs or ():
        name, sep, text = pair.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise ConfigError(
                f"--option {pair!r} must be NAME=VALUE, e.g. --option hidden_size=128"
            )
        try:
            value = json.loads(text)
        except ValueError:
            value = text.strip()
        options[name.strip().replace("-", "_")] = value
    return options


def cmd_gradcheck(args) -> int:
    from jaxnn import gradcheck

    dims = parse_layers(args.layers)
    options = parse_options(args.option)
    if args.model not in ("logistic", "mlp", *models.IMAGE_MODELS):
        report = gradcheck.check_model(args.model, seed=args.seed, l2=args.l2, m=args.m,
                                       x64=args.x64, max_per_leaf=args.max_per_leaf or None,
                                       options=options)  # fmt: skip
        sizes = " ".join(f"{k}={v}" for k, v in report.sizes.items())
        print(f"gradcheck {args.model} {sizes} l2={args.l2} seed={args.seed} m={args.m}")
        print(report.format())
        if not report.ok:
            raise GradcheckError(
                "hand-derived, autodiff and numeric gradients disagree (see table)"
            )
        return 0
    if args.model in models.IMAGE_MODELS:
        shape, width = gradcheck.GRADCHECK_SIZES[args.model]
        shape, width = parse_shape(args.input_shape) or shape, args.width or width
        sizes = f"input={'x'.join(map(str, shape))} width={width:g}"
        report = gradcheck.check_model(
            args.model, dims, args.hidden, args.output, args.seed, args.l2, args.m, args.x64,
            input_shape=shape, width=width, max_per_leaf=args.max_per_leaf or None,
        )  # fmt: skip
    else:
        sizes = f"layers={dims}"
        report = gradcheck.check_model(
            args.model, dims, args.hidden, args.output, args.seed, args.l2, args.m, args.x64
        )
    fixed = gradcheck.PAPER_FIXED.get(args.model, ())
    settings = " ".join(f"{name}={getattr(args, name)}" for name in ("hidden", "output")
                        if name not in fixed) or "hidden/output: the paper's"  # fmt: skip
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
        defaulted=defaulted, seed=args.seed, l2=args.l2, grads=args.grads, decay=args.decay,
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
    scores = [name[len("test_"):] for name in metrics
              if name.startswith("test_") and name != "test_cost"]  # fmt: skip
    shown = ", ".join(
        f"test {name.replace('_', ' ')} {metrics['test_' + name]:.4f}, train "
        f"{name.replace('_', ' ')} {metrics['train_' + name]:.4f}"
        for name in scores if "train_" + name in metrics
    ) or f"test cost {metrics['test_cost']:.4f}"  # fmt: skip
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


def cmd_data_list(args) -> int:
    from jaxnn import data

    print(f"{'name':<14} {'what':<70} source")
    for name, spec in data.DATASETS.items():
        print(f"{name:<14} {spec.description:<70} {spec.source}")
    return 0


def cmd_data_prepare(args) -> int:
    from jaxnn import data

    if args.name in data.DEBIAN_FOLDERS:
        print(f"{args.name}: {data.prepare(args.name, args.data_dir, args.manual_dir)}")
    elif args.name in data.DATASETS:
        print(f"{args.name}: nothing to prepare ({data.DATASETS[args.name].source})")
    else:
        raise ConfigError(
            f"unknown dataset {args.name!r}; choose one of: {', '.join(data.DATASETS)}"
        )
    return 0


def cmd_data_verify(args) -> int:
    from jaxnn import data
    from jaxnn.data import prepared

    if args.name not in data.DEBIAN_FOLDERS:
        raise ConfigError(f"{args.name!r} has no prepared copy to verify; choose one of: "
                          f"{', '.join(data.DEBIAN_FOLDERS)}")  # fmt: skip
    print(f"{args.name}: {prepared.verify(args.name, args.data_dir)}")
    return 0


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


def _floats(text: str, flag: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r} must be comma-separated numbers") from None


def cmd_sweep(args) -> int:
    if args.distributed and supervise.wanted():  # the work runs in a supervised child
        return supervise.supervise(args.argv, f"jaxnn {args.command}", args.process_id)
    if args.distributed:  # the configurations split over the processes
        from jaxnn import distributed

        distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               args.coordinator_timeout)  # fmt: skip
        return distributed.run(lambda: _sweep(args), f"jaxnn {args.command}")
    request_devices(args.devices)
    return _sweep(args)


def _sweep(args) -> int:
    import numpy as np

    from jaxnn import data, distributed, experiment, sweep
    from jaxnn.models import defaults
    from jaxnn.run import TrainConfig, _prepare_out_dir, build_model

    given = {"hidden": args.hidden, "output": args.output, "optimizer": args.optimizer,
             "beta1": args.beta1, "clip_norm": args.clip_norm,
             "batch_size": args.batch_size or None}  # fmt: skip
    settings, _ = defaults.resolve(args.model, args.dataset, given)
    batch_size = 0 if args.batch_size == 0 else settings["batch_size"]  # 0: full batch
    config = TrainConfig(dataset=args.dataset, model=args.model, width=args.width,
                         layers=tuple(parse_layers(args.layers)) if args.layers else None,
                         options=parse_options(args.option), hidden=settings["hidden"],
                         output=settings["output"], epochs=args.epochs,
                         optimizer=settings["optimizer"], beta1=settings["beta1"],
                         clip_norm=settings["clip_norm"], batch_size=max(batch_size, 1),
                         input_shape=parse_shape(args.input_shape), resize=args.resize)  # fmt: skip
    config.validate()
    if args.distributed and args.devices > 1:
        raise ConfigError("a distributed sweep runs each process's share of the configurations "
                          "on its one device: leave --devices out, or start one process per "
                          "device")  # fmt: skip
    lrs = (_floats(args.lrs, "--lrs") if args.lrs
           else [settings["lr"] * factor for factor in (1, 3, 10, 30)])  # fmt: skip
    configs = sweep.grid([int(s) for s in _floats(args.seeds, "--seeds")], lrs,
                         _floats(args.l2s, "--l2s"))  # fmt: skip
    _prepare_out_dir(args.out, resume=True)
    ds = data.load(args.dataset, data_dir=args.data_dir, manual_dir=args.manual_dir)
    model = build_model(config, data.Shapes.of(ds))
    X, Y, X_test, Y_test = sweep.dataset_arrays(ds, model, config.output)
    result = distributed.sweep_over_processes(lambda part: sweep.run_sweep(
        part, None, X, Y, X_test, Y_test, epochs=args.epochs, batch_size=batch_size or None,
        data_seed=args.seed, devices=args.devices, model=model, optimizer=config.optimizer,
        beta1=config.beta1, clip_norm=config.clip_norm,
    ), configs)  # fmt: skip
    if not distributed.is_writer():
        return 0
    dims = model.describe
    rows = [
        {**c, "final_cost": float(result.costs[i, -1]),
         **{f"train_{k}": float(v[i]) for k, v in result.train_metrics.items()},
         **{f"test_{k}": float(v[i]) for k, v in result.test_metrics.items()}}
        for i, c in enumerate(configs)
    ]  # fmt: skip
    summary = {"dataset": ds.name, "model": args.model, "describe": dims, "epochs": args.epochs,
               "batch_size": batch_size, "optimizer": config.optimizer, "beta1": config.beta1,
               "clip_norm": config.clip_norm, "configs": len(configs),
               "configs_per_run": result.chunk, "peak_bytes": result.peak_bytes,
               "devices": result.devices, "seconds": result.seconds,
               "compile_seconds": result.compile_seconds, "results": rows}  # fmt: skip
    experiment.write_json(os.path.join(args.out, "sweep.json"), summary)
    fig, ax = experiment.figure(size=(7, 4))
    for i, c in enumerate(configs):
        ax.plot(result.costs[i], alpha=0.7, label=f"seed {c['seed']} lr {c['lr']:g} l2 {c['l2']:g}")
    ax.set(xlabel="epoch", ylabel="training cost", yscale="log",
           title=f"{len(configs)} configurations, one program")  # fmt: skip
    if len(configs) <= 12:
        ax.legend(fontsize=7)
    experiment.save(fig, args.out, "sweep.png")
    score = "accuracy" if "accuracy" in result.test_metrics else "cost"  # best first
    print(f"{'seed':>5}{'lr':>9}{'l2':>9}{'cost':>9}{'train ' + score:>16}{'test ' + score:>16}")
    for r in sorted(rows, key=lambda r: -r["test_accuracy"] if score == "accuracy"
                    else np.nan_to_num(r["test_cost"], nan=np.inf)):  # fmt: skip
        print(f"{r['seed']:>5}{r['lr']:>9g}{r['l2']:>9g}{r['final_cost']:>9.4f}"
              f"{r['train_' + score]:>16.4f}{r['test_' + score]:>16.4f}")  # fmt: skip
    runs = ("one compiled program" if result.chunk >= len(configs)
            else f"one compiled program, {result.chunk} at a time")  # fmt: skip
    print(
        f"{len(configs)} configurations in {runs}: {result.seconds:.2f}s "
        f"(+ compile {result.compile_seconds:.2f}s; XLA's peak estimate "
        f"{result.peak_bytes / 2**20:.0f} MiB) -> {args.out}"
    )
    return 0


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
    shape = parse_shape(args.input_shape) or convnet.DEFAULT_INPUT.get(args.model, (32, 32, 3))
    classes = args.classes or convnet.DEFAULT_CLASSES.get(args.model, 10)
    model = models.build(args.model, shape, classes, width=args.width)
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


def cmd_verify_notes(args) -> int:
    from jaxnn import verify

    rows = verify.run()
    verify.write(rows, args.out)
    print(verify.table(rows))
    print(f"report: {args.out}")
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(verify.markdown(rows) + "\n")
        print(f"markdown table: {args.markdown}")
    return 0


MANUAL_DIR_HELP = (
    "folder holding the dataset: the four IDX files (gzipped or not), or for MNIST Keras's "
    "mnist.npz or mnist.pkl.gz; verified against the canonical SHA-256 (exit code 3 if not)"
)


def add_distributed_arguments(p) -> None:
    p.add_argument(
        "--distributed", action="store_true",
        help="one of several processes (hosts) training together (docs/scale.md)",
    )  # fmt: skip
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="--distributed: process 0's address (default: JAX_COORDINATOR_ADDRESS "
                   "or the cluster manager's, e.g. SLURM)")  # fmt: skip
    p.add_argument("--num-processes", type=int, default=None, metavar="N",
                   help="--distributed: how many processes (default: JAX_NUM_PROCESSES, "
                   "SLURM)")  # fmt: skip
    p.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="--distributed: this process's index 0..N-1 (default: "
                   "JAX_PROCESS_ID, SLURM)")  # fmt: skip
    p.add_argument("--coordinator-timeout", type=float, default=20.0, metavar="S",
                   help="--distributed: give up if the coordinator does not answer within "
                   "S seconds")  # fmt: skip


def add_input_shape_arguments(p) -> None:
    """--input-shape and --resize of train and sweep (jaxnn.models.input_adapter)."""
    p.add_argument("--input-shape", default=None, metavar="H,W,C",
                   help="convolutional models: build the model for H,W,C and pad the data's "
                   "images to it, centred (MNIST 28×28 to 32,32,1 for lenet5_1998)")  # fmt: skip
    p.add_argument("--resize", action="store_true",
                   help="with --input-shape: resize the images (bilinear) instead of padding "
                   "(e.g. Fashion-MNIST to 224,224,1 for vgg11)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxnn",
        description="The lecture notes' networks (MLPs, conv nets, RNN/LSTM, autoencoders, "
        "VAEs, GANs), hand-derived backprop in JAX.",
        epilog=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

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
    p.add_argument("--hidden", default="tanh", choices=activations.ELEMENTWISE)
    p.add_argument("--output", default="softmax", choices=mlp.OUTPUTS)
    p.add_argument("--l2", type=float, default=0.0)
    p.add_argument("--m", type=int, default=4, help="number of random examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--x64", action="store_true", help="run in float64 (tight tolerances)")
    p.set_defaults(func=cmd_gradcheck)

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
        default=1.0,
        help="convolutional models: multiply channels and hidden units by this",
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
    p.add_argument("--optimizer", default=None, help="sgd (the notes'), momentum (0.9), adam"
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
    p.add_argument("--init", default="glorot", help="glorot, he, small, zeros")
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

    p = sub.add_parser("data", help="datasets: list, prepare, verify")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = data_sub.add_parser("list", help="what is available and where it comes from")
    q.set_defaults(func=cmd_data_list)
    q = data_sub.add_parser("prepare", help="build a TFDS dataset once (download or local)")
    q.add_argument("name")
    q.add_argument("--data-dir", default=None)
    q.add_argument("--manual-dir", default=None, help=MANUAL_DIR_HELP)
    q.set_defaults(func=cmd_data_prepare)
    q = data_sub.add_parser("verify", help="check a prepared copy whole (SHA-256, records)")
    q.add_argument("name")
    q.add_argument("--data-dir", default=None)
    q.set_defaults(func=cmd_data_verify)

    p = sub.add_parser("sweep", help="train many seeds/lrs/L2s at once (vmap, one program)")
    p.add_argument("--dataset", default="flower")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--manual-dir", default=None)
    p.add_argument("--model", default="mlp", help=", ".join(models.MODELS))
    p.add_argument("--option", action="append", metavar="NAME=VALUE",
                   help="a model option (repeatable); see jaxnn models")  # fmt: skip
    p.add_argument("--width", type=float, default=1.0, help="convolutional models' multiplier")
    add_input_shape_arguments(p)
    p.add_argument("--layers", default=None, help="MLP layer_dims (default n_x,64,C)")
    per_model = "default: the model's (jaxnn models)"
    p.add_argument("--hidden", default=None, help=per_model)
    p.add_argument("--output", default=None, help=per_model)
    p.add_argument("--optimizer", default=None, help="sgd, momentum, adam; " + per_model)
    p.add_argument("--beta1", type=float, default=None, help=per_model)
    p.add_argument("--clip-norm", type=float, default=None, metavar="C", help=per_model)
    p.add_argument("--seeds", default="0,1,2,3", help="comma-separated init seeds")
    p.add_argument("--lrs", default=None, help="comma-separated learning rates (default: the "
                   "model's default lr ×1, 3, 10, 30; the MLP's 0.1,0.3,1,3)")  # fmt: skip
    p.add_argument("--l2s", default="0,0.001", help="comma-separated L2 strengths")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=None,
                   help="0: full batch; " + per_model)  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the shared data order")
    p.add_argument(
        "--devices", type=int, default=1, metavar="N",
        help="split the configurations over N devices (on a CPU: N host devices, e.g. the "
        "number of cores)",
    )  # fmt: skip
    p.add_argument("--out", default="runs/sweep")
    add_distributed_arguments(p)
    p.set_defaults(func=cmd_sweep)

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
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("verify-notes", help="check every printed claim of the lecture notes")
    p.add_argument("--out", default="claims.json", help="where to write the JSON report")
    p.add_argument("--markdown", default=None, help="also write the README's failure table")
    p.set_defaults(func=cmd_verify_notes)

    from jaxnn import tune

    tune.add_parser(sub)

    p = sub.add_parser("demo", help="what `make demo` runs")
    p.add_argument("--out", default="runs/demo")
    p.set_defaults(func=cmd_demo)
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


def run() -> None:
    """The ``jaxnn`` console script and ``python -m jaxnn.cli``: ``main``, then exit.

    Before the interpreter shuts down, ``gc.freeze()`` moves every live object out of the
    cyclic garbage collector's reach: its passes over JAX's, orbax's and TFDS's module state
    at shutdown took ~0.4 s of each command (measured), for memory the OS reclaims anyway.
    Every file is closed and every background save finished before ``main`` returns."""
    import gc

    code = main()
    sys.stdout.flush()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
