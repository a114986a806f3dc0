"""``train_and_evaluate(config, out_dir)``: a whole training run with its results on disk.

Writes ``config.json``, ``history.jsonl`` (one line per epoch), ``metrics.json``, the PNG
plots and a checkpoint per epoch (``checkpoints/``) into ``out_dir``; ``resume=True``
continues from the last checkpoint.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import checkpoint, data, mlp, train
from jaxnn.errors import ConfigError, DivergenceError, JaxnnError, ShapeError

EVAL_SUBSET = 10_000  # training examples evaluated after each epoch (all of them at the end)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    dataset: str = "digits"
    layers: tuple[int, ...] | None = None  # None: [n_x, 64, C]
    hidden: str = "relu"
    output: str = "softmax"
    batch_size: int = 200
    lr: float = 0.1
    epochs: int = 20
    seed: int = 0
    l2: float = 0.0
    grads: str = "hand"
    decay: float = 1.0
    init: str = "glorot"
    data_dir: str | None = None
    manual_dir: str | None = None
    devices: int = 1  # data-parallel over this many local (or, distributed, global) devices
    eval_every: int = 1  # evaluate train subset and test set every N epochs (0: at the end)
    checkpoint_secs: float = 60.0  # checkpoint once this long since the last (0: every epoch)

    def validate(self) -> None:
        """Settings errors before any data is loaded or any file written."""
        if not (self.lr > 0) or math.isinf(self.lr):
            raise ConfigError(f"--lr must be a finite number > 0; got {self.lr}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be ≥ 1; got {self.batch_size}")
        if self.epochs < 0:
            raise ConfigError(f"--epochs must be ≥ 0; got {self.epochs}")
        if not (self.l2 >= 0) or math.isinf(self.l2):
            raise ConfigError(f"--l2 must be a finite number ≥ 0; got {self.l2}")
        if self.devices < 1:
            raise ConfigError(f"--devices must be ≥ 1; got {self.devices}")
        if self.eval_every < 0:
            raise ConfigError(f"--eval-every must be ≥ 0 (0: only after the last epoch); "
                              f"got {self.eval_every}")  # fmt: skip
        if not (self.checkpoint_secs >= 0) or math.isinf(self.checkpoint_secs):
            raise ConfigError(f"--checkpoint-secs must be a finite number ≥ 0 (0: after "
                              f"every epoch); got {self.checkpoint_secs}")  # fmt: skip
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must be in 0..2**32−1; got {self.seed}")
        if self.output not in ("softmax", "sigmoid"):
            raise ConfigError(
                f"--output {self.output!r}: training classifies, so use softmax "
                "(C classes, cross-entropy) or sigmoid (2 classes, one output unit, BCE)"
            )
        if self.dataset not in data.DATASETS:
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose one of: {', '.join(data.DATASETS)}"
            )
        train.make_cost_and_grads(self.grads)  # checks --grads
        mlp._check_hidden(self.hidden)
        if self.layers is not None:
            if len(self.layers) < 2 or min(self.layers) < 1:
                raise ConfigError(
                    f"--layers {','.join(map(str, self.layers))}: need ≥ 2 sizes, each ≥ 1"
                )


def _targets(labels: np.ndarray, num_classes: int, output: str) -> np.ndarray:
    if output == "sigmoid":
        if num_classes != 2:
            raise ConfigError(
                f"--output sigmoid needs a 2-class dataset; this one has {num_classes} "
                "classes: use --output softmax"
            )
        return labels[None, :].astype(np.float32)
    return data.one_hot(labels, num_classes)


def _layer_dims(config: TrainConfig, dataset: data.Dataset | data.Shapes) -> list[int]:
    n_out = 1 if config.output == "sigmoid" else dataset.num_classes
    dims = list(config.layers) if config.layers else [dataset.n_x, 64, n_out]
    if dims[0] != dataset.n_x:
        raise ShapeError(
            f"--layers starts with {dims[0]} but {config.dataset} has {dataset.n_x} features "
            f"per example: use --layers {','.join(map(str, [dataset.n_x, *dims[1:]]))}"
        )
    if dims[-1] != n_out:
        raise ShapeError(
            f"--layers ends with {dims[-1]} but --output {config.output} on {config.dataset} "
            f"needs {n_out} output units"
        )
    return dims


class _Plan(NamedTuple):
    """Everything about a run that follows from its settings and the data's sizes alone."""

    shapes: data.Shapes
    dims: list[int]
    per_epoch: int
    optimizer: object
    epoch_fn: Callable
    evaluate: Callable
    params: dict  # the initial params


