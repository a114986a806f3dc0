"""One owner per run folder: a training run holds an exclusive ``flock`` on
``OUT/.jaxnn-run.lock`` while it runs. A second run given the same ``--out`` (the same
command launched twice, a job array with a fixed folder) stops at once with one line
naming the folder and the owner, and the first finishes untouched. The operating system
releases the lock when its process ends, however it ends (a crash, SIGKILL), so a killed run
never leaves the folder locked: ``--resume`` takes it over."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time

from jaxnn.errors import ConfigError

LOCK_NAME = ".jaxnn-run.lock"


def _owner(path: str) -> str:
    try:
        with open(path) as file:
            owner = json.load(file)
        return f"pid {owner['pid']} on {owner['host']}, since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def owned(out_dir: str, writer: bool = True):
    """Hold ``out_dir``'s lock for the ``with`` block (``writer`` False: nothing to hold,
    e.g. a process of a distributed run other than the one that writes). A folder this
    call created is removed again if the block fails before anything but the lock was
    written in it (a refused setting, a dataset that cannot be found): a failed start
    leaves no empty run folder behind."""
    if not writer:
        yield
        return
    path = os.path.join(out_dir, LOCK_NAME)
    created = not os.path.exists(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ConfigError(
            f"cannot write to --out {out_dir} ({error.strerror}); choose a writable folder"
        ) from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(
                f"--out {out_dir} belongs to a run that is still going ({_owner(path)}): wait "
                "for it to finish (then --resume continues it), or choose another --out"
            ) from None
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")}  # fmt: skip
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(owner).encode(), 0)
        try:
            yield
        except BaseException:
            if created:
                _remove_if_only_the_lock(out_dir)
            raise
    finally:
        os.close(descriptor)  # releases the lock


def _remove_if_only_the_lock(out_dir: str) -> None:
    with contextlib.suppress(OSError):
        if os.listdir(out_dir) == [LOCK_NAME]:
            os.remove(os.path.join(out_dir, LOCK_NAME))
            os.rmdir(out_dir)


def prepared_once(name: str, data_dir: str | None, manual_dir: str | None) -> None:
    """Prepare TFDS dataset ``name`` before training, so that the processes of a
    distributed run sharing a machine (or a shared data folder) build it once: the
    preparation takes ``jaxnn.data.prepared``'s lock in the data folder, the others wait
    and reuse the copy (instead of racing to rename the same folder: a traceback from
    TFDS, measured on Fashion-MNIST). A dataset already prepared costs one check."""
    from jaxnn import data

    if name in data.DEBIAN_FOLDERS:
        data.prepare(name, data_dir, manual_dir)
