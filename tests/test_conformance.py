"""Every model under every promise of its settings: the registry (``jaxnn.models.MODELS``)
drives each test, so a model added tomorrow is checked by what exists today.

- every flag and ``--option`` either changes what is built or is refused in one line;
- ``config.json`` records the resolved settings, and the model rebuilt from it alone has
  bitwise the same initial parameters;
- the shortest ``jaxnn train --model M --dataset D`` builds for every dataset M reads (the
  papers' nets at their native input size), and says in one line why not for the others.

The other promises iterate the registry in their own files: the gradient check
(test_gradcheck_trust.py), streaming (test_stream_families.py), devices (test_devices.py),
interrupts (test_signals_every_model in test_run.py).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types

import jax
import numpy as np
import pytest

from jaxnn import cli, data, gradcheck, models, run
from jaxnn.errors import ConfigError, JaxnnError
from jaxnn.models import options as model_options

# candidate values for an option, tried in order until one differs from the current value
# and builds; options not named here get generic ones (a flipped bool, a larger number)
CANDIDATES = {
    "hidden": ("tanh", "relu", "sigmoid"),
    "output": ("sigmoid", "softmax", "linear"),
    "init": ("he", "glorot", "small"),
    "conv_backward": ("explicit", "fast", "auto"),
    "shortcut": ("B", "A"),
    "loss": ("squared_error", "bce", "minimax", "non_saturating", "eq10", "eq9"),
    "binarize": ("threshold", "sample"),
    "decoder": ((3, 6),),
    "layers": ((6, 4, 3),),
    "embed": (16,),
    "context": (12,),
}


def small_settings(name: str) -> tuple[tuple, int, dict]:
    """``(input_shape, num_outputs, options)``: model ``name`` at its gradient check's size."""
    if name == "mlp":
        return (6,), 3, {"layers": (6, 5, 3)}
    if name in gradcheck.GRADCHECK_SIZES:
        shape, width = gradcheck.GRADCHECK_SIZES[name]
        fixed = gradcheck.PAPER_FIXED.get(name, ())
        return shape, 4, {} if "width" in fixed else {"width": width}
    if name in gradcheck.GRADCHECK_DEFAULTS:
        shape, outputs, options = gradcheck.GRADCHECK_DEFAULTS[name]
        return shape, outputs, dict(options)
    raise AssertionError(f"{name} has no small size in jaxnn.gradcheck's tables: add one")


def fingerprint(value, seen=None, depth=0):
    """What a built model computes, in comparable form: the values its functions close over
    (numbers, strings, the activations and layers they call), recursively. Two models with
    the same fingerprint, shapes and initial params compute the same thing."""
    seen = set() if seen is None else seen
    if isinstance(value, bool | int | float | str | type(None) | np.dtype):
        return value
    if id(value) in seen or depth > 40:
        return "…"
    seen.add(id(value))
    if isinstance(value, tuple | list):
        return tuple(fingerprint(v, seen, depth + 1) for v in value)
    if isinstance(value, dict):
        return tuple((k, fingerprint(v, seen, depth + 1)) for k, v in sorted(value.items(),
                                                                              key=str))  # fmt: skip
    if isinstance(value, types.FunctionType):
        cells = tuple(fingerprint(c.cell_contents, seen, depth + 1)
                      for c in (value.__closure__ or ()) if _filled(c))  # fmt: skip
        defaults_ = fingerprint(value.__defaults__ or (), seen, depth + 1)
        return (value.__module__, value.__qualname__, cells, defaults_)
    if isinstance(value, functools_partial_types()):
        return ("partial", fingerprint(value.func, seen, depth + 1),
                fingerprint(value.args, seen, depth + 1),
                fingerprint(value.keywords, seen, depth + 1))  # fmt: skip
    if hasattr(value, "_fields"):  # NamedTuples: Layer, Model, Activation
        return (type(value).__name__, fingerprint(tuple(value), seen, depth + 1))
    if isinstance(value, jax.Array | np.ndarray):
        return ("array", np.shape(value), np.asarray(value).tobytes())
    return type(value).__name__


def functools_partial_types():
    return (functools.partial,)


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def built(name: str, overrides: dict):
    """What model ``name`` at its small size with ``overrides`` computes: its functions'
    fingerprint (the init scheme is a value the init functions close over), its
    description, options and param shapes."""
    shape, outputs, options = small_settings(name)
    model = models.build(name, shape, outputs, **{**options, **overrides})
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0))  # shapes: nothing compiles
    return (
        fingerprint(model),
        model.describe,
        model.options,
        model.input_shape,
        str(jax.tree.map(lambda leaf: (leaf.shape, str(leaf.dtype)), params)),
    )


