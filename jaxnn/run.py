"""``train_and_evaluate(config, out_dir)``: a whole training run with its results on disk.

Any model of ``jaxnn.models`` trains through it (``TrainConfig.model``).
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
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import (
    checkpoint,
    chunked_epoch,
    compilation_cache,
    data,
    distributed,
    loop,
    mlp,
    models,
    provenance,
    safe_write,
    stream,
    train,
)
from jaxnn.errors import ConfigError, JaxnnError
from jaxnn.models import defaults
from jaxnn.optim import sdlm

EVAL_SUBSET = 10_000  # training examples evaluated after each epoch (all of them at the end)
EVAL_KEY_SALT = 0x6576616C  # "eval": evaluation noise is fold_in(PRNGKey(seed), this), fixed


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    dataset: str = "digits"
    model: str = "mlp"  # jaxnn.models.MODELS: mlp, lenet5, alexnet, vgg16, rnn, lstm, ...
    options: dict = dataclasses.field(default_factory=dict)  # the model's own (--option K=V)
    layers: tuple[int, ...] | None = None  # MLP only; None: [n_x, 64, C]
    # the build settings with a flag of their own; None: the model's own default (resolved by
    # jaxnn.models.options, recorded resolved in config.json; None there: no such setting)
    width: float | None = None  # convolutional models: channel / hidden-unit multiplier
    input_shape: tuple[int, ...] | None = None  # image models: build for (H, W, C), pad to it
    resize: bool = False  # ... or resize the data's images to it (jaxnn.models.input_adapter)
    # the notes' settings (jaxnn.models.defaults.NOTES); jaxnn train: each model's own
    hidden: str | None = defaults.NOTES["hidden"]
    output: str | None = defaults.NOTES["output"]
    batch_size: int = defaults.NOTES["batch_size"]
    lr: float = defaults.NOTES["lr"]
    optimizer: str = defaults.NOTES["optimizer"]  # sgd (the notes'), momentum (0.9) or adam
    clip_norm: float | None = defaults.NOTES["clip_norm"]  # gradients to at most this norm
    beta1: float | None = defaults.NOTES["beta1"]  # momentum's μ / Adam's β₁ (None: 0.9)
    epochs: int = defaults.NOTES["epochs"]
    seed: int = 0
    l2: float = 0.0
    # hold out the last N training examples and evaluate on them instead of the test set
    # (data.hold_out; 0: train on all, evaluate on the test set)
    validation: int = 0
    grads: str = "hand"
    decay: float = 1.0
    init: str | None = None
    data_dir: str | None = None
    manual_dir: str | None = None
    devices: int = 1  # data-parallel over this many local (or, distributed, global) devices
    eval_every: int = 1  # evaluate train subset and test set every N epochs (0: at the end)
    checkpoint_secs: float = 60.0  # checkpoint once this long since the last (0: every epoch)
    stream: bool = False  # read minibatches from the TFDS files (jaxnn.stream)
    memory_budget: float | None = None  # MiB: stream when the training set needs more
    defaulted: tuple[str, ...] = ()  # settings taken from the model's defaults (models.defaults)
    # filled in by ``resolve`` (what config.json records): every option the builder took,
    # where the input size came from (given, native, data) and the sizes it was built for
    model_options: dict | None = None
    input_fit: str | None = None
    built: dict | None = None

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
        if self.validation < 0:
            raise ConfigError(f"--validation must be ≥ 0 (training examples held out; 0: "
                              f"none); got {self.validation}")  # fmt: skip
        if self.validation and self.stream:
            raise ConfigError("--validation holds out training examples in memory; it does "
                              "not combine with --stream")  # fmt: skip
        if self.memory_budget is not None and not self.memory_budget > 0:
            raise ConfigError(f"--memory-budget must be > 0 MiB; got {self.memory_budget}")
        if self.stream:
            stream.check(self.dataset)
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must be in 0..2**32−1; got {self.seed}")
        if self.output not in (None, "softmax", "sigmoid", "linear", "rbf"):
            raise ConfigError(
                f"--output {self.output!r}: training classifies, so use softmax "
                "(C classes, cross-entropy) or sigmoid (2 classes, one output unit, BCE); "
                "linear (squared error) is for regression datasets"
            )
        if self.dataset not in data.DATASETS:
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose one of: {', '.join(data.DATASETS)}"
            )
        if self.model not in models.MODELS:
            raise ConfigError(
                f"unknown model {self.model!r}; choose one of: {', '.join(models.MODELS)}"
            )
        if self.model != "mlp" and self.layers is not None:
            raise ConfigError(f"--layers sets the MLP's sizes; {self.model} has its own "
                              "(scale it with --width)")  # fmt: skip
        if self.model not in models.IMAGE_MODELS and (self.input_shape or self.resize):
            raise ConfigError(f"--input-shape and --resize fit images to a convolutional "
                              f"model; {self.model} reads the data as they are")  # fmt: skip
        if not isinstance(self.options, dict):
            raise ConfigError("options must be a dict of the model's settings (--option K=V)")
        if self.width is not None and (not (self.width > 0) or math.isinf(self.width)):
            raise ConfigError(f"--width must be a finite number > 0; got {self.width}")
        from jaxnn.models import options as model_options

        model_options.resolve(self.model, {"hidden": self.hidden, "output": self.output,
                                           "init": self.init, "width": self.width,
                                           "layers": self.layers}, self.options)  # fmt: skip
        train.make_cost_and_grads(self.grads)  # checks --grads
        train.make_optimizer(self.lr, self.decay, 1, self.optimizer, self.clip_norm, self.beta1)
        if self.hidden is not None:
            mlp._check_hidden(self.hidden)
        if self.layers is not None:
            if len(self.layers) < 2 or min(self.layers) < 1:
                raise ConfigError(
                    f"--layers {','.join(map(str, self.layers))}: need ≥ 2 sizes, each ≥ 1"
                )


def train_config(model: str = "mlp", dataset: str = "digits", **given) -> TrainConfig:
    """The ``TrainConfig`` ``jaxnn train --model model --dataset dataset`` makes: the model's
    defaults (``jaxnn.models.defaults``) for every setting of ``defaults.SETTINGS`` not in
    ``given``, the other fields from ``given`` or TrainConfig's."""
    settings, defaulted = defaults.resolve(
        model, dataset, {k: given.pop(k) for k in defaults.SETTINGS if k in given}
    )  # fmt: skip
    return TrainConfig(model=model, dataset=dataset, **settings, **given, defaulted=defaulted)


