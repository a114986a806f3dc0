"""The command line's values read into settings: ``--layers 784,500,10``, ``--input-shape
28,28,1``, ``--option NAME=VALUE``. Shared by every subcommand of ``jaxnn.cli``; a value
that cannot be read is a one-line ``ConfigError`` with an example."""

from __future__ import annotations

from jaxnn.errors import ConfigError


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