def _plan(config: TrainConfig, shapes: data.Shapes, key_init, mesh) -> _Plan:
    dims = _layer_dims(config, shapes)
    if config.batch_size > shapes.m_train:
        raise ConfigError(
            f"--batch-size {config.batch_size} is larger than the {shapes.m_train} training "
            f"examples of {config.dataset}; use at most {shapes.m_train}"
        )
    per_epoch = train.steps_per_epoch(shapes.m_train, config.batch_size)
    optimizer = train.make_optimizer(config.lr, config.decay, per_epoch)
    step = train.make_step(
        train.make_cost_and_grads(config.grads, config.hidden, config.output, config.l2),
        optimizer,
    )
    return _Plan(
        shapes, dims, per_epoch, optimizer,
        train.make_epoch(step, shapes.m_train, config.batch_size, mesh),
        train.make_evaluate(config.hidden, config.output, config.l2, rows=True),
        train.replicate(mlp.init(key_init, dims, config.init), mesh),
    )  # fmt: skip


def _eval_rows(shapes: data.Shapes) -> set[int]:
    """The numbers of examples ever evaluated: the train subset, the test set, all of train."""
    return {min(EVAL_SUBSET, shapes.m_train), shapes.m_test, shapes.m_train}


def _compile(plan: _Plan, like=None) -> tuple[Callable, dict, float]:
    """Compile the epoch and an evaluation per split size: ``(epoch, {rows: evaluate},
    seconds)``. ``like``: the run's arrays ``(params, opt_state, X_rows, Y_rows)``; without
    them, shapes alone (``jax.ShapeDtypeStruct``), so that this can run before the data is
    loaded (single device)."""
    start = time.perf_counter()
    m, n_x, n_y = plan.shapes.m_train, plan.dims[0], plan.dims[-1]

    def struct(*shape, dtype=jnp.float32, sharding=None):
        return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)

    if like is None:
        params = jax.tree.map(lambda leaf: struct(*leaf.shape, dtype=leaf.dtype), plan.params)
        like = (params, jax.eval_shape(plan.optimizer.init, params), struct(m, n_x),
                struct(m, n_y))  # fmt: skip
    params, opt_state, X_rows, Y_rows = like
    epoch = plan.epoch_fn.lower(params, opt_state, struct(m, dtype=jnp.int32), X_rows, Y_rows)
    evaluations = {}
    for rows in _eval_rows(plan.shapes):
        X, Y = (struct(rows, A.shape[1], dtype=A.dtype, sharding=A.sharding)
                for A in (X_rows, Y_rows))  # fmt: skip
        evaluations[rows] = plan.evaluate.lower(params, X, Y).compile()
    train.params_finite(plan.params).block_until_ready()  # compiles it for the loop
    return epoch.compile(), evaluations, time.perf_counter() - start


def _prepare_out_dir(out_dir: str, resume: bool) -> str:
    """Create ``out_dir`` and check it is writable before any training starts."""
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = os.path.join(out_dir, ".write-test")
        with open(probe, "w") as file:
            file.write("ok")
        os.remove(probe)
    except OSError as error:
        raise ConfigError(
            f"cannot write to --out {out_dir} ({error.strerror}); choose a writable folder"
        ) from None
    ckpt_dir = os.path.join(out_dir, "checkpoints")
    if not resume and checkpoint.latest_epoch(ckpt_dir) is not None:
        raise ConfigError(
            f"{out_dir} already holds a run; pass --resume to continue it or choose a new --out"
        )
    return ckpt_dir


# settings a resumed run must share with the run it continues (--epochs may grow)
RESUME_KEYS = ("dataset", "hidden", "output", "batch_size", "lr", "seed", "l2", "grads",
               "decay", "init", "devices")  # fmt: skip


def _check_same_run(path: str, config: TrainConfig, dims: list[int]) -> None:
    """--resume with other settings would not continue the same run: name the differences."""
    if not os.path.exists(path):
        return
    with open(path) as file:
        saved = json.load(file)
    current = {**dataclasses.asdict(config), "layers": dims}
    changed = [
        f"--{key.replace('_', '-')} {saved.get(key)} -> {current[key]}"
        for key in (*RESUME_KEYS, "layers")
        if key in saved and saved[key] != current[key] and not (
            key == "layers" and list(saved[key]) == list(current[key])
        )
    ]  # fmt: skip
    if changed:
        raise ConfigError(
            "--resume continues a run with the same settings, but these differ from the "
            f"saved config.json: {'; '.join(changed)}. Use the original settings (only "
            "--epochs may change) or a new --out"
        )


