"""``python -m jaxnn.cli``: the ``jaxnn`` console script."""

from jaxnn.cli.main import run

run()