def same(a, b) -> bool:
    return a == b


def alternatives(option: str, current):
    """Values to try for ``option`` instead of ``current``."""
    if option in CANDIDATES:
        return [v for v in CANDIDATES[option] if v != current]
    if isinstance(current, bool):
        return [not current]
    if isinstance(current, int):
        return [v for v in (current + 1, current * 2, current + 2) if v != current]
    if isinstance(current, float):
        return [current * 2, current / 2] if current else [0.25]
    if isinstance(current, tuple | list):
        return [tuple(v + 1 for v in current), (*current, 3)]
    return []


def ignored_options(name: str) -> list[str]:
    """The options of model ``name`` that, set to another value, build the same model."""
    shape, outputs, options = small_settings(name)
    resolved = {**model_options.builder_defaults(name), **options}
    reference = built(name, {})
    ignored = []
    for option, current in resolved.items():
        tried = []
        for value in alternatives(option, current):
            try:
                other = built(name, {option: value})
            except JaxnnError as error:  # refused: one line
                assert "\n" not in str(error), str(error)
                tried.append(f"{value!r} refused")
                continue
            if same(reference, other):
                ignored.append(f"{option}={value!r}")
            tried.append(repr(value))
            break
        assert tried, f"{name}: no value to try for option {option}: add it to CANDIDATES"
    return ignored


@pytest.mark.parametrize("name", models.MODELS)
def test_every_option_changes_what_is_built_or_is_refused(name):
    """Each builder option, set to another value, builds a different model (what its
    functions compute or its sizes) or is refused with a ConfigError — never silently the
    same model. (The fingerprint compares what the functions close over, recursively: an
    option that reaches the functions but is never read would pass; one that does not reach
    them fails, as the planted cases below show.)"""
    ignored = ignored_options(name)
    assert not ignored, f"{name} builds the same model with {', '.join(ignored)}"


@pytest.mark.parametrize("planted", ["init", "hidden", "conv_backward"])
def test_the_option_check_catches_an_option_that_is_dropped(planted, monkeypatch):
    """A builder that drops one option (as ``train`` dropped LeNet-5 1998's ``--hidden`` and
    the ResNets' ``--init``) is caught."""
    builders = models._builders()
    original = builders["resnet20"]

    def dropping(input_shape, num_classes, hidden="relu", output="softmax", init="he",
                 width=1.0, conv_backward="fast", shortcut="A", momentum=0.1,
                 eps=1e-5):  # fmt: skip
        settings = dict(hidden=hidden, output=output, init=init, width=width,
                        conv_backward=conv_backward, shortcut=shortcut, momentum=momentum,
                        eps=eps)  # fmt: skip
        settings[planted] = {"init": "he", "hidden": "relu", "conv_backward": "fast"}[planted]
        return original(input_shape, num_classes, **settings)

    monkeypatch.setattr(models, "_builders", lambda: {**builders, "resnet20": dropping})
    ignored = ignored_options("resnet20")
    assert len(ignored) == 1 and ignored[0].startswith(f"{planted}="), ignored


@pytest.mark.parametrize("name", models.MODELS)
def test_every_model_refuses_what_it_does_not_take(name):
    accepted = models.option_names(name)
    for flag in model_options.FLAGS:
        if flag not in accepted:
            with pytest.raises(ConfigError, match=f"--{flag}.*{name} has no such setting"):
                model_options.resolve(name, {flag: (6, 3) if flag == "layers" else "x"})
        else:
            with pytest.raises(ConfigError, match=f"set it with its own flag, --{flag}"):
                model_options.resolve(name, {}, {flag: 1})
    with pytest.raises(ConfigError, match=f"--option bogus: {name} has no such option"):
        model_options.resolve(name, {}, {"bogus": 1})


@functools.cache
def shapes_of(dataset: str) -> data.Shapes:
    """A dataset's sizes: known without loading it, or (the text, built from the standard
    library's pydoc topics) from loading it once."""
    known = data.DATASETS[dataset].shapes
    return known if known is not None else data.Shapes.of(data.load(dataset))


def readable(name: str) -> list[str]:
    """Every dataset that exists offline (CIFAR-10's sizes are known without it)."""
    return list(data.DATASETS)