def build_model(config: TrainConfig, shapes: data.Shapes) -> models.Model:
    """The model ``config`` names, sized for the data (``models.LAYOUTS``): an MLP on
    columns, a convolutional network on images, a recurrent one on sequences (an image read
    row by row), with every build setting resolved in one place (``resolve``)."""
    return _resolved(config, shapes)[0]


def resolve(config: TrainConfig, shapes: data.Shapes) -> TrainConfig:
    """``config`` with every setting the model was built with filled in: ``hidden``,
    ``output``, ``init`` and ``width`` as the builder took them (None where the model has no
    such setting), the input size an image model reads and how the data are fitted to it,
    and ``model_options``, every option of the builder (``jaxnn.models.options``). This is
    what ``config.json`` records: ``rebuild`` makes the same model from it alone."""
    return _resolved(config, shapes)[1]


def _resolved(config: TrainConfig, shapes: data.Shapes) -> tuple[models.Model, TrainConfig]:
    from jaxnn.models import input_adapter
    from jaxnn.models import options as model_options

    layout = models.LAYOUTS.get(config.model)
    if layout is None:
        raise ConfigError(
            f"unknown model {config.model!r}; choose one of: {', '.join(models.MODELS)}"
        )
    flags = {"hidden": config.hidden, "output": config.output, "init": config.init,
             "width": config.width, "layers": config.layers}  # fmt: skip
    resolved = model_options.resolve(config.model, flags, config.options)
    data_shape = None
    if layout == "images":
        data_shape = shapes.input_shape(0)  # the data's images (else: what they hold, in words)
        shape, resize, source = input_adapter.fit(config.model, data_shape, config.input_shape,
                                                  config.resize)  # fmt: skip
    elif config.input_shape is not None or config.resize:
        raise ConfigError(f"--input-shape and --resize fit images to a convolutional "
                          f"model; {config.model} reads the data as they are")  # fmt: skip
    elif layout == "sequences":
        shape = shapes.sequences()
    else:
        shape = shapes.input_shape(1)
    model, shape, source = _build_fitting(
        config.model,
        shape,
        shapes.num_classes,
        resolved,
        data_shape,
        source if layout == "images" else None,
    )
    if layout == "images" and (tuple(shape) != tuple(data_shape) or resize):
        model = input_adapter.adapt(model, data_shape, resize)
    fitted = {}
    if layout == "images":
        fitted = {"input_shape": tuple(shape), "resize": resize, "input_fit": source}
    built = {"input_shape": list(shape), "num_classes": shapes.num_classes,
             "data_shape": list(data_shape) if data_shape else None}  # fmt: skip
    settled = dataclasses.replace(
        config, **{name: resolved.get(name) for name in ("hidden", "output", "init", "width")},
        model_options=resolved, built=built, **fitted,
    )  # fmt: skip
    return model, settled


