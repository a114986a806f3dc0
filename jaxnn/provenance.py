"""What produced a result: the versions a run records in ``metrics.json``.

``versions()`` names the Python, the platform, the CPU model and its vector extensions (AVX2,
AVX-512, …: timings depend on them) and the installed releases of jaxnn and of the packages
that decide its numbers (jax, jaxlib, optax, numpy) or its files (orbax-checkpoint,
tensorflow-datasets), plus any jax hardware plugin that is installed (CUDA, TPU). With the
device (``metrics.json``'s ``device``) it ties a figure to what measured it.
"""

from __future__ import annotations

import platform
from importlib import metadata

# Distribution names (as pip spells them): always recorded ("not installed" if absent).
PACKAGES = ("jaxnn", "jax", "jaxlib", "optax", "numpy", "orbax-checkpoint", "tensorflow-datasets")
# jax's hardware plugins: recorded only when installed.
PLUGINS = ("jax-cuda12-plugin", "jax-cuda13-plugin", "jax-rocm-plugin", "libtpu")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    """Linux: /proc/cpuinfo's model name; elsewhere what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The vector extensions that decide which formulation of an operation is fastest on a CPU
# (measured: conv1's weight gradient is faster per offset on one machine, by XLA on another).
SIMD_PREFIXES = ("avx", "fma", "amx", "sse4", "asimd", "sve")


def _cpu_simd() -> str:
    """Linux: the CPU's vector flags from /proc/cpuinfo ("avx2 avx512f fma …"), sorted; else
    "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith(("flags", "Features")):
                    flags = line.split(":", 1)[1].split()
                    return " ".join(sorted(f for f in flags if f.startswith(SIMD_PREFIXES)))
    except OSError:
        pass
    return "unknown"


def versions() -> dict[str, str]:
    """``{"python": "3.11.7", "platform": "Linux-…-x86_64-…", "cpu": "AMD EPYC …",
    "cpu_simd": "avx avx2 avx512f … fma sse4_1 sse4_2", "jaxnn": "0.1.0", "jax": "0.10.2",
    …}``: one string per entry, JSON-ready."""
    found = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_simd": _cpu_simd() or "none",
    }
    for name in PACKAGES:
        found[name] = _version(name) or "not installed"
    for name in PLUGINS:
        if (version := _version(name)) is not None:
            found[name] = version
    return found
