"""``jaxnn.logistic`` is ``jaxnn.models.logistic`` (moved there with the other model families; this
name keeps working and is the same module object, so patching either patches both)."""

import sys

from jaxnn.models import logistic as _module

sys.modules[__name__] = _module