def _build_fitting(name: str, shape, num_classes: int, resolved: dict, data_shape, source):
    """``(model, shape, source)``: ``models.build`` at ``shape``. An image model whose stages
    do not fit the data's own size (``source`` "data": VGG-16's five poolings on 8×8 digits)
    is built at the smallest square size it reads, the data padded to it (``source``
    "smallest"); where the size was given, the error names that size (``--input-shape``)."""
    from jaxnn.errors import ShapeError
    from jaxnn.models import input_adapter

    try:
        return models.build(name, shape, num_classes, **resolved), shape, source
    except ShapeError as error:
        if data_shape is None:
            raise
        size = input_adapter.smallest_input(
            lambda s: models.build(name, s, num_classes, **resolved), data_shape
        )  # fmt: skip
        if size is None:
            raise
        if source == "data":
            shape = (size, size, data_shape[2])
            return models.build(name, shape, num_classes, **resolved), shape, "smallest"
        raise ShapeError(
            f"{name} cannot read {'×'.join(map(str, shape))} images (its stages shrink them "
            f"too far: {str(error).split(':')[0]}); use --input-shape {size},{size},"
            f"{data_shape[2]} (the smallest it reads; the data are padded to it, or resized "
            "with --resize)"
        ) from None


def rebuild(saved: dict) -> models.Model:
    """The model a run's ``config.json`` records, from that file alone: the same builder,
    sizes and options, so ``init`` with the run's key gives bitwise the same params."""
    from jaxnn.models import input_adapter

    try:
        name, built = saved["model"], saved["built"]
        model = models.build(name, built["input_shape"], built["num_classes"],
                             **saved["model_options"])  # fmt: skip
    except (KeyError, TypeError) as error:
        raise ConfigError(
            f"config.json records no model to rebuild ({error}); it was "
            "written by an older jaxnn: rerun the training"
        ) from None
    data_shape, resize = built.get("data_shape"), bool(saved.get("resize"))
    if data_shape and (tuple(data_shape) != tuple(built["input_shape"]) or resize):
        model = input_adapter.adapt(model, data_shape, resize)  # as _resolved does
    return model


def _targets(labels: np.ndarray, num_classes: int, output: str, model=None,
             given=None, m: int | None = None) -> np.ndarray:  # fmt: skip
    """Y ``(n_y, m)`` for ``model``: one-hot classes (softmax) or 0/1 (sigmoid) from
    ``labels``, the dataset's own targets (``given``) or none, ``(0, m)``."""
    if model is not None and model.targets == "none":
        return np.zeros((0, len(labels) if m is None else m), np.float32)
    if model is not None and model.targets == "given":
        if given is None:
            raise ConfigError(
                f"{model.name} learns targets that are not classes, and this dataset has "
                "only classes: use a dataset with targets (adding, text)"
            )
        return given
    if given is not None and model is not None:
        raise ConfigError(
            f"this dataset's targets are not classes, and {model.name} is a classifier: "
            "use a model that learns them (e.g. --model rnn or lstm)"
        )
    if output == "sigmoid":
        if num_classes != 2:
            raise ConfigError(
                f"--output sigmoid needs a 2-class dataset; this one has {num_classes} "
                "classes: use --output softmax"
            )
        return labels[None, :].astype(np.float32)
    return data.one_hot(labels, num_classes)


class _Plan(NamedTuple):
    """Everything about a run that follows from its settings and the data's sizes alone."""

    shapes: data.Shapes
    model: models.Model
    per_epoch: int
    optimizer: object
    init_opt_state: Callable  # params -> opt_state (train.model_step)
    epoch_fn: Callable
    evaluate: Callable  # (params, X_rows, Y_rows, key) -> {metric: value}
    params: dict  # the initial params
    config: TrainConfig  # with every build setting resolved (``resolve``): config.json's


