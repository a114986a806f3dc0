"""Per-model training defaults: what ``jaxnn train --model M --dataset D`` uses for the
settings the user does not give.

The table is ``jaxnn.models.TRAINING_DEFAULTS``, next to the builders: one entry per model,
a dict of ``TrainConfig`` fields among ``SETTINGS`` (optimizer, lr, batch_size, beta1,
clip_norm, epochs, hidden, output), with per-dataset overrides under ``"datasets"``. A model
without an entry trains with the MLP's, the notes' own settings (SGD, lr 0.1, batch 200,
20 epochs: ``TrainConfig``'s defaults). A setting the user gives always wins; with
``--resume``, a setting not given is the saved run's (``config.json``), so a resumed run
continues with the values it started with even if this table changes.
"""

from __future__ import annotations

from jaxnn.errors import ConfigError

# the TrainConfig fields a model's entry may set
SETTINGS = ("optimizer", "lr", "batch_size", "beta1", "clip_norm", "epochs", "hidden", "output")


# the MLP's settings, the notes' own (``TrainConfig``'s field defaults are these): SGD, lr 0.1,
# batch 200, 20 epochs; hidden and output None: the model's own (``jaxnn.models.options``)
NOTES = {"optimizer": "sgd", "lr": 0.1, "batch_size": 200, "beta1": None, "clip_norm": None,
         "epochs": 20, "hidden": None, "output": None}  # fmt: skip


def _base() -> dict:
    return dict(NOTES)


def entry(model: str) -> dict:
    """The model's row of ``TRAINING_DEFAULTS`` (the MLP's when it has none), checked."""
    from jaxnn.models import TRAINING_DEFAULTS

    row = TRAINING_DEFAULTS.get(model, TRAINING_DEFAULTS["mlp"])
    unknown = sorted(set(row) - set(SETTINGS) - {"datasets"})
    for overrides in row.get("datasets", {}).values():
        unknown += sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"TRAINING_DEFAULTS[{model!r}] sets {', '.join(unknown)}; a model's "
                          f"defaults may set only {', '.join(SETTINGS)}")  # fmt: skip
    return row


def for_model(model: str, dataset: str | None = None) -> dict:
    """Every setting of ``SETTINGS`` as ``model`` trains on ``dataset`` by default."""
    row = entry(model)
    settings = {**_base(), **{k: v for k, v in row.items() if k != "datasets"}}
    settings.update(row.get("datasets", {}).get(dataset, {}))
    return settings


def resolve(model: str, dataset: str, given: dict, saved: dict | None = None):
    """``(settings, defaulted)``: each of ``SETTINGS`` from ``given`` (a value not None), else
    from ``saved`` (a resumed run's config.json), else the model's default; ``defaulted``
    names the settings the user did not give (in a resumed run: those its first run did
    not give either)."""
    defaults = for_model(model, dataset)
    saved_defaulted = set(saved.get("defaulted", SETTINGS)) if saved else set()
    settings, defaulted = {}, []
    for name in SETTINGS:
        if given.get(name) is not None:
            settings[name] = given[name]
            continue
        if saved and name in saved:
            settings[name] = saved[name]
            if name in saved_defaulted:
                defaulted.append(name)
            continue
        settings[name] = defaults[name]
        defaulted.append(name)
    return settings, tuple(defaulted)


def describe(model: str) -> str:
    """One line: ``adam, lr 0.001, batch 128, clip 1, 20 epochs; text: lr 0.002, ...``."""
    row = entry(model)

    def words(settings: dict) -> str:
        names = {"lr": "lr {}", "batch_size": "batch {}", "beta1": "β₁ {}",
                 "clip_norm": "clip {}", "epochs": "{} epochs", "hidden": "{} hidden",
                 "output": "{} output", "optimizer": "{}"}  # fmt: skip
        return ", ".join(names[k].format(f"{v:g}" if isinstance(v, float) else v)
                         for k, v in settings.items() if v is not None)  # fmt: skip

    base = {k: v for k, v in for_model(model).items() if k in ("optimizer", "lr", "batch_size",
            "epochs") or v is not None and k in row}  # fmt: skip
    overrides = [f"{dataset}: {words(o)}" for dataset, o in row.get("datasets", {}).items()]
    return "; ".join([words(base), *overrides])
