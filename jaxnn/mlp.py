"""``jaxnn.mlp`` is ``jaxnn.models.mlp`` (moved there with the other model families; this
name keeps working and is the same module object, so patching either patches both)."""

import sys

from jaxnn.models import mlp as _module

sys.modules[__name__] = _module
