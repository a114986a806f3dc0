import os
import subprocess
import sys

import numpy as np
import pytest
from test_distributed import cpu_env

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


# -- in this process ------------------------------------------------------------------------
def _lowered(scale, n=5, dtype=None):
    import jax
    import jax.numpy as jnp

    def f(x):  # a fresh function each call, as each run builds its own
        return jnp.tanh(x) * scale

    x = jax.ShapeDtypeStruct((n,), dtype or jnp.float32)
    return jax.jit(f).lower(x), (x,)


def test_the_same_program_built_again_is_compiled_once():
    first = compilation_cache.compile(*_lowered(3.0))
    assert compilation_cache.compile(*_lowered(3.0)) is first
    # another constant, another shape: other programs
    assert compilation_cache.compile(*_lowered(4.0)) is not first
    assert compilation_cache.compile(*_lowered(3.0, n=6)) is not first


def test_only_the_most_recent_programs_are_kept(monkeypatch):
    monkeypatch.setattr(compilation_cache, "MEMORY_ENTRIES", 2)
    first = compilation_cache.compile(*_lowered(5.0))
    compilation_cache.compile(*_lowered(6.0))
    assert compilation_cache.compile(*_lowered(5.0)) is first  # used again: kept
    compilation_cache.compile(*_lowered(7.0))  # pushes out 6.0, the least recent
    assert len(compilation_cache._memory) == 2
    assert compilation_cache.compile(*_lowered(5.0)) is first


PLACEMENT = """
import jax, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxnn import compilation_cache

def lowered(devices):
    mesh = Mesh(np.array(devices), ("data",))
    x = jax.ShapeDtypeStruct((4, 3), np.float32,
                             sharding=NamedSharding(mesh, PartitionSpec("data")))
    return jax.jit(lambda x: x * 2).lower(x), (x,)

d = jax.devices()
a = compilation_cache.compile(*lowered([d[0], d[1]]))
print(compilation_cache.compile(*lowered([d[0], d[1]])) is a,
      compilation_cache.compile(*lowered([d[1], d[0]])) is a)
"""


def test_a_mesh_over_the_devices_in_another_order_is_another_program():
    # the module text names the mesh's shape only; the devices' order is part of the key
    env = cpu_env(devices=2)
    result = subprocess.run([sys.executable, "-c", PLACEMENT], capture_output=True, text=True,
                            timeout=120, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_reusing_compiles_each_signature_once_across_instances(monkeypatch):
    import jax
    import jax.numpy as jnp

    compiled = []
    real = compilation_cache.compile

    def counting(lowered, args=()):
        program = real(lowered, args)
        compiled.append(program)
        return program

    monkeypatch.setattr(compilation_cache, "compile", counting)

    def fresh():  # a new function each time, as each StreamedEpoch builds its step
        return compilation_cache.Reusing(jax.jit(lambda x, y: x * y + 0.25))

    first, second = fresh(), fresh()
    x = jnp.arange(4.0)
    np.testing.assert_array_equal(first(x, x), x * x + 0.25)
    first(x + 1, x)  # the same signature: no new program
    assert len(compiled) == 1
    np.testing.assert_array_equal(second(x, x), x * x + 0.25)
    assert len(compiled) == 2 and compiled[1] is compiled[0]  # the other instance's program
    np.testing.assert_array_equal(second(x[:3], x[:3]), x[:3] * x[:3] + 0.25)
    assert len(compiled) == 3 and compiled[2] is not compiled[0]  # another shape


def test_call_reuses_the_program_of_a_rebuilt_function_and_works_inside_a_trace(monkeypatch):
    import jax
    import jax.numpy as jnp

    programs = []
    real = compilation_cache.compile

    def keeping(lowered, args=()):
        programs.append(real(lowered, args))
        return programs[-1]

    monkeypatch.setattr(compilation_cache, "compile", keeping)

    def run(x, scale):  # a gradient check for one seed: a fresh closure each time
        return compilation_cache.call(jax.jit(lambda x, scale: jnp.sin(x) * scale), x, scale=scale)

    x = jnp.arange(3.0)
    np.testing.assert_allclose(run(x, 2.0), jnp.sin(x) * 2.0)
    np.testing.assert_allclose(run(x + 1, 3.0), jnp.sin(x + 1) * 3.0)
    assert len(programs) == 2 and programs[1] is programs[0]  # the same program
    inside = jax.jit(lambda x: run(x, 2.0) + 1)(x)  # traced: part of the outer program
    np.testing.assert_allclose(inside, jnp.sin(x) * 2.0 + 1, rtol=1e-6)
    assert len(programs) == 2
