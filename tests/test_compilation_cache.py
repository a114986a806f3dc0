import os
import subprocess
import sys

import pytest

from jaxnn import compilation_cache

COMPILE = (
    "from jaxnn import compilation_cache; print(compilation_cache.enable()); "
    "import jax, jax.numpy as jnp; jax.jit(lambda x: jnp.tanh(x) * 3)(jnp.ones(5))"
)


@pytest.mark.parametrize(
    "env, expected",
    [({"JAXNN_COMPILATION_CACHE": "/tmp/x"}, "/tmp/x"),
     ({"JAXNN_COMPILATION_CACHE": "off"}, None),
     ({"JAXNN_COMPILATION_CACHE": "0"}, None),
     ({"JAX_COMPILATION_CACHE_DIR": "/tmp/jaxdir"}, "/tmp/jaxdir"),
     ({"XDG_CACHE_HOME": "/tmp/xdg"}, os.path.join("/tmp/xdg", "jaxnn", "xla"))],
)  # fmt: skip
def test_default_dir(monkeypatch, env, expected):
    for name in ("JAXNN_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert compilation_cache.default_dir() == expected


def _run(env):
    result = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True,
                            timeout=120, env={**os.environ, **env})  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_compiled_programs_are_written_and_off_writes_nothing(tmp_path):
    cache = tmp_path / "xla"
    assert _run({"JAXNN_COMPILATION_CACHE": str(cache)}) == str(cache)
    entries = os.listdir(cache)
    assert any(name.startswith("jit_") for name in entries), entries
    assert _run({"JAXNN_COMPILATION_CACHE": "off", "XDG_CACHE_HOME": str(tmp_path)}) == "None"
    assert not (tmp_path / "jaxnn").exists()
