"""The supported JAX range, checked at import, and the one API that moved inside it.

``JAX_MIN`` is the floor that ``pyproject.toml`` declares (a test keeps the two equal) and
that ``make check-versions`` tests. ``import jaxnn`` on an older jax raises an ``ImportError``
whose message is one line naming the version needed, instead of an ``AttributeError`` deep
inside a later call.

``enable_x64(flag)`` is ``jax.enable_x64`` where jax has it, else the older
``jax.experimental.enable_x64`` (jax 0.6, the newest release for Python 3.10).
"""

from __future__ import annotations

import contextlib
import re

import jax

JAX_MIN = (0, 6, 0)


def _version_tuple(version: str) -> tuple[int, ...]:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:  # an unparsable (source-build) version: do not block on it
        return JAX_MIN
    return tuple(int(part) for part in match.groups())


def check_jax_version(version: str | None = None) -> None:
    """Raise ``ImportError`` (one line) if ``version`` (default: the installed jax) is older
    than ``JAX_MIN``."""
    version = jax.__version__ if version is None else version
    if _version_tuple(version) < JAX_MIN:
        need = ".".join(map(str, JAX_MIN))
        raise ImportError(
            f"jaxnn needs jax>={need} (found jax {version}): "
            f"pip install --upgrade 'jax>={need}' 'jaxlib>={need}'"
        )


def enable_x64(flag: bool = True):
    """Context manager: float64 on (``flag=True``) or off inside the block, as before after."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(flag)
    from jax import experimental

    if hasattr(experimental, "enable_x64"):
        return experimental.enable_x64(flag)
    return _enable_x64_by_config(flag)


@contextlib.contextmanager
def _enable_x64_by_config(flag: bool):
    """Last resort: the global flag, restored on exit (not thread-local)."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", flag)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


check_jax_version()