def _plan(config: TrainConfig, shapes: data.Shapes, key_init, mesh) -> _Plan:
    model, settled = _resolved(config, shapes)
    if config.batch_size > shapes.m_train:
        raise ConfigError(
            f"--batch-size {config.batch_size} is larger than the {shapes.m_train} training "
            f"examples of {config.dataset}; use at most {shapes.m_train}"
        )
    per_epoch = train.steps_per_epoch(shapes.m_train, config.batch_size)
    optimizer = train.make_optimizer(config.lr, config.decay, per_epoch, config.optimizer,
                                     config.clip_norm, config.beta1)  # fmt: skip
    if config.optimizer == "sdlm":
        sdlm.check_model(model)  # the GAN's two costs: refused before any data loads
    init_opt_state, step = train.model_step(model, config.grads, optimizer, config.l2)
    return _Plan(
        shapes, model, per_epoch, optimizer, init_opt_state,
        chunked_epoch.ChunkedEpoch(step, shapes.m_train, config.batch_size, mesh,
                                   model.example_axis),  # the bar moves inside an epoch
        train.make_metrics(model, config.l2, rows=True),
        train.replicate(model.init(key_init), mesh), settled,
    )  # fmt: skip


def _layers(plan: _Plan) -> list[int] | None:
    """The MLP's layer_dims (written to config.json and metrics.json); None for other models."""
    return mlp.layer_dims(plan.params) if plan.model.name == "mlp" else None


def _eval_rows(shapes: data.Shapes) -> set[int]:
    """The numbers of examples ever evaluated: the train subset, the test set, all of train."""
    return {min(EVAL_SUBSET, shapes.m_train), shapes.m_test, shapes.m_train}


def _compile(plan: _Plan, like=None) -> tuple[Callable, dict, float]:
    """Compile the epoch and an evaluation per split size: ``(epoch, {rows: evaluate},
    seconds)``. ``like``: the run's arrays ``(params, opt_state, X_rows, Y_rows)``; without
    them, shapes alone (``jax.ShapeDtypeStruct``), so that this can run before the data is
    loaded (single device; classifiers and models without targets)."""
    start = time.perf_counter()
    m, model = plan.shapes.m_train, plan.model

    def struct(*shape, dtype=jnp.float32, sharding=None):
        return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)

    if like is None:
        params = jax.tree.map(lambda leaf: struct(*leaf.shape, dtype=leaf.dtype), plan.params)
        n_y = 0 if model.targets == "none" else model.num_outputs
        like = (params, jax.eval_shape(plan.init_opt_state, params),
                struct(m, *model.input_shape, dtype=model.input_dtype), struct(m, n_y))  # fmt: skip
    params, opt_state, X_rows, Y_rows = like
    key = struct(2, dtype=jnp.uint32)
    epoch = plan.epoch_fn.lower(params, opt_state, struct(m, dtype=jnp.int32), X_rows, Y_rows,
                                key)  # fmt: skip
    evaluations = {}
    for rows in _eval_rows(plan.shapes):
        X, Y = (struct(rows, *A.shape[1:], dtype=A.dtype, sharding=A.sharding)
                for A in (X_rows, Y_rows))  # fmt: skip
        evaluations[rows] = compilation_cache.compile(plan.evaluate.lower(params, X, Y, key),
                                                      (params, X, Y))  # fmt: skip
    train.params_finite(plan.params).block_until_ready()  # compiles it for the loop
    return epoch.compile(), evaluations, time.perf_counter() - start


def _prepare_out_dir(out_dir: str, resume: bool) -> str:
    """Create ``out_dir`` and check it is writable before any training starts (only the
    writing process: process 0 of a distributed run)."""
    if distributed.is_writer():
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
RESUME_KEYS = ("dataset", "model", "options", "width", "input_shape", "resize", "hidden", "output",
               "batch_size", "lr", "validation",
               "optimizer", "clip_norm", "beta1", "seed", "l2", "grads", "decay", "init",
               "devices")  # fmt: skip


def _check_same_run(path: str, config: TrainConfig, dims: list[int] | None) -> None:
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
            key in ("layers", "input_shape") and None not in (saved[key], current[key])
            and list(saved[key]) == list(current[key])
        )
    ]  # fmt: skip
    if changed:
        raise ConfigError(
            "--resume continues a run with the same settings, but these differ from the "
            f"saved config.json: {'; '.join(changed)}. Use the original settings (only "
            "--epochs may change) or a new --out"
        )