def small_config(name: str, dataset: str) -> run.TrainConfig:
    """The shortest command's config for ``name`` on ``dataset``, at a small width."""
    config = run.train_config(name, dataset)
    if "width" in models.option_names(name) and name not in gradcheck.PAPER_FIXED:
        config = dataclasses.replace(config, width=1 / 16)
    if name in gradcheck.GRADCHECK_DEFAULTS:
        options = dict(gradcheck.GRADCHECK_DEFAULTS[name][2])
        flags = {k: options.pop(k) for k in model_options.FLAGS if k in options}
        config = dataclasses.replace(config, options=options, **flags)
    return config


@pytest.mark.parametrize("name", models.MODELS)
def test_shortest_command_builds_on_every_dataset_it_reads(name):
    """``jaxnn train --model M --dataset D``: the model resolves and builds for D's sizes (an
    image model at its native size, or the data's, or the smallest it reads), or a one-line
    ConfigError says why not; every image model reads every grey image dataset."""
    reads = []
    for dataset in readable(name):
        shapes = shapes_of(dataset)
        try:
            model, settled = run._resolved(run.train_config(name, dataset), shapes)
        except JaxnnError as error:
            assert "\n" not in str(error) and len(str(error)) < 400, str(error)
            continue
        reads.append(dataset)
        if models.LAYOUTS[name] == "images":
            assert settled.input_fit in ("native", "data", "smallest")
            assert tuple(model.input_shape) == tuple(shapes.image_shape)  # the data's own
            if settled.input_fit != "data":
                assert "→" in model.describe  # the one-line summary says what was done
    assert reads, f"{name} reads none of {readable(name)}"
    if models.LAYOUTS[name] == "images":
        assert {"digits", "mnist", "fashion_mnist"} <= set(reads), reads


@pytest.mark.parametrize("name", models.MODELS)
def test_config_json_rebuilds_the_same_model(name):
    """What config.json records (the resolved config) builds, alone, a model with bitwise
    the same initial params as the run's."""
    dataset = next(d for d in readable(name) if _reads(name, d))
    config = small_config(name, dataset)
    shapes = shapes_of(dataset)
    model, settled = run._resolved(config, shapes)
    saved = json.loads(json.dumps({**dataclasses.asdict(settled), "layers": None}))
    rebuilt = run.rebuild(saved)
    key = jax.random.PRNGKey(3)
    for a, b in zip(jax.tree.leaves(model.init(key)), jax.tree.leaves(rebuilt.init(key)),
                    strict=True):  # fmt: skip
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert rebuilt.describe == model.describe
    for setting in ("hidden", "output", "init", "width"):  # what ran, not a placeholder
        assert saved[setting] == saved["model_options"].get(setting)


def _reads(name: str, dataset: str) -> bool:
    try:
        run._resolved(run.train_config(name, dataset), shapes_of(dataset))
    except JaxnnError:
        return False
    return True


@pytest.mark.parametrize(
    ("argv", "setting", "value"),
    [
        (["--model", "lenet5_1998", "--hidden", "relu"], "hidden", "relu"),
        (["--model", "lenet5_1998"], "hidden", "squash"),
        (["--model", "resnet20", "--init", "glorot"], "init", "glorot"),
        (["--model", "resnet20"], "init", "he"),
        (["--model", "vgg11", "--conv-backward", "explicit"], "conv_backward", "explicit"),
    ],
)
def test_the_command_line_builds_what_it_records(argv, setting, value):
    """The flags reach the builder through the one resolver, and what config.json records is
    what was built (the reported bug: LeNet-5 1998 --hidden relu ran squash, recorded relu)."""
    args = cli.build_parser().parse_args(["train", "--dataset", "digits", *argv])
    config = cli._config_from_args(args)
    model, settled = run._resolved(config, data.DATASETS["digits"].shapes)
    assert settled.model_options[setting] == value
    assert getattr(settled, setting, value) == value
    assert model.options is None or model.options.get(setting, value) == value


def test_a_flag_the_model_does_not_take_is_refused_by_train(capsys, tmp_path):
    code = cli.main(["train", "--model", "gru", "--dataset", "digits", "--width", "2",
                     "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "--width 2.0: gru has no such setting; gru takes --option hidden_size" in err
    code = cli.main(["train", "--model", "gru", "--dataset", "digits", "--option", "width=2",
                     "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--option width: gru has no such option" in err


@pytest.mark.parametrize("name", models.IMAGE_MODELS)
def test_gradcheck_honours_options_of_every_image_model(name, capsys):
    """``jaxnn gradcheck --option``: a bogus option is refused for every image model, and
    one the model takes reaches the model that is checked."""
    assert cli.main(["gradcheck", "--model", name, "--option", "bogus=1"]) == 2
    assert f"--option bogus: {name} has no such option" in capsys.readouterr().err
