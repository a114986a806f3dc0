"""What a run's ``checkpoints/`` folder holds, read from its files alone (no orbax): one
folder per finished epoch (``checkpoints/3``), complete once jaxnn's SHA-256 manifest
(``MANIFEST``) stands in it. ``jaxnn.checkpoint`` writes and restores checkpoints;
``jaxnn.safe_write`` names the last complete one when a write fails; both read it here."""

from __future__ import annotations

import os

MANIFEST = "jaxnn_checksums.json"


def steps(directory: str) -> list[int]:
    """The epochs that have a folder in ``directory`` (complete or not), in order."""
    if not os.path.isdir(directory):
        return []
    return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def latest_epoch(directory: str) -> int | None:
    """The epoch of the newest complete checkpoint (with its manifest), or None. Folders
    left by a crash during a save have no manifest and are skipped."""
    for epoch in reversed(steps(directory)):
        if os.path.exists(os.path.join(directory, str(epoch), MANIFEST)):
            return epoch
    return None