def _write_json(path: str, payload: dict) -> None:
    if not distributed.is_writer():
        return
    safe_write.write_json(path, payload)  # a failed write: WriteError, exit code 5


class _Arrays(NamedTuple):
    """The splits on the device, one example per row (``train.device_rows``)."""

    X_rows: jax.Array
    Y_rows: jax.Array
    X_test: jax.Array
    Y_test: jax.Array
    X_sub: jax.Array  # the first EVAL_SUBSET training examples, evaluated after epochs
    Y_sub: jax.Array


def train_and_evaluate(
    config: TrainConfig, out_dir: str, resume: bool = False, progress: bool = True
) -> dict:
    """Train ``config.model`` on ``config.dataset``; returns the metrics also written to
    metrics.json. The recipe: check the settings, load the data while the programs compile,
    put the data on the device, start (or resume), train epoch by epoch with checkpoints,
    then evaluate the whole training set and write the results. The run owns ``out_dir``
    while it runs (``runlock``): a second run given it stops at once."""
    from jaxnn import runlock

    config.validate()
    # progress=False (--quiet): no bar of ours, nor TFDS's while it prepares the dataset
    with runlock.owned(out_dir, distributed.is_writer()), data.progress_bars(progress):
        return _train_and_evaluate(config, out_dir, resume, progress)


def _train_and_evaluate(config: TrainConfig, out_dir: str, resume: bool, progress: bool) -> dict:
    ckpt_dir = _prepare_out_dir(out_dir, resume)
    from jaxnn.layers import autotune

    if resume:  # the forms the run was built with: the same programs, bitwise the same steps
        autotune.use_run_file(out_dir)
    mesh = train.data_mesh(config.devices) if config.devices > 1 else None
    key_init, key_data = jax.random.split(jax.random.PRNGKey(config.seed))
    key_eval = jax.random.fold_in(jax.random.PRNGKey(config.seed), EVAL_KEY_SALT)
    streamed = (config.dataset in data.DEBIAN_FOLDERS and not config.validation
                and stream.wanted(config.stream, config.memory_budget,
                                  data.DATASETS[config.dataset].shapes))  # fmt: skip
    held = evaluated_split(config)
    if streamed:
        plan, dataset, data_seconds, arrays = _open_stream(config, key_init, mesh)
        compiled = None
    else:
        plan, dataset, data_seconds, compiled = _load_while_compiling(config, key_init, mesh)
        arrays = _device_arrays(dataset, plan.model, plan.model.output, mesh)
    start_epoch, params, opt_state, key_data, history = _start_or_resume(
        config, plan, out_dir, ckpt_dir, resume, key_data, mesh
    )
    saved_config = {**dataclasses.asdict(plan.config), "layers": _layers(plan), "out_dir": out_dir}
    _write_json(os.path.join(out_dir, "config.json"), saved_config)
    compiled_ahead = compiled is not None
    if compiled is None:
        like = (arrays.X_sub, arrays.Y_sub) if streamed else (arrays.X_rows, arrays.Y_rows)
        compiled = _compile(plan, (params, opt_state, *like))
    epoch_fn, evaluations, compile_seconds = compiled
    if distributed.is_writer():
        autotune.write_run_file(out_dir)  # the forms measured for this run's programs

    def evaluate(params, X, Y) -> dict[str, float]:
        if isinstance(X, stream.Source):  # the whole streamed training set, in chunks
            return stream.evaluate_in_chunks(evaluate, params, X, EVAL_SUBSET,
                                             lambda A: train.replicate(A, mesh))  # fmt: skip
        compiled_for_rows = evaluations.get(X.shape[0], plan.evaluate)  # or compile now
        return {name: float(value) for name, value in
                compiled_for_rows(params, X, Y, key_eval).items()}  # fmt: skip

    schedule = loop.Schedule(config.epochs, config.eval_every, config.checkpoint_secs, config.lr,
                             held)  # fmt: skip
    checkpoints = loop.Checkpoints(
        ckpt_dir, start_epoch, config.checkpoint_secs,
        lambda epoch, params, opt_state: _state(params, opt_state, epoch, key_data,
                                                epoch * plan.per_epoch),
    )  # fmt: skip
    bars = loop.Progress(f"{dataset.name} {plan.model.describe}", progress, plan.per_epoch)
    # the optimizer's own step before each pass: SDLM re-estimates its curvature on the
    # on-device training subset (unchanged state for every other optimizer)
    before_pass = sdlm.make_refresh(plan.model, config.grads, config.l2)
    params, history = loop.train_epochs(
        epoch_fn, evaluate, arrays, params, opt_state, key_data, start_epoch, schedule, history,
        checkpoints, bars, before_pass,
    )  # fmt: skip
    final_train, final_test, plot_paths = _final_evaluation(
        params, history, arrays, evaluate, checkpoints, out_dir, held
    )
    metrics = {
        "dataset": dataset.name, "model": config.model, "describe": plan.model.describe,
        "layers": _layers(plan), "epochs": config.epochs,
        **{f"{held}_{name}": value for name, value in final_test.items()},
        **{f"train_{name}": value for name, value in final_train.items() if name != "cost"},
        "final_cost": final_train["cost"],
        "train_seconds": sum(row["seconds"] for row in history),
        "compile_seconds": compile_seconds, "compiled_while_loading": compiled_ahead,
        "data_seconds": data_seconds, "steps_per_epoch": plan.per_epoch,
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        "devices": config.devices, "processes": jax.process_count(),
        "resumed_from_epoch": start_epoch if resume else None, "grads": config.grads,
        "optimizer": config.optimizer, "data_source": dataset.source, "streamed": streamed,
        "versions": provenance.versions(),  # what produced these figures (jaxnn.provenance)
    }  # fmt: skip
    _write_json(os.path.join(out_dir, "metrics.json"), metrics)
    if plot_paths:
        metrics["plots"] = plot_paths
    return metrics


