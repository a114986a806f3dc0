"""The declared support range is the one checked at import (issue #16)."""

import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from jaxnn import compat

ROOT = Path(__file__).resolve().parent.parent


def _declared_floor(name: str) -> tuple[int, ...]:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(rf'^\s*"{name}>=([0-9.]+)"', text, re.MULTILINE)
    assert match, f"no floor for {name} in pyproject.toml"
    return tuple(int(part) for part in match.group(1).split("."))


def test_jax_floor_is_the_declared_one():
    assert _declared_floor("jax") == compat.JAX_MIN
    assert _declared_floor("jaxlib") == compat.JAX_MIN


@pytest.mark.parametrize("old", ["0.7.2", "0.6.2", "0.4.38.dev20241201"])
def test_an_older_jax_is_refused_in_one_line(old):
    with pytest.raises(ImportError) as info:
        compat.check_jax_version(old)
    message = str(info.value)
    assert "\n" not in message
    assert "jax>=0.8.0" in message and f"found jax {old}" in message


@pytest.mark.parametrize("ok", ["0.8.0", "0.8.3", "0.10.2", "0.12.0.1", "1.0.0"])
def test_supported_versions_pass(ok):
    compat.check_jax_version(ok)


def test_import_on_an_older_jax_ends_in_one_line_naming_the_version():
    """End to end: ``import jaxnn`` (and the CLI module) with jax reporting 0.7.2."""
    code = "import jax; jax.__version__ = '0.7.2'; import jaxnn.cli"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: jaxnn needs jax>=0.8.0 (found jax 0.7.2)"), last
    assert "AttributeError" not in result.stderr


def test_enable_x64_round_trip():
    assert not jax.config.jax_enable_x64
    with compat.enable_x64(True):
        assert jax.config.jax_enable_x64
        assert jnp.asarray(1.0).dtype == jnp.float64
        with compat.enable_x64(False):
            assert jnp.asarray(1.0).dtype == jnp.float32
        assert jnp.asarray(1.0).dtype == jnp.float64
    assert not jax.config.jax_enable_x64
    assert jnp.asarray(1.0).dtype == jnp.float32
