"""One place where a model's build settings are resolved, for ``train``, ``sweep``,
``gradcheck`` and ``summary`` alike.

Every keyword option of a model's builder (``jaxnn models`` lists them with their defaults)
gets its value from, in order of precedence (the last one given wins):

1. the builder's own default (``lenet5_1998``: ``hidden="squash"``, ``output="rbf"``,
   ``init="lecun98"``; the ResNets: ``init="he"``);
2. the model's training defaults for the dataset (``jaxnn.models.TRAINING_DEFAULTS``: the GAN's
   ``tanh`` hidden layers, the recurrent nets' ``linear`` output on the adding problem);
3. the flags that name a setting of their own (``--hidden``, ``--output``, ``--init``,
   ``--width``, ``--layers``): ``FLAGS``;
4. ``--option NAME=VALUE`` for the builder's other options (``--conv-backward F`` is
   ``--option conv_backward=F``).

A flag given for a model whose builder has no such setting, an ``--option`` the builder does
not take, and an ``--option`` naming a setting that has its own flag are each refused in one
line that names what the model does take (``ConfigError``, exit code 2). Nothing is dropped
silently: the resolved dict is what builds the model, and ``config.json`` records it whole, so
``jaxnn.models.build(name, input_shape, num_classes, **resolved)`` rebuilds the very model.
"""

from __future__ import annotations

import inspect

from jaxnn.errors import ConfigError

# builder options that have a flag of their own (train, sweep, gradcheck, summary)
FLAGS = ("layers", "hidden", "output", "init", "width")


def builder_defaults(name: str) -> dict:
    """Every keyword option of model ``name``'s builder with its default value."""
    from jaxnn import models

    parameters = inspect.signature(models._builders()[name]).parameters
    return {option: parameters[option].default for option in models.option_names(name)}


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _takes(name: str, accepted) -> str:
    """``--option code/units, --hidden, --init``: what model ``name`` takes, as a user sets it."""
    own = [option for option in accepted if option not in FLAGS]
    flags = [_flag(option) for option in accepted if option in FLAGS]
    parts = ([f"--option {'/'.join(own)}"] if own else []) + flags
    return f"{name} takes {', '.join(parts) or 'no options'}"


def resolve(name: str, flags: dict | None = None, options: dict | None = None,
            model_defaults: dict | None = None) -> dict:  # fmt: skip
    """The keyword arguments model ``name`` is built with: every option of its builder.

    ``flags``: the values of ``FLAGS`` settings (None: not given); ``options``: the
    ``--option`` pairs; ``model_defaults``: the model's training defaults among ``FLAGS``
    (``jaxnn.models.defaults.for_model``), which fill what neither gives."""
    from jaxnn import models

    if name not in models.MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(models.MODELS)}")
    resolved = builder_defaults(name)
    accepted = list(resolved)
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    options = dict(options or {})
    if not isinstance(options, dict):
        raise ConfigError("options must be a dict of the model's settings (--option K=V)")
    for option, value in flags.items():
        if option not in FLAGS:
            raise ConfigError(f"{option} is set with --option {option}=..., not a flag")
        if option not in accepted:
            shown = ",".join(map(str, value)) if isinstance(value, list | tuple) else value
            raise ConfigError(f"{_flag(option)} {shown}: {name} has no such setting; "
                              f"{_takes(name, accepted)}")  # fmt: skip
    for option in options:
        if option in FLAGS and option in accepted:
            raise ConfigError(f"--option {option}: set it with its own flag, "
                              f"{_flag(option)} {options[option]}")  # fmt: skip
        if option not in accepted:
            raise ConfigError(f"--option {option}: {name} has no such option; "
                              f"{_takes(name, accepted)}")  # fmt: skip
    for option, value in (model_defaults or {}).items():
        if option in accepted and value is not None:
            resolved[option] = value
    resolved.update(flags)
    resolved.update(options)
    if isinstance(resolved.get("layers"), list):
        resolved["layers"] = tuple(resolved["layers"])
    return resolved


def describe(resolved: dict, name: str) -> str:
    """The resolved options that differ from the builder's defaults: ``hidden=tanh width=0.25``
    (empty when the model is built as its builder's defaults give it)."""
    own = builder_defaults(name)
    return " ".join(f"{option}={value}" for option, value in resolved.items()
                    if own.get(option) != value and value is not None)  # fmt: skip