def _load_while_compiling(config: TrainConfig, key_init, mesh):
    """``(plan, dataset, data_seconds, compiled or None)``. The programs compile from the
    sizes the dataset is known to have while it loads (XLA's compiler releases the GIL);
    data of other sizes (a --manual-dir subset) is planned and compiled for afterwards."""
    ahead, planned = None, None
    compiling = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    data.import_libraries(config.dataset)  # no imports on two threads at once (see there)
    expected = data.expected_shapes(config.dataset, config.data_dir)
    if expected is not None and config.validation:
        expected = data.held_out_shapes(expected, config.validation)
    if (expected is not None and mesh is None and expected.sequence_shape is None
            and config.model in models.LAYOUTS):  # fmt: skip
        try:
            planned = _plan(config, expected, key_init, mesh)
            if planned.model.targets != "given":  # given targets: their shape is the data's
                ahead = compiling.submit(_compile, planned)
        except JaxnnError:  # the same checks run on the loaded data's sizes below
            pass
    try:
        dataset, data_seconds = data.timed_load(
            config.dataset, data_dir=config.data_dir, manual_dir=config.manual_dir
        )
        if config.validation:
            dataset = data.hold_out(dataset, config.validation)
        shapes = data.Shapes.of(dataset)
        # compiled for float32 data (with JAX's x64 mode on, float64 data compiles for itself)
        x_dtype = jax.dtypes.canonicalize_dtype(dataset.X_train.dtype)
        compiled_ahead = ahead is not None and shapes == expected and x_dtype == jnp.float32
        plan = planned if compiled_ahead else _plan(config, shapes, key_init, mesh)
        compiled = ahead.result() if compiled_ahead else None
    finally:
        # no compile may outlive this point: JAX writes its cache files in place, and a
        # later reader of the same entry could see half of one (a warning and a recompile)
        compiling.shutdown(wait=True, cancel_futures=True)
    return plan, dataset, data_seconds, compiled


def _open_stream(config: TrainConfig, key_init, mesh):
    """``(plan, dataset, data_seconds, arrays)`` of a streamed run: the test split and the
    first EVAL_SUBSET training examples on the device, the training set as a
    ``stream.Source`` read minibatch by minibatch (``stream.StreamedEpoch``)."""
    start = time.perf_counter()
    opened = stream.open_tfds(config.dataset, config.data_dir, config.manual_dir, EVAL_SUBSET)
    plan = _plan(config, opened.shapes, key_init, mesh)
    _, step = train.model_step(plan.model, config.grads, plan.optimizer, config.l2)
    epoch = stream.StreamedEpoch(step, opened.shapes.m_train, config.batch_size, mesh,
                                 plan.model.example_axis)  # fmt: skip
    plan = plan._replace(epoch_fn=epoch)
    arrays = _device_arrays(opened.dataset, plan.model, plan.model.output, mesh)
    num_classes, model = opened.dataset.num_classes, plan.model

    def targets(labels):
        return _targets(labels, num_classes, model.output, model)

    source = stream.Source(opened.records, model.input_shape, model.example_axis, targets)
    arrays = arrays._replace(X_rows=source, Y_rows=None)
    return plan, opened.dataset, time.perf_counter() - start, arrays


