"""``jaxnn sweep``: many seeds, learning rates and L2 strengths of one model in one compiled
program (``jaxnn.sweep``), each configuration the run ``jaxnn train`` would make."""

from __future__ import annotations

import os

from jaxnn import models, supervise
from jaxnn.cli.arguments import add_distributed_arguments, add_input_shape_arguments
from jaxnn.cli.train import request_devices
from jaxnn.errors import ConfigError
from jaxnn.flags import parse_layers, parse_options, parse_shape


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
    from jaxnn.run import TrainConfig, _prepare_out_dir, _resolved

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
    model, settled = _resolved(config, data.Shapes.of(ds))  # the one resolver, as train's
    X, Y, X_test, Y_test = sweep.dataset_arrays(ds, model, model.output)
    result = distributed.sweep_over_processes(lambda part: sweep.run_sweep(
        part, None, X, Y, X_test, Y_test, epochs=args.epochs, batch_size=batch_size or None,
        data_seed=args.seed, devices=args.devices, model=model, optimizer=config.optimizer,
        beta1=config.beta1, clip_norm=config.clip_norm,
    ), configs)  # fmt: skip
    if not distributed.is_writer():
        return 0
    dims = model.describe
    # final_cost as `jaxnn train` reports it: the cost on the whole training set after the
    # last epoch (not the last epoch's mean minibatch cost, kept as minibatch_cost_mean)
    rows = [
        {**c, "final_cost": float(result.train_metrics["cost"][i]),
         "minibatch_cost_mean": float(result.costs[i, -1]),
         **{f"train_{k}": float(v[i]) for k, v in result.train_metrics.items() if k != "cost"},
         **{f"test_{k}": float(v[i]) for k, v in result.test_metrics.items()}}
        for i, c in enumerate(configs)
    ]  # fmt: skip
    summary = {"dataset": ds.name, "model": args.model, "describe": dims, "epochs": args.epochs,
               "batch_size": batch_size, "optimizer": config.optimizer, "beta1": config.beta1,
               "clip_norm": config.clip_norm, "configs": len(configs),
               "configs_per_run": result.chunk, "peak_bytes": result.peak_bytes,
               "devices": result.devices, "seconds": result.seconds,
               "compile_seconds": result.compile_seconds,
               "model_options": settled.model_options, "built": settled.built,
               "input_fit": settled.input_fit, "results": rows}  # fmt: skip
    experiment.write_json(os.path.join(args.out, "sweep.json"), summary)
    fig, ax = experiment.figure(size=(7, 4))
    for i, c in enumerate(configs):
        ax.plot(result.costs[i], alpha=0.7, label=f"seed {c['seed']} lr {c['lr']:g} l2 {c['l2']:g}")
    ax.set(xlabel="epoch", ylabel="training cost", yscale="log",
           title=f"{len(configs)} configurations, one program")  # fmt: skip
    if len(configs) <= 12:
        ax.legend(fontsize=7)
    experiment.save(fig, args.out, "sweep.png")
    score, higher = sweep.primary_score(model)  # the model's own: accuracy or its cost
    train_score = "final_cost" if score == "cost" else f"train_{score}"

    def rank(r):  # best first, a diverged (nan) configuration last
        value = -r[f"test_{score}"] if higher else r[f"test_{score}"]
        return np.nan_to_num(value, nan=np.inf)

    print(f"best test {score} first; final train cost: the cost on the whole training set "
          "after the last epoch (jaxnn train's final_cost)")  # fmt: skip
    print(
        f"{'seed':>5}{'lr':>9}{'l2':>9}{'final train cost':>18}"
        + ("" if score == "cost" else f"{'train ' + score:>16}")
        + f"{'test ' + score:>16}"
    )
    for r in sorted(rows, key=rank):
        print(f"{r['seed']:>5}{r['lr']:>9g}{r['l2']:>9g}{r['final_cost']:>18.4f}"
              + ("" if score == "cost" else f"{r[train_score]:>16.4f}")
              + f"{r[f'test_{score}']:>16.4f}")  # fmt: skip
    runs = ("one compiled program" if result.chunk >= len(configs)
            else f"one compiled program, {result.chunk} at a time")  # fmt: skip
    print(
        f"{len(configs)} configurations in {runs}: {result.seconds:.2f}s "
        f"(+ compile {result.compile_seconds:.2f}s; XLA's peak estimate "
        f"{result.peak_bytes / 2**20:.0f} MiB) -> {args.out}"
    )
    return 0


def add_parser(sub) -> None:
    """The subcommand's arguments, on ``jaxnn``'s parser."""
    p = sub.add_parser("sweep", help="train many seeds/lrs/L2s at once (vmap, one program)")
    p.add_argument("--dataset", default="flower")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--manual-dir", default=None)
    p.add_argument("--model", default="mlp", help=", ".join(models.MODELS))
    p.add_argument("--option", action="append", metavar="NAME=VALUE",
                   help="a model option (repeatable); see jaxnn models")  # fmt: skip
    p.add_argument("--width", type=float, default=None,
                   help="convolutional models' multiplier (default 1)")  # fmt: skip
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
    p.add_argument("--seed", type=int, default=None,
                   help="one data order, from this seed, shared by every configuration "
                   "(default: each configuration's order from its own seed, as jaxnn train "
                   "--seed draws it, so that each equals that run)")  # fmt: skip
    p.add_argument(
        "--devices", type=int, default=1, metavar="N",
        help="split the configurations over N devices (on a CPU: N host devices, e.g. the "
        "number of cores)",
    )  # fmt: skip
    p.add_argument("--out", default="runs/sweep")
    add_distributed_arguments(p)
    p.set_defaults(func=cmd_sweep)