def _write_json(path: str, payload: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as file:
        json.dump(payload, file, indent=2)
        file.write("\n")
    os.replace(tmp, path)


def train_and_evaluate(
    config: TrainConfig, out_dir: str, resume: bool = False, progress: bool = True
) -> dict:
    """Train an MLP on ``config.dataset``; returns the metrics also written to metrics.json."""
    from tqdm.auto import tqdm

    config.validate()
    ckpt_dir = _prepare_out_dir(out_dir, resume)

    mesh = train.data_mesh(config.devices) if config.devices > 1 else None
    key = jax.random.PRNGKey(config.seed)
    key_init, key_data = jax.random.split(key)
    # compile while the data loads, from the sizes the dataset is known to have (XLA's
    # compiler releases the GIL); data of other sizes (a --manual-dir subset) compiles after
    expected, ahead, planned = data.DATASETS[config.dataset].shapes, None, None
    compiling = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    if expected is not None and mesh is None:
        try:
            planned = _plan(config, expected, key_init, mesh)
            ahead = compiling.submit(_compile, planned)
        except JaxnnError:  # the same checks run on the loaded data's sizes below
            pass
    try:
        dataset, data_seconds = data.timed_load(
            config.dataset, data_dir=config.data_dir, manual_dir=config.manual_dir
        )
        shapes = data.Shapes.of(dataset)
        # compiled for float32 data (with JAX's x64 mode on, float64 data compiles for itself)
        x_dtype = jax.dtypes.canonicalize_dtype(dataset.X_train.dtype)
        compiled_ahead = ahead is not None and shapes == expected and x_dtype == jnp.float32
        plan = planned if compiled_ahead else _plan(config, shapes, key_init, mesh)
        ahead_compiled = ahead.result() if compiled_ahead else None
    finally:
        # no compile may outlive this point: JAX writes its cache files in place, and a
        # later reader of the same entry could see half of one (a warning and a recompile)
        compiling.shutdown(wait=True, cancel_futures=True)
    dims, m, per_epoch, optimizer = plan.dims, shapes.m_train, plan.per_epoch, plan.optimizer
    # on the device one example per row (fast shuffling); every step still sees columns
    Y_train = _targets(dataset.labels_train, dataset.num_classes, config.output)
    X_rows, Y_rows = train.device_rows(dataset.X_train, Y_train)
    X_test, Y_test = train.device_rows(
        dataset.X_test, _targets(dataset.labels_test, dataset.num_classes, config.output)
    )
    # per-epoch train metrics on a fixed subset: a full pass over 60 000 examples each epoch
    # would cost half as much as the epoch's training; metrics.json has the full set at the end
    X_sub, Y_sub = train.device_rows(dataset.X_train[:, :EVAL_SUBSET], Y_train[:, :EVAL_SUBSET])
    X_rows, Y_rows, X_test, Y_test, X_sub, Y_sub = train.replicate(
        (X_rows, Y_rows, X_test, Y_test, X_sub, Y_sub), mesh
    )
    params = plan.params
    opt_state = optimizer.init(params)

    start_epoch, history = 0, []
    history_path = os.path.join(out_dir, "history.jsonl")
    if resume and checkpoint.latest_epoch(ckpt_dir) is not None:
        _check_same_run(os.path.join(out_dir, "config.json"), config, dims)
        template = _state(params, opt_state, 0, key_data, 0)
        start_epoch, state = checkpoint.restore(ckpt_dir, template)
        params, opt_state, key_data = state["params"], state["opt_state"], state["key"]
        params, opt_state = train.replicate((params, opt_state), mesh)
        if os.path.exists(history_path):
            with open(history_path) as file:
                history = [json.loads(line) for line in file if line.strip()]
            history = [row for row in history if row["epoch"] <= start_epoch]
    _write_json(os.path.join(out_dir, "config.json"),
                {**dataclasses.asdict(config), "layers": dims, "out_dir": out_dir})  # fmt: skip
    with open(history_path, "w") as file:  # rewrite: drops epochs after the checkpoint
        file.writelines(json.dumps(row) + "\n" for row in history)

    if compiled_ahead:
        epoch_compiled, evaluations, compile_seconds = ahead_compiled
    else:
        like = (params, opt_state, X_rows, Y_rows)
        epoch_compiled, evaluations, compile_seconds = _compile(plan, like)

    def evaluate(params, X, Y):
        return evaluations[X.shape[0]](params, X, Y)

    train_seconds = sum(row["seconds"] for row in history)
    bar = tqdm(
        range(start_epoch, config.epochs), initial=start_epoch, total=config.epochs,
        desc=f"{dataset.name} {'-'.join(map(str, dims))}", unit="epoch",
        disable=not progress, file=sys.stderr,
    )  # fmt: skip
    saver = checkpoint.BackgroundSaver()  # writes epoch e while epoch e + 1 trains
    saved_epoch, saved_at = start_epoch, time.perf_counter()
    done = (start_epoch, params, opt_state)  # the last finished epoch, in one assignment

    def save(done) -> None:
        epoch_done, params_done, opt_state_done = done
        saver.save(ckpt_dir, epoch_done, _state(params_done, opt_state_done, epoch_done,
                                                key_data, epoch_done * per_epoch))  # fmt: skip

    try:
        for epoch in bar:
            t0 = time.perf_counter()
            order = train.epoch_order(key_data, epoch, m)
            new_params, new_opt_state, costs = epoch_compiled(params, opt_state, order, X_rows,
                                                              Y_rows)  # fmt: skip
            costs = np.asarray(costs)  # waits for the epoch
            seconds = time.perf_counter() - t0
            _check_finite(costs, new_params, epoch, config.lr)
            params, opt_state = new_params, new_opt_state
            train_seconds += seconds
            row = {"epoch": epoch + 1, "minibatch_cost_mean": float(costs.mean()),
                   "seconds": seconds}  # fmt: skip
            last = epoch + 1 == config.epochs
            if last or (config.eval_every and (epoch + 1) % config.eval_every == 0):
                cost, train_acc = (float(v) for v in evaluate(params, X_sub, Y_sub))
                test_cost, test_acc = (float(v) for v in evaluate(params, X_test, Y_test))
                row.update(cost=cost, test_cost=test_cost, train_accuracy=train_acc,
                           test_accuracy=test_acc)  # fmt: skip
                bar.set_postfix(cost=f"{cost:.4f}", acc=f"{train_acc:.3f}",
                                test=f"{test_acc:.3f}")  # fmt: skip
            history.append(row)
            with open(history_path, "a") as file:
                file.write(json.dumps(row) + "\n")
            done = (epoch + 1, params, opt_state)
            if last or time.perf_counter() - saved_at >= config.checkpoint_secs:
                save(done)
                saved_epoch, saved_at = epoch + 1, time.perf_counter()
    except (KeyboardInterrupt, DivergenceError):
        if done[0] > saved_epoch:  # keep the finished epochs: --resume continues from here
            save(done)
        saver.close()
        raise
    bar.close()

    # the whole training set once, at the end, while the last checkpoint and the plots are
    # written in background threads (XLA and the file writes release the GIL)
    plotting = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        plotted = plotting.submit(_plots, list(history), out_dir)
        try:
            final_cost, train_acc = (float(v) for v in evaluate(params, X_rows, Y_rows))
            test_acc = history[-1].get("test_accuracy") if history else None
            if test_acc is None:  # no epoch ran (or a resumed run ended on an unevaluated one)
                test_acc = float(evaluate(params, X_test, Y_test)[1])
        finally:
            saver.close()
        plot_paths = plotted.result()
    finally:
        plotting.shutdown(wait=True)
    metrics = {
        "dataset": dataset.name, "layers": dims, "epochs": config.epochs,
        "test_accuracy": test_acc, "train_accuracy": train_acc, "final_cost": final_cost,
        "train_seconds": train_seconds, "compile_seconds": compile_seconds,
        "compiled_while_loading": compiled_ahead,
        "data_seconds": data_seconds, "steps_per_epoch": per_epoch,
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        "devices": config.devices, "processes": jax.process_count(),
        "resumed_from_epoch": start_epoch if resume else None, "grads": config.grads,
        "data_source": dataset.source,
    }  # fmt: skip
    _write_json(os.path.join(out_dir, "metrics.json"), metrics)
    if plot_paths:
        metrics["plots"] = plot_paths
    return metrics


def _plots(history: list[dict], out_dir: str) -> list[str]:
    if not history:
        return []
    from jaxnn import plots  # matplotlib: imported only once there is something to draw

    return plots.training_curves(history, out_dir)


def _check_finite(costs: np.ndarray, params: dict, epoch: int, lr: float) -> None:
    """A NaN gradient at step k shows as a NaN cost at step k + 1; after the last step, in
    the params. Non-finite: DivergenceError."""
    finite = np.append(np.isfinite(costs), bool(train.params_finite(params)))
    if finite.all():
        return
    bad = int(np.argmin(finite))
    good = costs[np.isfinite(costs)]
    last = float(good[-1]) if good.size else float("nan")
    value = costs[bad] if bad < len(costs) else "non-finite (in the last update)"
    raise DivergenceError(
        f"training diverged: the cost is {value} at epoch {epoch + 1}, step "
        f"{min(bad + 1, len(costs))} of {len(costs)} (learning rate {lr}; last finite cost "
        f"{last:.4g}). Lower --lr (e.g. {lr / 10:g}) or standardize the inputs. The epochs "
        "before it are checkpointed, this one is not."
    )


def _state(params, opt_state, epoch: int, key, step: int) -> dict:
    return {
        "params": params,
        "opt_state": opt_state,
        "epoch": jnp.asarray(epoch, jnp.int32),
        "step": jnp.asarray(step, jnp.int32),
        "key": key,  # raw uint32 key data (jax.random.PRNGKey)
    }