def _device_arrays(dataset: data.Dataset, model: models.Model, output: str, mesh) -> _Arrays:
    """The splits in the model's layout, as rows on the device (replicated over a mesh)."""

    def split(X, labels, given, count=None):
        Y = _targets(labels, dataset.num_classes, output, model, given, X.shape[1])
        if count is not None:
            X, Y = X[:, :count], Y[..., :count]
        X = data.in_layout(X, model.input_shape, model.example_axis)
        return train.device_rows(X, Y, model.example_axis)

    # per-epoch train metrics on a fixed subset: a full pass over 60 000 examples each epoch
    # would cost half as much as the epoch's training; metrics.json has the full set at the end
    arrays = (*split(dataset.X_train, dataset.labels_train, dataset.Y_train),
              *split(dataset.X_test, dataset.labels_test, dataset.Y_test),
              *split(dataset.X_train, dataset.labels_train, dataset.Y_train,
                     EVAL_SUBSET))  # fmt: skip
    return _Arrays(*train.replicate(arrays, mesh))


def _start_or_resume(config, plan: _Plan, out_dir, ckpt_dir, resume, key_data, mesh):
    """``(start_epoch, params, opt_state, key_data, history)``: the initial state, or the
    last checkpoint's with the history up to it (history.jsonl rewritten to match)."""
    params = plan.params
    opt_state = train.replicate(plan.init_opt_state(params), mesh)  # its scalars too
    start_epoch = 0
    if resume and checkpoint.latest_epoch(ckpt_dir) is not None:
        _check_same_run(os.path.join(out_dir, "config.json"), plan.config, _layers(plan))
        template = _state(params, opt_state, 0, key_data, 0)
        start_epoch, state = checkpoint.restore(ckpt_dir, template)
        params, opt_state, key_data = state["params"], state["opt_state"], state["key"]
        params, opt_state = train.replicate((params, opt_state), mesh)
    history = loop.History.resumed(os.path.join(out_dir, "history.jsonl"), start_epoch, resume)
    return start_epoch, params, opt_state, key_data, history


def evaluated_split(config: TrainConfig) -> str:
    """The split a run evaluates besides the training set, and the prefix of its metrics:
    "validation" with ``--validation N`` (``validation_accuracy``: the test set is never
    evaluated), else "test" (``test_accuracy``)."""
    return "validation" if config.validation else "test"


def _final_evaluation(params, history, arrays: _Arrays, evaluate, checkpoints, out_dir,
                      held: str = "test"):  # fmt: skip
    """The whole training set once, at the end, while the last checkpoint and the plots are
    written in background threads (XLA and the file writes release the GIL). Returns
    ``(train_metrics, test_metrics, plot_paths)``: the whole training set's, and the test
    set's (``held``: or the validation split's) as the last epoch evaluated it."""
    plotting = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        plotted = plotting.submit(_plots, list(history), out_dir)
        try:
            final_train = evaluate(params, arrays.X_rows, arrays.Y_rows)
            last = history[-1] if history else {}
            final_test = {name[len(held) + 1:]: value for name, value in last.items()
                          if name.startswith(held + "_")}  # fmt: skip
            if not final_test:  # no epoch ran (or a resumed run ended on an unevaluated one)
                final_test = evaluate(params, arrays.X_test, arrays.Y_test)
        finally:
            checkpoints.close()  # the last save, written meanwhile
        return final_train, final_test, plotted.result()
    finally:
        plotting.shutdown(wait=True)


def _plots(history: list[dict], out_dir: str) -> list[str]:
    if not history or not distributed.is_writer():
        return []
    from jaxnn import plots  # matplotlib: imported only once there is something to draw

    with safe_write.writing("the plots", out_dir, out_dir):
        return plots.training_curves(history, out_dir)


def _state(params, opt_state, epoch: int, key, step: int) -> dict:
    return {
        "params": params,
        "opt_state": opt_state,
        "epoch": jnp.asarray(epoch, jnp.int32),
        "step": jnp.asarray(step, jnp.int32),
        "key": key,  # raw uint32 key data (jax.random.PRNGKey)
    }
