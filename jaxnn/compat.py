"""The supported JAX range, checked at import.

``JAX_MIN`` is the floor that ``pyproject.toml`` declares (a test keeps the two equal) and
that ``make check-versions`` tests. ``import jaxnn`` on an older jax raises an ``ImportError``
whose message is one line naming the version needed, instead of an ``AttributeError`` deep
inside a later call.

Why 0.8.0: orbax-checkpoint (>= 0.11.30, the first with ``StepMetadata.item_metadata``) saves
multi-device arrays inside ``with jax.sharding.set_mesh(mesh):``, a context manager only from
jax 0.8.0; and from 0.8.0 on ``jax.enable_x64`` exists (0.6 had only the experimental one).
The newest jax for Python 3.10 is 0.6.2, hence ``requires-python >= 3.11``.

``enable_x64(flag)`` is jaxnn's spelling of ``jax.enable_x64`` (kept: error messages and
scripts name it); every supported jax has the latter.
"""

from __future__ import annotations

import re

import jax

JAX_MIN = (0, 8, 0)


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


check_jax_version()


def enable_x64(flag: bool = True):
    """Context manager: float64 on (``flag=True``) or off inside the block, as before after
    (``jax.enable_x64``; thread-local)."""
    return jax.enable_x64(flag)
